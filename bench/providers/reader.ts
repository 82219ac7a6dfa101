/** Bench provider: our ELF reader (libbpf-style linking), used to count instructions and to load through the bridge. */
export { readObject } from "../../compiler/elf/reader.ts";
