import type { Instruction } from "./instruction.ts";
import {
  AluOp,
  AtomicOp,
  Class,
  JmpOp,
  LDDW,
  Mode,
  Pseudo,
  Source,
  classOf,
  sizeBytes,
  type Size,
} from "./opcode.ts";
import { SLOT_SIZE } from "./encode.ts";

/*
 * Text follows llvm-objdump-16 (`-d`) exactly, so that `tsbpf objdump` output can be compared line by line with LLVM's:
 * immediates and offsets in hex (`r0 = 0x1`, `r1 += -0x1`), `ll` suffix on lddw, `w` registers for 32-bit ALU/JMP32.
 */

const hex = (n: number | bigint): string => (n < 0 ? `-0x${(-BigInt(n)).toString(16)}` : `0x${n.toString(16)}`);
const signedOff = (n: number): string => (n < 0 ? `- ${hex(-n)}` : `+ ${hex(n)}`);

const ALU_SYMBOL: Record<number, string> = {
  [AluOp.ADD]: "+=",
  [AluOp.SUB]: "-=",
  [AluOp.MUL]: "*=",
  [AluOp.DIV]: "/=",
  [AluOp.OR]: "|=",
  [AluOp.AND]: "&=",
  [AluOp.LSH]: "<<=",
  [AluOp.RSH]: ">>=",
  [AluOp.MOD]: "%=",
  [AluOp.XOR]: "^=",
  [AluOp.MOV]: "=",
  [AluOp.ARSH]: "s>>=",
};

const JMP_SYMBOL: Record<number, string> = {
  [JmpOp.JEQ]: "==",
  [JmpOp.JGT]: ">",
  [JmpOp.JGE]: ">=",
  [JmpOp.JSET]: "&",
  [JmpOp.JNE]: "!=",
  [JmpOp.JSGT]: "s>",
  [JmpOp.JSGE]: "s>=",
  [JmpOp.JLT]: "<",
  [JmpOp.JLE]: "<=",
  [JmpOp.JSLT]: "s<",
  [JmpOp.JSLE]: "s<=",
};

const ATOMIC_SYMBOL: Record<number, string> = {
  [AtomicOp.ADD]: "+=",
  [AtomicOp.OR]: "|=",
  [AtomicOp.AND]: "&=",
  [AtomicOp.XOR]: "^=",
};
const ATOMIC_NAME: Record<number, string> = {
  [AtomicOp.ADD]: "add",
  [AtomicOp.OR]: "or",
  [AtomicOp.AND]: "and",
  [AtomicOp.XOR]: "xor",
};

function aluText(insn: Instruction): string {
  const is64 = classOf(insn.opcode) === Class.ALU64;
  const r = is64 ? "r" : "w";
  const op = insn.opcode & 0xf0;
  const dst = `${r}${insn.dst}`;
  const srcX = (insn.opcode & Source.X) !== 0;
  if (op === AluOp.NEG) return `${dst} = -${dst}`;
  if (op === AluOp.END) {
    if (is64) return `r${insn.dst} = bswap${insn.imm} r${insn.dst}`;
    return `r${insn.dst} = ${srcX ? "be" : "le"}${insn.imm} r${insn.dst}`;
  }
  if (op === AluOp.MOV && srcX && insn.off !== 0) return `${dst} = (s${insn.off})${r}${insn.src}`;
  let sym = ALU_SYMBOL[op];
  if (sym === undefined) return `<unknown alu 0x${insn.opcode.toString(16)}>`;
  if ((op === AluOp.DIV || op === AluOp.MOD) && insn.off === 1) sym = `s${sym}`;
  return `${dst} ${sym} ${srcX ? `${r}${insn.src}` : hex(insn.imm)}`;
}

function jmpText(insn: Instruction, pc: number, target?: (pc: number) => string): string {
  const cls = classOf(insn.opcode);
  const op = insn.opcode & 0xf0;
  const dest = (rel: number): string => {
    const abs = pc + 1 + rel;
    const note = target ? target(abs) : undefined;
    return `${rel < 0 ? "-" : "+"}${hex(Math.abs(rel))}${note ? ` <${note}>` : ""}`;
  };
  if (op === JmpOp.EXIT) return "exit";
  if (op === JmpOp.CALL) {
    if (insn.src === Pseudo.CALL) return `call ${hex(insn.imm)}`;
    return `call ${hex(insn.imm)}`;
  }
  if (op === JmpOp.JA) return cls === Class.JMP32 ? `gotol ${dest(insn.imm)}` : `goto ${dest(insn.off)}`;
  const r = cls === Class.JMP32 ? "w" : "r";
  const sym = JMP_SYMBOL[op];
  if (sym === undefined) return `<unknown jmp 0x${insn.opcode.toString(16)}>`;
  const rhs = insn.opcode & Source.X ? `${r}${insn.src}` : hex(insn.imm);
  return `if ${r}${insn.dst} ${sym} ${rhs} goto ${dest(insn.off)}`;
}

function memText(insn: Instruction): string {
  const cls = classOf(insn.opcode);
  const mode = insn.opcode & 0xe0;
  const bytes = sizeBytes((insn.opcode & 0x18) as Size);
  const ty = `u${bytes * 8}`;
  if (cls === Class.LD) {
    if (insn.opcode === LDDW) {
      return `r${insn.dst} = ${hex(BigInt.asIntN(64, insn.imm64 ?? BigInt(insn.imm)))} ll`;
    }
    if (mode === Mode.ABS) return `r0 = *(${ty} *)skb[${hex(insn.imm)}]`;
    if (mode === Mode.IND) return `r0 = *(${ty} *)skb[r${insn.src} + ${hex(insn.imm)}]`;
    return `<unknown ld 0x${insn.opcode.toString(16)}>`;
  }
  const addr = (reg: number): string => `(r${reg} ${signedOff(insn.off)})`;
  if (cls === Class.LDX) {
    if (mode === Mode.MEMSX) return `r${insn.dst} = *(s${bytes * 8} *)${addr(insn.src)}`;
    return `r${insn.dst} = *(${ty} *)${addr(insn.src)}`;
  }
  if (cls === Class.ST) return `*(${ty} *)${addr(insn.dst)} = ${hex(insn.imm)}`;
  if (mode === Mode.ATOMIC) {
    const r = bytes === 8 ? "r" : "w";
    const base = insn.imm & ~AtomicOp.FETCH;
    if (insn.imm === AtomicOp.XCHG) return `${r}${insn.src} = xchg${bytes === 8 ? "" : "32"}_${bytes * 8}(r${insn.dst} ${signedOff(insn.off)}, ${r}${insn.src})`;
    if (insn.imm === AtomicOp.CMPXCHG) {
      return `${r}0 = cmpxchg${bytes === 8 ? "" : "32"}_${bytes * 8}(r${insn.dst} ${signedOff(insn.off)}, ${r}0, ${r}${insn.src})`;
    }
    if (insn.imm & AtomicOp.FETCH) {
      return `${r}${insn.src} = atomic_fetch_${ATOMIC_NAME[base] ?? "?"}((${ty} *)${addr(insn.dst)}, ${r}${insn.src})`;
    }
    return `lock *(${ty} *)${addr(insn.dst)} ${ATOMIC_SYMBOL[base] ?? "?="} r${insn.src}`;
  }
  return `*(${ty} *)${addr(insn.dst)} = r${insn.src}`;
}

/**
 * One instruction as llvm-objdump-16 prints it, without address or bytes. `target` may name absolute jump
 * destinations (e.g. `LBB0_3`).
 */
export function formatInstruction(insn: Instruction, pc: number, target?: (pc: number) => string): string {
  const cls = classOf(insn.opcode);
  if (cls === Class.ALU || cls === Class.ALU64) return aluText(insn);
  if (cls === Class.JMP || cls === Class.JMP32) return jmpText(insn, pc, target);
  return memText(insn);
}

/** Hex bytes of the slot(s) an instruction occupies, as llvm-objdump prints them. */
export function formatBytes(bytes: Uint8Array, pc: number, slots: 1 | 2): string {
  const out: string[] = [];
  for (let i = pc * SLOT_SIZE; i < (pc + slots) * SLOT_SIZE; i++) out.push(bytes[i]!.toString(16).padStart(2, "0"));
  return out.join(" ");
}

/** Options for {@link disassemble}. */
export interface DisasmOptions {
  /** Include raw bytes like llvm-objdump (default true). */
  bytes?: boolean;
  /** Names for absolute slot targets, printed as ` <name>` after jump offsets. */
  target?: (pc: number) => string | undefined;
  /** Text appended to a line (e.g. source location or relocation). */
  annotate?: (pc: number) => string | undefined;
}

/**
 * Disassembles a slot-indexed program (as produced by `decode`) into one line per instruction, in llvm-objdump-16's
 * layout: `pc:\tbytes\ttext`. The second slot of a lddw gets no line of its own.
 */
export function disassemble(insns: readonly Instruction[], raw?: Uint8Array, opts: DisasmOptions = {}): string[] {
  const lines: string[] = [];
  for (let pc = 0; pc < insns.length; pc++) {
    const insn = insns[pc]!;
    const slots = insn.opcode === LDDW ? 2 : 1;
    const text = formatInstruction(insn, pc, opts.target as ((pc: number) => string) | undefined);
    const bytes = opts.bytes !== false && raw ? `${formatBytes(raw, pc, slots)}\t` : "";
    const note = opts.annotate?.(pc);
    lines.push(`${String(pc).padStart(8)}:\t${bytes}${text}${note ? `\t${note}` : ""}`);
    pc += slots - 1;
  }
  return lines;
}
