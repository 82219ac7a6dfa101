/**
 * The control-flow checks BPF_PROG_LOAD makes before it explores any path, mirrored pass by pass and in the kernel's
 * order (kernel/bpf/verifier.c, bpf_check), with the kernel's log line and errno. One implementation serves both
 * the verifier (compiler/verifier/cfg.ts, which also takes the function layout from it) and the VM's loader
 * (runtime/vm/program.ts), so that both refuse exactly the control flow the kernel refuses, and say it in its words:
 *
 * 1. add_subprog_and_kfunc / add_subprog: every BPF-to-BPF call (JMP|CALL with src BPF_PSEUDO_CALL) and every ldimm64
 *    of a function address (src BPF_PSEUDO_FUNC) names a subprogram start inside the program, else "call to invalid
 *    destination" (EINVAL); at most BPF_MAX_SUBPROGS distinct starts, else "too many subprograms" (E2BIG).
 * 2. check_subprogs: every jump (a JMP/JMP32 opcode other than call and exit) lands inside its own subprogram, else
 *    "jump out of range from insn %d to %d"; the last slot of every subprogram is `exit`, `ja` or `gotol`, else "last
 *    insn is not an exit or jmp" (both EINVAL). Falling through from one function into the next, or off the end of
 *    the program, is refused here.
 * 3. resolve_pseudo_ldimm64, slot by slot (second halves of ldimm64 skipped): the caller's per-slot check, if any
 *    (the verifier passes the kernel's "unknown opcode %02x" and "BPF_LDX uses reserved fields", made in this loop;
 *    the VM does not, and faults on such instructions when reached), then: the second slot of every ldimm64 exists
 *    and is blank but for the constant's upper half, else "invalid bpf_ld_imm64 insn" (EINVAL).
 * 4. check_cfg: a depth-first walk from insn 0 over fall-through, jump and call edges, refusing an edge that leaves the
 *    program ("jump out of range", EINVAL; passes 2 and 3 leave none for valid opcodes, the walk checks anyway). Then,
 *    in slot order, an instruction the walk never reached is "unreachable insn %d" and a reached second slot of an
 *    ldimm64 is "jump into the middle of ldimm64 insn %d" (EINVAL).
 *
 * Passes 1 and 2 look at every slot, second halves of ldimm64 included, as the kernel's loops do. Back-edges are
 * allowed: a privileged loader may load bounded loops (Linux 5.3+); whether a loop ends is the verifier's question,
 * and the VM's instruction budget's. Not modelled: kfunc calls (their BTF lookups), exception callbacks (BTF decl
 * tags), and the rest of what the kernel checks between passes 2 and 4 (reserved fields, map references).
 */
import type { Instruction } from "./instruction.ts";
import { Class, JmpOp, LDDW, Pseudo } from "./opcode.ts";

/** BPF_MAX_SUBPROGS (include/linux/bpf_verifier.h): the most functions one program may have. */
export const MAX_SUBPROGS = 256;

/** Why BPF_PROG_LOAD refuses a program's control flow. */
export interface ControlFlowError {
  errno: "EINVAL" | "E2BIG";
  /** The kernel's log line, word for word, with the numbers it prints. */
  message: string;
  /** The instruction the refusal is about: the call, the jump, the function's last slot, the ldimm64, ... */
  pc: number;
  /** What the kernel's line leaves unsaid, for messages of our own: "insn 1 calls insn 7". */
  detail?: string;
}

/** Function layout of a program that passed the checks. */
export interface FunctionLayout {
  /** Entry slot of each function (BPF-to-BPF callees and ldimm64 function addresses), sorted; [0] is the program. */
  funcs: number[];
  /** For each slot: true when it is the second half of an ldimm64. */
  lddwTail: boolean[];
}

/** A per-slot check made in pass 3's loop (resolve_pseudo_ldimm64): the kernel's log line, or undefined. */
export type SlotCheck = (insn: Instruction, pc: number) => string | undefined;

const CALL = Class.JMP | JmpOp.CALL;
const EXIT = Class.JMP | JmpOp.EXIT;
const JA = Class.JMP | JmpOp.JA;
const GOTOL = Class.JMP32 | JmpOp.JA;

const isJumpClass = (opcode: number): boolean => (opcode & 7) === Class.JMP || (opcode & 7) === Class.JMP32;
const isPseudoCall = (i: Instruction): boolean => i.opcode === CALL && i.src === Pseudo.CALL;
const isPseudoFunc = (i: Instruction): boolean => i.opcode === LDDW && i.src === Pseudo.FUNC;
const slotCount = (i: Instruction): number => (i.opcode === LDDW ? 2 : 1);

/**
 * Destination of the jump at `pc` as check_subprogs computes it: only the exact `gotol` opcode (JMP32|JA) takes its
 * distance from imm, every other jump from off. For a program that passed the checks, the destination of its jumps.
 */
export const jumpTarget = (insn: Instruction, pc: number): number => pc + 1 + (insn.opcode === GOTOL ? insn.imm : insn.off);

/** True when `r` is a refusal. */
export const isControlFlowError = (r: FunctionLayout | ControlFlowError): r is ControlFlowError => "errno" in r;

/**
 * The first control-flow rule `insns` (slot-indexed, as BPF_PROG_LOAD receives them, at least one) breaks, in the
 * kernel's order, or the function layout. `slotCheck` runs in pass 3 on every slot but ldimm64 second halves.
 */
export function checkControlFlow(insns: readonly Instruction[], slotCheck?: SlotCheck): FunctionLayout | ControlFlowError {
  const funcs = subprogramStarts(insns);
  if (isError(funcs)) return funcs;
  const jumps = jumpsLeavingSubprograms(insns, funcs);
  if (jumps) return jumps;
  const lddwTail = ldimm64Pairs(insns, slotCheck);
  if (isError(lddwTail)) return lddwTail;
  return walkError(insns) ?? { funcs, lddwTail };
}

const isError = <T extends object>(r: T | ControlFlowError): r is ControlFlowError => "errno" in r;
const einval = (pc: number, message: string, detail?: string): ControlFlowError => ({ errno: "EINVAL", message, pc, detail });

/** Pass 1 (add_subprog_and_kfunc): the sorted subprogram starts, 0 first. */
function subprogramStarts(insns: readonly Instruction[]): number[] | ControlFlowError {
  const n = insns.length;
  const starts = new Set<number>([0]);
  for (let i = 0; i < n; i++) {
    const insn = insns[i]!;
    if (!isPseudoCall(insn) && !isPseudoFunc(insn)) continue;
    const target = i + insn.imm + 1;
    if (target < 0 || target >= n) return einval(i, "call to invalid destination", `insn ${i} calls insn ${target}`);
    if (starts.has(target)) continue;
    if (starts.size >= MAX_SUBPROGS) return { errno: "E2BIG", message: "too many subprograms", pc: i, detail: `more than ${MAX_SUBPROGS}, at insn ${i}` };
    starts.add(target);
  }
  return [...starts].sort((a, b) => a - b);
}

/** Pass 2 (check_subprogs): jumps stay in their subprogram, and each subprogram ends in exit, ja or gotol. */
function jumpsLeavingSubprograms(insns: readonly Instruction[], starts: readonly number[]): ControlFlowError | undefined {
  const n = insns.length;
  let sub = 0;
  let start = starts[0]!;
  let end = starts.length > 1 ? starts[1]! : n;
  for (let i = 0; i < n; i++) {
    const insn = insns[i]!;
    const op = insn.opcode & 0xf0;
    if (isJumpClass(insn.opcode) && op !== JmpOp.EXIT && op !== JmpOp.CALL) {
      // Only the exact gotol opcode takes its distance from imm here (check_cfg's walk differs: see edges()).
      const target = jumpTarget(insn, i);
      if (target < start || target >= end) return einval(i, `jump out of range from insn ${i} to ${target}`);
    }
    if (i === end - 1) {
      if (insn.opcode !== EXIT && insn.opcode !== JA && insn.opcode !== GOTOL) {
        const what = starts.length === 1 ? "the program" : sub === 0 ? "the main function" : `the function at insn ${start}`;
        return einval(i, "last insn is not an exit or jmp", `insn ${i}, the end of ${what}`);
      }
      sub++;
      start = end;
      end = sub + 1 < starts.length ? starts[sub + 1]! : n;
    }
  }
  return undefined;
}

/**
 * Pass 3 (resolve_pseudo_ldimm64): the caller's slot check, and every ldimm64's second slot is there and holds
 * nothing but the upper half. Returns which slots are second halves.
 */
function ldimm64Pairs(insns: readonly Instruction[], slotCheck: SlotCheck | undefined): boolean[] | ControlFlowError {
  const n = insns.length;
  const tail: boolean[] = Array(n).fill(false);
  for (let i = 0; i < n; i++) {
    const insn = insns[i]!;
    const bad = slotCheck?.(insn, i);
    if (bad) return einval(i, bad);
    if (insn.opcode !== LDDW) continue;
    const second = insns[i + 1];
    if (!second || second.opcode !== 0 || second.dst !== 0 || second.src !== 0 || second.off !== 0) {
      return einval(i, "invalid bpf_ld_imm64 insn", `at insn ${i}`);
    }
    tail[++i] = true;
  }
  return tail;
}

/** Edge kinds of check_cfg, also the bits of a discovered instruction's state saying which edges were followed. */
const FALLTHROUGH = 1;
const BRANCH = 2;
const DISCOVERED = 0x10;
const EXPLORED = 0x20;

/** Pass 4 (check_cfg): the depth-first walk from insn 0, then unreached instructions and reached ldimm64 halves. */
function walkError(insns: readonly Instruction[]): ControlFlowError | undefined {
  const n = insns.length;
  const state = new Uint8Array(n);
  /** The instruction whose edge first reached each slot: named when that slot is an ldimm64's second half. */
  const reachedFrom = new Int32Array(n);
  const stack = new Int32Array(n);
  let depth = 1;
  state[0] = DISCOVERED;
  let failure: ControlFlowError | undefined;
  /** Follows edge `e` from t to w: true when w was newly discovered (the walk descends into it). */
  const push = (t: number, w: number, e: number): boolean => {
    if (state[t]! >= (DISCOVERED | e)) return false;
    if (w < 0 || w >= n) {
      failure = einval(t, `jump out of range from insn ${t} to ${w}`);
      return false;
    }
    if (state[w] === 0) {
      state[t] = DISCOVERED | e;
      state[w] = DISCOVERED;
      reachedFrom[w] = t;
      stack[depth++] = w;
      return true;
    }
    // A back-edge (w still on the stack) is allowed for a privileged loader; a cross-edge marks the edge followed.
    if (state[w] === EXPLORED) state[t] = DISCOVERED | e;
    return false;
  };
  while (depth > 0) {
    const t = stack[depth - 1]!;
    const [a, b] = edges(insns[t]!, t);
    // visit_insn: the first edge, then (when the first did not descend) the second; done when neither descends.
    const descended = (a !== undefined && push(t, a, FALLTHROUGH)) || (failure === undefined && b !== undefined && push(t, b, BRANCH));
    if (failure) return failure;
    if (!descended) {
      state[t] = EXPLORED;
      depth--;
    }
  }
  for (let i = 0; i < n; i++) {
    if (state[i] !== EXPLORED) return einval(i, `unreachable insn ${i}`);
    if (insns[i]!.opcode === LDDW) {
      if (i + 1 < n && state[i + 1] !== 0) return einval(reachedFrom[i + 1]!, `jump into the middle of ldimm64 insn ${i}`);
      i++;
    }
  }
  return undefined;
}

/**
 * The successors check_cfg's visit_insn gives the instruction at t: the fall-through edge first (for `ja`, its jump),
 * then the branch edge (a conditional jump's target, a call's callee). Every JMP/JMP32 opcode that is not exit, call or
 * ja is walked as a conditional jump, valid or not (do_check refuses invalid ones later, as the VM faults on them).
 */
function edges(insn: Instruction, t: number): [number | undefined, number | undefined] {
  if (isPseudoFunc(insn)) return [t + 2, t + insn.imm + 1];
  if (!isJumpClass(insn.opcode)) return [t + slotCount(insn), undefined];
  switch (insn.opcode & 0xf0) {
    case JmpOp.EXIT:
      return [undefined, undefined];
    case JmpOp.CALL:
      // visit_insn follows the callee of any call opcode with src BPF_PSEUDO_CALL (a JMP32 one is an unknown opcode).
      return [t + 1, insn.src === Pseudo.CALL ? t + insn.imm + 1 : undefined];
    case JmpOp.JA:
      return [t + 1 + ((insn.opcode & 7) === Class.JMP ? insn.off : insn.imm), undefined];
    default:
      return [t + 1, t + 1 + insn.off];
  }
}
