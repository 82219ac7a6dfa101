/**
 * The in-memory model of a BPF ELF object, shared by the writer (compiler), the reader (VM, verifier, loader,
 * objdump). The reader returns programs already *linked* the way libbpf links them before BPF_PROG_LOAD: each program's
 * own function followed by every `.text` subprogram it calls (transitively), with pseudo-call immediates fixed up, so a
 * program's `insns` is exactly what the kernel receives, minus map fds.
 */
import type { Instruction } from "../asm/instruction.ts";
import type { MapDef } from "../abi/maps.ts";

/**
 * A map reference inside a linked program: the lddw at `slot` must receive the fd of map `map`.
 * - `kind` "map" (or absent): the lddw loads the map itself. In `insns`/`bytes` it is as the ELF file has it (src_reg
 *   0, imm 0 for clang's and tsbpf's objects); a loader sets src_reg = BPF_PSEUDO_MAP_FD and imm = the fd, as libbpf.
 * - `kind` "value": the lddw loads the address of byte `offset` of the value (key 0) of a global-data map (`.rodata`,
 *   `.data`, `.bss`...). The reader has already rewritten it as libbpf does, minus the fd: src_reg =
 *   BPF_PSEUDO_MAP_VALUE, imm 0, second-slot imm = `offset` (symbol value + the instruction's original imm). A loader
 *   only writes the fd into imm.
 */
export interface MapReloc {
  slot: number;
  map: string;
  /** Absent means "map" (objects read before global data was supported, and tsbpf's own). */
  kind?: "map" | "value";
  /** For "value": the byte offset inside the map value (always set then; 0 or absent for "map"). */
  offset?: number;
}

/** BTF line info for one instruction (from .BTF.ext). */
export interface LineInfo {
  /** Slot index within the linked program. */
  slot: number;
  file: string;
  /** The source line's text, as stored in BTF. */
  text: string;
  line: number;
  column: number;
}

/** BTF func info: a function starting at `slot` (the program itself at 0, subprograms after it). */
export interface FuncInfo {
  slot: number;
  name: string;
  typeId: number;
}

/** One sk_lookup (or other) program, linked. */
export interface ObjProgram {
  /** Symbol name, e.g. `redir_port`. */
  name: string;
  /** ELF section, e.g. `sk_lookup`. */
  section: string;
  /** Slot-indexed decoded instructions (see asm/encode.ts `decode`). */
  insns: Instruction[];
  /** The same program encoded (bytes of `insns`). */
  bytes: Uint8Array;
  mapRelocs: MapReloc[];
  lineInfo: LineInfo[];
  funcInfo: FuncInfo[];
}

/** A parsed (or to-be-written) object. */
export interface ObjectFile {
  license: string;
  programs: ObjProgram[];
  maps: MapDef[];
  /** Raw .BTF section, when present. */
  btf?: Uint8Array;
}

/** A malformed or unsupported object: says what is wrong and where, never an uncaught exception of another kind. */
export class ObjectError extends Error {
  override name = "ObjectError";
}
