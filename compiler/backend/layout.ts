/**
 * Block layout: the order in which blocks are emitted. Greedy chains from the entry: after a block, place the
 * successor it would fall through to, so that most conditional branches need a single jump and unconditional ones
 * none. Among two unplaced successors the one with fewer predecessors goes next: shared blocks (a common `return`)
 * sink to the end where many paths can jump to them, as clang lays out its shared exit.
 */
import type { Function, Terminator } from "../ir/ir.ts";
import { predecessors, successors } from "../ir/passes/util.ts";

/** Returns block ids in emission order (entry first; every reachable block exactly once). */
export function layoutBlocks(fn: Function): number[] {
  const preds = predecessors(fn.blocks);
  const placed = new Set<number>();
  const order: number[] = [];
  const pending: number[] = [0];
  while (pending.length) {
    let cur: number | undefined = pending.pop()!;
    while (cur !== undefined && !placed.has(cur)) {
      placed.add(cur);
      order.push(cur);
      const t: Terminator = fn.blocks[cur]!.term;
      const succ: number[] = successors(t).filter((s) => !placed.has(s));
      let next: number | undefined;
      if (t.op === "br") next = succ[0];
      else if (t.op === "cbr") {
        const els: number | undefined = succ.includes(t.else) ? t.else : undefined;
        const thn: number | undefined = succ.includes(t.then) ? t.then : undefined;
        if (els !== undefined && thn !== undefined) {
          // `set` (JSET) has no inverse: its fall-through must be the else side.
          const thenFirst: boolean = t.cmp !== "set" && preds[thn]!.length < preds[els]!.length;
          next = thenFirst ? thn : els;
          pending.push(thenFirst ? els : thn);
        } else next = els ?? thn;
      }
      cur = next;
    }
  }
  return order;
}
