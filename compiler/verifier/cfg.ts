/**
 * Control-flow checks made before any abstract interpretation: the kernel's load-time passes (lddw pairs, calls and
 * jumps inside their function, functions ending in exit or ja, reachability), made by compiler/asm/control-flow.ts,
 * which the VM's loader shares; here the verifier's view of them: its error shape, the function layout, and the
 * intra-function successors its liveness analyses use. Back-edges are allowed (privileged loader); whether a loop
 * terminates is left to path exploration with its complexity limits.
 */
import { Class, JmpOp, LDDW, classOf, type Instruction } from "../asm/index.ts";
import { type FunctionLayout, checkControlFlow, isControlFlowError, jumpTarget } from "../asm/control-flow.ts";
import { fieldError } from "./insn.ts";

/** Destination of a (non-call, non-exit) jump at `pc` (compiler/asm/control-flow.ts). */
export { jumpTarget };

/** A structural error found before interpretation. */
export interface CfgError {
  pc: number;
  message: string;
}

/** Function layout of a program: entry slot of each function (sorted, [0] the program), ldimm64 second halves. */
export type Cfg = FunctionLayout;

/** Largest program the kernel loads for a privileged user (BPF_COMPLEXITY_LIMIT_INSNS). */
export const MAX_INSNS = 1_000_000;

const isJmp = (i: Instruction): boolean => classOf(i.opcode) === Class.JMP || classOf(i.opcode) === Class.JMP32;
const jop = (i: Instruction): number => i.opcode & 0xf0;

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

/**
 * A slot check the kernel makes at load, in resolve_pseudo_ldimm64's loop: opcodes it does not know and malformed
 * loads (BPF_LDX reserved fields). Other field errors are found when the instruction is explored, as in the kernel.
 */
const loadTimeFieldError = (i: Instruction): string | undefined => {
  const bad = fieldError(i);
  return bad && (bad.startsWith("unknown opcode") || classOf(i.opcode) === Class.LDX) ? bad : undefined;
};

/**
 * Runs the structural checks (compiler/asm/control-flow.ts, shared with the VM's loader: the kernel's passes, order
 * and log lines); returns the layout or the first error, at the instruction it is about.
 */
export function checkCfg(insns: readonly Instruction[]): Cfg | CfgError {
  const n = insns.length;
  if (n === 0) return { pc: 0, message: "empty program" };
  if (n > MAX_INSNS) return { pc: 0, message: `BPF program is too large. Processed ${MAX_INSNS + 1} insn` };
  const r = checkControlFlow(insns, loadTimeFieldError);
  return isControlFlowError(r) ? { pc: r.pc, message: r.message } : r;
}

/** True when the result is an error. */
export const isCfgError = (r: Cfg | CfgError): r is CfgError => "message" in r;
