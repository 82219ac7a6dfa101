/**
 * Why exploration ran out of budget ("BPF program is too large", "jumps is too complex"). The same message has
 * different causes, and the hint must name the real one: the instruction where most paths failed to merge with an
 * explored state is examined, and its stored states are compared on what pruning compares (precise scalars, pointer
 * types; imprecise scalars match anything):
 * - no difference at all: the states would match, but none was ever fully explored — the path never leaves a loop,
 *   whose bound the verifier cannot see;
 * - one register taking many constant values: a counted loop walked iteration by iteration, with more iterations than
 *   the budget allows (or no bound);
 * - several: values that a later decision depends on differ between paths, so every combination is walked on its
 *   own; a conditional update in a loop body doubles the paths at each iteration.
 */
import { sformat } from "./scalar.ts";
import { type Checkpoint, type Reg, Byte, STACK_SIZE } from "./state.ts";

/** The diagnosis: the instruction where paths piled up and a TS-terms hint; `{at}` stands for its source location. */
export interface ComplexityCause {
  pc: number;
  text: string;
}

/** What pruning compares of one register: nothing for an imprecise scalar, else its value or pointer type. */
function compared(r: Reg): string | undefined {
  if (r.kind === "not_init") return undefined;
  if (r.kind === "scalar") return r.precise ? sformat(r.s) : undefined;
  return `${r.kind}:${r.off}:${r.map}:${sformat(r.s)}`;
}

/** The registers and stack slots (innermost frame) whose compared value differs between `states`, with their counts. */
function differences(states: readonly Checkpoint[], live: number): { name: string; values: Set<string>; constants: boolean }[] {
  const out: { name: string; values: Set<string>; constants: boolean }[] = [];
  const add = (name: string, vals: (string | undefined)[], regs: (Reg | undefined)[]): void => {
    // An imprecise value (undefined) matches anything: only two different compared values keep states apart.
    const values = new Set(vals.filter((v) => v !== undefined) as string[]);
    if (values.size < 2) return;
    const constants = regs.every((r) => !r || (r.kind === "scalar" && r.s.t.mask === 0n));
    out.push({ name, values, constants });
  };
  for (let r = 0; r < 11; r++) {
    if (!(live & (1 << r))) continue;
    const regs = states.map((c) => c.state.frames[c.state.frames.length - 1]!.regs[r]!);
    add(`R${r}`, regs.map(compared), regs);
  }
  for (let slot = 0; slot < 64; slot++) {
    const base = STACK_SIZE - 8 * (slot + 1);
    const regs = states.map((c) => {
      const f = c.state.frames[c.state.frames.length - 1]!;
      return f.bytes[base] === Byte.SPILL ? f.spills[slot] : undefined;
    });
    if (regs.every((r) => !r)) continue;
    add(`fp-${8 * (slot + 1)}`, regs.map((r) => (r ? compared(r) : undefined)), regs);
  }
  return out;
}

/**
 * Diagnoses a complexity rejection from the exploration's stored states. `misses[pc]` counts the paths that reached
 * prune point `pc` and matched no explored state; `live[pc]` masks the registers pruning looks at there.
 */
export function diagnoseComplexity(
  explored: ReadonlyMap<number, readonly Checkpoint[]>,
  misses: Uint32Array,
  live: Uint16Array,
): ComplexityCause | undefined {
  let hot = -1;
  for (const [pc, list] of explored) if (list.length >= 2 && (hot < 0 || misses[pc]! > misses[hot]!)) hot = pc;
  if (hot < 0) return undefined;
  const list = explored.get(hot)!;
  const depth = list[list.length - 1]!.state.frames.length;
  const states = list.filter((c) => c.state.frames.length === depth);
  const diffs = differences(states, live[hot]!);
  const n = misses[hot]!;
  if (diffs.length === 0) {
    return {
      pc: hot,
      text:
        `${n} paths reached {at} in the same state without any of them reaching an exit: a loop has no bound the verifier can see; ` +
        "use a constant bound (`for (let i = 0; i < N; i++)`) and keep its counter in a local variable",
    };
  }
  if (diffs.length === 1 && diffs[0]!.constants) {
    const d = diffs[0]!;
    return {
      pc: hot,
      text:
        `a loop is walked one iteration at a time and did not end within the verifier's budget: at {at} the states kept ` +
        `differ only in ${d.name}, its counter. The loop has no bound the verifier can see, or more iterations than it can ` +
        "walk: use a constant bound (`for (let i = 0; i < N; i++)`) with fewer iterations",
    };
  }
  const shown = diffs.slice(0, 3).map((d) => d.name);
  const names = shown.length > 1 ? `${shown.slice(0, -1).join(", ")} and ${shown[shown.length - 1]}` : shown[0]!;
  return {
    pc: hot,
    text:
      `${n} paths reached {at} and could not be merged: they differ in ${names}, values that a later branch, bounds check ` +
      "or the return value depends on, so the verifier walks every combination on its own. A value updated under a " +
      "condition inside a loop and tested after it doubles the paths at each iteration: test it inside the loop, " +
      "store it in a map instead of testing it, or use fewer iterations",
  };
}
