import {
  AluOp,
  AtomicOp,
  Class,
  JmpOp,
  LDDW,
  Mode,
  Pseudo,
  Size,
  Source,
} from "./opcode.ts";

/** Register numbers: r0 return/helper result, r1-r5 arguments (clobbered by calls), r6-r9 callee-saved, r10 frame pointer. */
export const enum Reg {
  R0 = 0,
  R1 = 1,
  R2 = 2,
  R3 = 3,
  R4 = 4,
  R5 = 5,
  R6 = 6,
  R7 = 7,
  R8 = 8,
  R9 = 9,
  R10 = 10,
}

/** The read-only frame pointer. */
export const FP = Reg.R10;

/** A position in a source file, carried into BTF line info. Lines and columns are 1-based. */
export interface SourceLoc {
  file: string;
  line: number;
  column: number;
}

/**
 * One BPF instruction.
 *
 * In a *decoded* program (from bytes) the array is indexed by slot: `lddw` sits at slot i with its full constant in
 * `imm64`, and slot i+1 holds its raw upper half (opcode 0), which executors and printers step over. Jump offsets are in
 * slots, exactly as the kernel sees them.
 *
 * In an *emitted* program (from the compiler) each `lddw` is a single entry; jumps name a `target` label instead of
 * carrying an offset, maps are referenced by `mapRef`, and `encode()` resolves all of that into slots and relocations.
 */
export interface Instruction {
  /** The opcode byte. */
  opcode: number;
  /** Destination register (low nibble of byte 1). */
  dst: number;
  /** Source register (high nibble of byte 1), or a pseudo-source for lddw/call. */
  src: number;
  /** Signed 16-bit offset: jump distance in slots, or memory displacement. */
  off: number;
  /** Signed 32-bit immediate. For lddw, the low 32 bits of the constant. */
  imm: number;
  /** lddw only: the full 64-bit constant. */
  imm64?: bigint;
  /** Labels defined at this instruction (jump targets, function entries). */
  labels?: string[];
  /** Jump or BPF-to-BPF call target label, resolved at encode time. */
  target?: string;
  /** lddw of a map: the map's symbol name; encoding emits a relocation against it. */
  mapRef?: string;
  /** Where in the user's source this instruction comes from. */
  loc?: SourceLoc;
  /** Free-form comment printed by the disassembler in dumps (e.g. the IR value it computes). */
  comment?: string;
}

/** Immediate operand as accepted by builders: a number is an immediate, `{ reg }` a register. */
export type Operand = number | { reg: number };

/** Wraps a register number as an operand. */
export const reg = (r: number): { reg: number } => ({ reg: r });

function aluOp(cls: Class, op: AluOp, dst: number, operand: Operand): Instruction {
  if (typeof operand === "number") return { opcode: cls | op | Source.K, dst, src: 0, off: 0, imm: operand | 0 };
  return { opcode: cls | op | Source.X, dst, src: operand.reg, off: 0, imm: 0 };
}

/** 64-bit ALU: `dst op= operand`. */
export const alu64 = (op: AluOp, dst: number, operand: Operand): Instruction => aluOp(Class.ALU64, op, dst, operand);
/** 32-bit ALU: `wdst op= operand`; the result is zero-extended into the upper half. */
export const alu32 = (op: AluOp, dst: number, operand: Operand): Instruction => aluOp(Class.ALU, op, dst, operand);
/** `dst = operand` (64-bit). */
export const mov64 = (dst: number, operand: Operand): Instruction => alu64(AluOp.MOV, dst, operand);
/** `wdst = operand` (32-bit, zero-extending). */
export const mov32 = (dst: number, operand: Operand): Instruction => alu32(AluOp.MOV, dst, operand);
/** `dst = -dst`. */
export const neg64 = (dst: number): Instruction => ({ opcode: Class.ALU64 | AluOp.NEG, dst, src: 0, off: 0, imm: 0 });

/** Byte swap of the low `bits` of `dst`: to big endian (`be16` etc.) or little endian (a truncation on x86). */
export function endian(dst: number, bits: 16 | 32 | 64, toBigEndian: boolean): Instruction {
  return { opcode: Class.ALU | AluOp.END | (toBigEndian ? Source.X : Source.K), dst, src: 0, off: 0, imm: bits };
}

/** `dst = *(size *)(src + off)`. */
export function ldx(size: Size, dst: number, src: number, off: number): Instruction {
  return { opcode: Class.LDX | Mode.MEM | size, dst, src, off, imm: 0 };
}

/** `*(size *)(dst + off) = src`. */
export function stx(size: Size, dst: number, off: number, src: number): Instruction {
  return { opcode: Class.STX | Mode.MEM | size, dst, src, off, imm: 0 };
}

/** `*(size *)(dst + off) = imm`. */
export function st(size: Size, dst: number, off: number, imm: number): Instruction {
  return { opcode: Class.ST | Mode.MEM | size, dst, src: 0, off, imm: imm | 0 };
}

/** Atomic read-modify-write `*(size *)(dst + off) op= src` (size W or DW); `op` may include FETCH. */
export function atomic(size: Size.W | Size.DW, op: AtomicOp, dst: number, off: number, src: number): Instruction {
  return { opcode: Class.STX | Mode.ATOMIC | size, dst, src, off, imm: op };
}

/** `dst = value ll`: the two-slot 64-bit immediate load. */
export function lddw(dst: number, value: bigint): Instruction {
  const v = BigInt.asUintN(64, value);
  return { opcode: LDDW, dst, src: 0, off: 0, imm: Number(BigInt.asIntN(32, v)), imm64: v };
}

/** `dst = map` : loads a map pointer; encoding records a relocation against the map symbol. */
export function ldMap(dst: number, map: string): Instruction {
  return { opcode: LDDW, dst, src: Pseudo.MAP_FD, off: 0, imm: 0, imm64: 0n, mapRef: map };
}

function jmpOp(cls: Class, op: JmpOp, dst: number, operand: Operand, target: string): Instruction {
  if (typeof operand === "number") return { opcode: cls | op | Source.K, dst, src: 0, off: 0, imm: operand | 0, target };
  return { opcode: cls | op | Source.X, dst, src: operand.reg, off: 0, imm: 0, target };
}

/** `if dst op operand goto target` comparing all 64 bits. */
export const jmp64 = (op: JmpOp, dst: number, operand: Operand, target: string): Instruction =>
  jmpOp(Class.JMP, op, dst, operand, target);
/** `if wdst op operand goto target` comparing the low 32 bits. */
export const jmp32 = (op: JmpOp, dst: number, operand: Operand, target: string): Instruction =>
  jmpOp(Class.JMP32, op, dst, operand, target);
/** `goto target`. */
export const ja = (target: string): Instruction => ({ opcode: Class.JMP | JmpOp.JA, dst: 0, src: 0, off: 0, imm: 0, target });
/** `call helper#id`. */
export const call = (helperId: number): Instruction => ({ opcode: Class.JMP | JmpOp.CALL, dst: 0, src: 0, off: 0, imm: helperId });
/** BPF-to-BPF call of the function whose entry carries label `target`. */
export const callLocal = (target: string): Instruction => ({
  opcode: Class.JMP | JmpOp.CALL,
  dst: 0,
  src: Pseudo.CALL,
  off: 0,
  imm: -1,
  target,
});
/** `exit`: return r0. */
export const exit = (): Instruction => ({ opcode: Class.JMP | JmpOp.EXIT, dst: 0, src: 0, off: 0, imm: 0 });

/** True when the instruction is the two-slot `lddw`. */
export const isLddw = (insn: Instruction): boolean => insn.opcode === LDDW;

/** Number of 8-byte slots an instruction occupies. */
export const slotCount = (insn: Instruction): 1 | 2 => (insn.opcode === LDDW ? 2 : 1);

/** Attaches a label to an instruction (returns the same object, for chaining in emitters). */
export function withLabel(insn: Instruction, label: string): Instruction {
  (insn.labels ??= []).push(label);
  return insn;
}
