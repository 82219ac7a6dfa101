/** ELF64 BPF objects: the shared object model, the writer and the reader. */
export * from "./object.ts";
export { writeObject, type ObjectInput, type ProgramInput, type SubprogramInput } from "./writer.ts";
export { readObject } from "./reader.ts";
