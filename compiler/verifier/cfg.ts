/**
 * Control-flow checks made before any abstract interpretation, in the order the kernel makes them: lddw pairs are
 * well formed, every jump stays inside its function and lands on an instruction start, every function ends in an exit
 * or a jump, and every instruction is reachable from the entry. Back-edges are allowed (privileged loader); whether a
 * loop terminates is left to path exploration with its complexity limits.
 */
import { Class, JmpOp, LDDW, Pseudo, classOf, type Instruction } from "../asm/index.ts";
import { fieldError } from "./insn.ts";

/** A structural error found before interpretation. */
export interface CfgError {
  pc: number;
  message: string;
}

/** Function layout of a program. */
export interface Cfg {
  /** Entry slot of each function, sorted; [0] is the program itself. */
  funcs: number[];
  /** For each slot: true when it is the second half of an lddw. */
  lddwTail: boolean[];
}

/** Largest program the kernel loads for a privileged user (BPF_COMPLEXITY_LIMIT_INSNS). */
export const MAX_INSNS = 1_000_000;

const isJmp = (i: Instruction): boolean => classOf(i.opcode) === Class.JMP || classOf(i.opcode) === Class.JMP32;
const jop = (i: Instruction): number => i.opcode & 0xf0;
const isCall = (i: Instruction): boolean => i.opcode === (Class.JMP | JmpOp.CALL);
const isPseudoCall = (i: Instruction): boolean => isCall(i) && i.src === Pseudo.CALL;
const isExit = (i: Instruction): boolean => i.opcode === (Class.JMP | JmpOp.EXIT);
/** `gotol` (JMP32 | JA) carries its offset in imm. */
const isGotol = (i: Instruction): boolean => i.opcode === (Class.JMP32 | JmpOp.JA);

/** Jump destination of a (non-call, non-exit) jump at `pc`. */
export const jumpTarget = (i: Instruction, pc: number): number => pc + 1 + (isGotol(i) ? i.imm : i.off);

/**
 * Intra-function successors of every slot, two per slot in a flat array (-1 = none, lddw tails and exits have none;
 * a BPF-to-BPF call continues at pc+1 like a helper call). The liveness analyses build their fixpoints on it.
 */
export function successors(insns: readonly Instruction[], lddwTail: readonly boolean[]): Int32Array {
  const n = insns.length;
  const succ = new Int32Array(2 * n).fill(-1);
  for (let pc = 0; pc < n; pc++) {
    if (lddwTail[pc]) continue;
    const i = insns[pc]!;
    let a = -1;
    let b = -1;
    if (i.opcode === LDDW) a = pc + 2;
    else if (!isJmp(i) || jop(i) === JmpOp.CALL) a = pc + 1;
    else if (jop(i) !== JmpOp.EXIT) {
      a = jumpTarget(i, pc);
      if (jop(i) !== JmpOp.JA) b = pc + 1;
    }
    succ[2 * pc] = a >= 0 && a < n ? a : -1;
    succ[2 * pc + 1] = b >= 0 && b < n ? b : -1;
  }
  return succ;
}

/** Runs the structural checks; returns the layout or the first error. */
export function checkCfg(insns: readonly Instruction[]): Cfg | CfgError {
  const n = insns.length;
  if (n === 0) return { pc: 0, message: "empty program" };
  if (n > MAX_INSNS) return { pc: 0, message: `BPF program is too large. Processed ${MAX_INSNS + 1} insn` };
  const lddwTail: boolean[] = Array(n).fill(false);
  for (let pc = 0; pc < n; pc++) {
    const i = insns[pc]!;
    // Like the kernel's load-time pass: unknown opcodes and malformed loads anywhere; other fields when explored.
    const bad = fieldError(i);
    if (bad && (bad.startsWith("unknown opcode") || classOf(i.opcode) === Class.LDX)) return { pc, message: bad };
    if (i.opcode !== LDDW) continue;
    const tail = insns[pc + 1];
    if (!tail || tail.opcode !== 0 || tail.dst !== 0 || tail.src !== 0 || tail.off !== 0) {
      return { pc, message: "invalid bpf_ld_imm64 insn" };
    }
    lddwTail[pc + 1] = true;
    pc++;
  }
  // Functions: the entry plus every BPF-to-BPF call target.
  const funcs = new Set<number>([0]);
  for (let pc = 0; pc < n; pc++) {
    const i = insns[pc]!;
    if (lddwTail[pc] || !isPseudoCall(i)) continue;
    const t = pc + 1 + i.imm;
    if (t < 0 || t >= n) return { pc, message: `function call to invalid destination (insn ${pc} calls ${t})` };
    if (lddwTail[t]) return { pc, message: `jump into the middle of ldimm64 insn ${t - 1}` };
    funcs.add(t);
  }
  const sorted = [...funcs].sort((a, b) => a - b);
  for (let f = 0; f < sorted.length; f++) {
    const start = sorted[f]!;
    const end = f + 1 < sorted.length ? sorted[f + 1]! : n;
    for (let pc = start; pc < end; pc++) {
      const i = insns[pc]!;
      if (lddwTail[pc] || !isJmp(i) || isCall(i) || isExit(i)) continue;
      const t = jumpTarget(i, pc);
      if (t < start || t >= end) return { pc, message: `jump out of range from insn ${pc} to ${t}` };
      if (lddwTail[t]) return { pc, message: `jump into the middle of ldimm64 insn ${t - 1}` };
    }
    const last = insns[end - 1]!;
    if (lddwTail[end - 1] || !(isExit(last) || (isJmp(last) && jop(last) === JmpOp.JA))) {
      return { pc: end - 1, message: "last insn is not an exit or jmp" };
    }
  }
  // Reachability: depth-first over fall-through, jump and call edges from the entry.
  const seen = new Uint8Array(n);
  const todo = [0];
  while (todo.length) {
    const pc = todo.pop()!;
    if (seen[pc]) continue;
    seen[pc] = 1;
    const i = insns[pc]!;
    if (i.opcode === LDDW) {
      seen[pc + 1] = 1;
      todo.push(pc + 2);
      continue;
    }
    if (!isJmp(i)) {
      todo.push(pc + 1);
      continue;
    }
    if (isExit(i)) continue;
    if (isCall(i)) {
      if (isPseudoCall(i)) todo.push(pc + 1 + i.imm);
      todo.push(pc + 1);
      continue;
    }
    todo.push(jumpTarget(i, pc));
    if (jop(i) !== JmpOp.JA) todo.push(pc + 1);
  }
  for (let pc = 0; pc < n; pc++) if (!seen[pc]) return { pc, message: `unreachable insn ${pc}` };
  return { funcs: sorted, lddwTail };
}

/** True when the result is an error. */
export const isCfgError = (r: Cfg | CfgError): r is CfgError => "message" in r;
