/** The one BPF instruction model shared by the compiler, the verifier and the VM. */
export * from "./opcode.ts";
export * from "./instruction.ts";
export * from "./encode.ts";
export * from "./disasm.ts";
export * from "./helpers.ts";
