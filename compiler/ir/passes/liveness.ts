/**
 * Backward liveness of vregs over the CFG (iterative data flow to a fixed point). Used by dead-code elimination and
 * by the backend's live intervals.
 */
import type { Function, VReg } from "../ir.ts";
import { instDef, instUses, successors, termUses } from "./util.ts";

/** Live-in and live-out vreg sets per block id. */
export interface Liveness {
  liveIn: Set<VReg>[];
  liveOut: Set<VReg>[];
}

/**
 * Computes live-in/live-out sets. `ctx` (the program's context vreg) counts as read by every `ctx_load`, so it stays
 * live, in its register, wherever the context is read.
 */
export function computeLiveness(fn: Function, ctx?: VReg): Liveness {
  const n = fn.blocks.length;
  const gen: Set<VReg>[] = [];
  const kill: Set<VReg>[] = [];
  for (const b of fn.blocks) {
    const g = new Set<VReg>();
    const k = new Set<VReg>();
    for (const inst of b.insts) {
      for (const u of instUses(inst, ctx)) if (!k.has(u)) g.add(u);
      const d = instDef(inst);
      if (d !== undefined) k.add(d);
    }
    for (const u of termUses(b.term)) if (!k.has(u)) g.add(u);
    gen.push(g);
    kill.push(k);
  }
  // Worklist iteration: a block is revisited only when a successor's live-in grew. Sets only grow (monotone), so a
  // size comparison detects change.
  const liveIn: Set<VReg>[] = gen.map((g) => new Set(g));
  const liveOut: Set<VReg>[] = Array.from({ length: n }, () => new Set());
  const preds: number[][] = Array.from({ length: n }, () => []);
  for (const b of fn.blocks) for (const s of successors(b.term)) preds[s]!.push(b.id);
  const work: number[] = [];
  const queued = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    work.push(i); // popped from the end: the last block first, which suits mostly forward CFGs
    queued[i] = 1;
  }
  while (work.length) {
    const i = work.pop()!;
    queued[i] = 0;
    const out = liveOut[i]!;
    for (const s of successors(fn.blocks[i]!.term)) for (const v of liveIn[s]!) out.add(v);
    const inn = liveIn[i]!;
    const before = inn.size;
    for (const v of out) if (!kill[i]!.has(v)) inn.add(v);
    if (inn.size !== before) {
      for (const p of preds[i]!) {
        if (!queued[p]) {
          queued[p] = 1;
          work.push(p);
        }
      }
    }
  }
  return { liveIn, liveOut };
}
