/**
 * Budget checkpoints of a looping function body. Every block adds its length to the instruction counter at its
 * start; only checkpoint blocks compare it with the budget, and a checkpoint reserves the longest run of
 * instructions execution can reach from it before the next checkpoint (or an exit). When that reserve does not fit,
 * the run goes to the interpreter at the checkpoint's start, which stops at the exact instruction as it always does;
 * otherwise no block up to the next checkpoint can exceed the budget, so they need no check of their own.
 * Checkpoints: the entry, the targets of the back edges of a depth-first walk (every cycle has one, so the blocks
 * between checkpoints form an acyclic graph with a longest path), and blocks the walk does not reach. Edges are a
 * superset of what the generated code can take (a conditional jump the facts decide keeps both), which only makes a
 * reserve larger.
 */
import { Class, JmpOp, LDDW } from "../../compiler/asm/opcode.ts";
import type { PreparedProgram } from "./program.ts";

/** One emitted block: first slot, instruction count, last emitted slot, and whether it ends in a fault. */
export interface BudgetBlock {
  pc: number;
  len: number;
  last: number;
  fault: boolean;
}

/** Block index → reserve for each checkpoint; blocks absent from the map need no check. */
export function budgetCheckpoints(p: PreparedProgram, blocks: readonly BudgetBlock[], jumpTarget: (pc: number) => number | undefined): Map<number, number> {
  const index = new Map(blocks.map((b, i) => [b.pc, i]));
  const succ = blocks.map((b, i) => successors(p, b, i, blocks.length, index, jumpTarget));
  const checkpoints = new Set<number>([0]);
  // Iterative depth-first walk from the entry (block 0): an edge to a block on the walk's stack is a back edge.
  const state = new Uint8Array(blocks.length); // 0 unseen, 1 on the stack, 2 done
  const stack: Array<[number, number]> = [[0, 0]];
  state[0] = 1;
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [b, k] = top;
    if (k < succ[b]!.length) {
      top[1]++;
      const s = succ[b]![k]!;
      if (state[s] === 1) checkpoints.add(s);
      else if (state[s] === 0) {
        state[s] = 1;
        stack.push([s, 0]);
      }
    } else {
      state[b] = 2;
      stack.pop();
    }
  }
  for (let i = 0; i < blocks.length; i++) if (state[i] === 0) checkpoints.add(i);
  // Longest instruction count from a block's start to the next checkpoint or exit, in post-order of an explicit
  // walk (a hostile program may chain thousands of blocks: no recursion). Acyclic, see above.
  const longest = new Int32Array(blocks.length).fill(-1);
  const from = (root: number): number => {
    const work: Array<[number, number]> = [[root, 0]];
    while (work.length) {
      const top = work[work.length - 1]!;
      const [b, k] = top;
      const next = succ[b]!;
      if (k < next.length) {
        top[1]++;
        const s = next[k]!;
        if (!checkpoints.has(s) && longest[s] === -1) work.push([s, 0]);
        continue;
      }
      let tail = 0;
      for (const s of next) if (!checkpoints.has(s)) tail = Math.max(tail, longest[s]!);
      longest[b] = blocks[b]!.len + tail;
      work.pop();
    }
    return longest[root]!;
  };
  const out = new Map<number, number>();
  for (const c of checkpoints) out.set(c, from(c));
  return out;
}

/** The blocks execution may enter after block `i`. */
function successors(p: PreparedProgram, b: BudgetBlock, i: number, count: number, index: Map<number, number>, jumpTarget: (pc: number) => number | undefined): number[] {
  if (b.fault) return [];
  const insn = p.insns[b.last]!;
  const cls = insn.opcode & 7;
  const jop = insn.opcode & 0xf0;
  const out: number[] = [];
  const add = (pc: number): void => {
    const t = index.get(pc);
    if (t !== undefined && !out.includes(t)) out.push(t);
  };
  const isJump = cls === Class.JMP || cls === Class.JMP32;
  if (isJump && jop === JmpOp.EXIT) return out;
  const t = jumpTarget(b.last);
  if (t !== undefined) add(t);
  // An lddw whose second half is a leader jumps over it.
  if (insn.opcode === LDDW) add(b.last + 2);
  if (!(isJump && jop === JmpOp.JA && t !== undefined) && i + 1 < count) out.includes(i + 1) || out.push(i + 1);
  return out;
}
