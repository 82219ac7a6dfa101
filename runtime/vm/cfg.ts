/**
 * The control-flow checks BPF_PROG_LOAD makes before it explores any path, mirrored pass by pass and in the kernel's
 * order (kernel/bpf/verifier.c, bpf_check), so that the VM refuses at load exactly the control flow the kernel
 * refuses, with its errno and naming the instruction its log names:
 *
 * 1. add_subprog_and_kfunc / add_subprog: every BPF-to-BPF call (JMP|CALL with src BPF_PSEUDO_CALL) and every ldimm64
 *    of a function address (src BPF_PSEUDO_FUNC) names a subprogram start inside the program, else "call to invalid
 *    destination" (EINVAL); at most BPF_MAX_SUBPROGS distinct starts, else "too many subprograms" (E2BIG).
 * 2. check_subprogs: every jump (a JMP/JMP32 opcode other than call and exit) lands inside its own subprogram, else
 *    "jump out of range from insn %d to %d"; the last slot of every subprogram is `exit`, `ja` or `gotol`, else "last
 *    insn is not an exit or jmp" (both EINVAL). Falling through from one function into the next, or off the end of
 *    the program, is refused here.
 * 3. resolve_pseudo_ldimm64, its ldimm64 part only: the second slot of every ldimm64 exists and is blank but for the
 *    constant's upper half, else "invalid bpf_ld_imm64 insn" (EINVAL): it is no instruction of its own.
 * 4. check_cfg: a depth-first walk from insn 0 over fall-through, jump and call edges, refusing an edge that leaves the
 *    program ("jump out of range", EINVAL; passes 2 and 3 leave none for valid opcodes, the walk checks anyway). Then,
 *    in slot order, an instruction the walk never reached is "unreachable insn %d" and a reached second slot of an
 *    ldimm64 is "jump into the middle of ldimm64 insn %d" (EINVAL).
 *
 * Passes 1 and 2 look at every slot, second halves of ldimm64 included, as the kernel's loops do. Back-edges are
 * allowed: a privileged loader may load bounded loops (Linux 5.3+); whether a loop ends is the verifier's question,
 * and the VM's instruction budget's. Not modelled: kfunc calls (their BTF lookups), exception callbacks (BTF decl
 * tags), and the rest of what the kernel checks between passes 2 and 4: opcodes it does not know ("unknown opcode",
 * EINVAL, for every slot: the VM faults on them when reached), reserved fields, map references.
 */
import type { Instruction } from "../../compiler/asm/instruction.ts";
import { Class, JmpOp, LDDW, Pseudo } from "../../compiler/asm/opcode.ts";

/** BPF_PSEUDO_FUNC (include/uapi/linux/bpf.h): an ldimm64 whose imm is the relative address of a function. */
const PSEUDO_FUNC = 4;

/** BPF_MAX_SUBPROGS (include/linux/bpf_verifier.h): the most functions one program may have. */
export const MAX_SUBPROGS = 256;

/** Why BPF_PROG_LOAD refuses a program's control flow. */
export interface ControlFlowError {
  errno: "EINVAL" | "E2BIG";
  /** The kernel's wording, with the instruction numbers it names. */
  message: string;
}

const CALL = Class.JMP | JmpOp.CALL;
const EXIT = Class.JMP | JmpOp.EXIT;
const JA = Class.JMP | JmpOp.JA;
const GOTOL = Class.JMP32 | JmpOp.JA;

const isJumpClass = (opcode: number): boolean => (opcode & 7) === Class.JMP || (opcode & 7) === Class.JMP32;
const isPseudoCall = (i: Instruction): boolean => i.opcode === CALL && i.src === Pseudo.CALL;
const isPseudoFunc = (i: Instruction): boolean => i.opcode === LDDW && i.src === PSEUDO_FUNC;
const slotCount = (i: Instruction): number => (i.opcode === LDDW ? 2 : 1);

/** The first control-flow rule `insns` (slot-indexed, as BPF_PROG_LOAD receives them) breaks, or undefined. */
export function controlFlowError(insns: readonly Instruction[]): ControlFlowError | undefined {
  const starts = subprogramStarts(insns);
  if ("errno" in starts) return starts;
  return jumpsLeavingSubprograms(insns, starts) ?? ldimm64PairError(insns) ?? walkError(insns);
}

/** Pass 1 (add_subprog_and_kfunc): the sorted subprogram starts, 0 first. */
function subprogramStarts(insns: readonly Instruction[]): number[] | ControlFlowError {
  const n = insns.length;
  const starts = new Set<number>([0]);
  for (let i = 0; i < n; i++) {
    const insn = insns[i]!;
    if (!isPseudoCall(insn) && !isPseudoFunc(insn)) continue;
    const target = i + insn.imm + 1;
    if (target < 0 || target >= n) return { errno: "EINVAL", message: `call to invalid destination (insn ${i} calls insn ${target})` };
    if (starts.has(target)) continue;
    if (starts.size >= MAX_SUBPROGS) return { errno: "E2BIG", message: `too many subprograms (more than ${MAX_SUBPROGS}, at insn ${i})` };
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
      const target = i + 1 + (insn.opcode === GOTOL ? insn.imm : insn.off);
      if (target < start || target >= end) return { errno: "EINVAL", message: `jump out of range from insn ${i} to ${target}` };
    }
    if (i === end - 1) {
      if (insn.opcode !== EXIT && insn.opcode !== JA && insn.opcode !== GOTOL) {
        const what = starts.length === 1 ? "the program" : sub === 0 ? "the main function" : `the function at insn ${start}`;
        return { errno: "EINVAL", message: `last insn is not an exit or jmp (insn ${i}, the end of ${what})` };
      }
      sub++;
      start = end;
      end = sub + 1 < starts.length ? starts[sub + 1]! : n;
    }
  }
  return undefined;
}

/** Pass 3 (resolve_pseudo_ldimm64): every ldimm64's second slot is there and holds nothing but the upper half. */
function ldimm64PairError(insns: readonly Instruction[]): ControlFlowError | undefined {
  for (let i = 0; i < insns.length; i++) {
    if (insns[i]!.opcode !== LDDW) continue;
    const second = insns[i + 1];
    if (!second || second.opcode !== 0 || second.dst !== 0 || second.src !== 0 || second.off !== 0) {
      return { errno: "EINVAL", message: `invalid bpf_ld_imm64 insn ${i}` };
    }
    i++;
  }
  return undefined;
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
  const stack = new Int32Array(n);
  let depth = 1;
  state[0] = DISCOVERED;
  let failure: ControlFlowError | undefined;
  /** Follows edge `e` from t to w: true when w was newly discovered (the walk descends into it). */
  const push = (t: number, w: number, e: number): boolean => {
    if (state[t]! >= (DISCOVERED | e)) return false;
    if (w < 0 || w >= n) {
      failure = { errno: "EINVAL", message: `jump out of range from insn ${t} to ${w}` };
      return false;
    }
    if (state[w] === 0) {
      state[t] = DISCOVERED | e;
      state[w] = DISCOVERED;
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
    if (state[i] !== EXPLORED) return { errno: "EINVAL", message: `unreachable insn ${i}` };
    if (insns[i]!.opcode === LDDW) {
      if (i + 1 < n && state[i + 1] !== 0) return { errno: "EINVAL", message: `jump into the middle of ldimm64 insn ${i}` };
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
