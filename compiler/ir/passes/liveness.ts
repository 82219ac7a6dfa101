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
  const liveIn: Set<VReg>[] = Array.from({ length: n }, () => new Set());
  const liveOut: Set<VReg>[] = Array.from({ length: n }, () => new Set());
  let changed = true;
  while (changed) {
    changed = false;
    for (let i = n - 1; i >= 0; i--) {
      const b = fn.blocks[i]!;
      const out = new Set<VReg>();
      for (const s of successors(b.term)) for (const v of liveIn[s]!) out.add(v);
      const inn = new Set(gen[i]);
      for (const v of out) if (!kill[i]!.has(v)) inn.add(v);
      if (inn.size !== liveIn[i]!.size || out.size !== liveOut[i]!.size) changed = true;
      liveIn[i] = inn;
      liveOut[i] = out;
    }
  }
  return { liveIn, liveOut };
}
