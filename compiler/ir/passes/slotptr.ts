/**
 * Loads and stores through a pointer that is known to be a stack slot's address become slot loads and stores. The
 * frontend passes structs to local functions by reference (TypeScript's object semantics) and has them write struct
 * results through a pointer; once inlined, that pointer is a `slot_addr` of the caller's slot, and the plain slot
 * form needs no pointer register and lets the redundant-store pass (stores.ts) see the bytes.
 */
import type { Function, Inst, VReg } from "../ir.ts";
import { instDef } from "./util.ts";

/**
 * Rewrites `load`/`store` through single-definition `slot_addr` vregs and folds their null tests; returns whether
 * anything changed.
 */
export function foldSlotPointers(fn: Function): boolean {
  const defs = new Map<VReg, number>();
  const addr = new Map<VReg, { slot: number; offset: number }>();
  for (const p of fn.params) defs.set(p, 1);
  for (const b of fn.blocks) {
    for (const inst of b.insts) {
      const d = instDef(inst);
      if (d === undefined) continue;
      defs.set(d, (defs.get(d) ?? 0) + 1);
      if (inst.op === "slot_addr") addr.set(d, { slot: inst.slot, offset: inst.offset });
    }
  }
  let changed = false;
  for (const b of fn.blocks) {
    // A slot's address is never null: the null test of an optional parameter given an argument (`x?: u32`) folds.
    const t = b.term;
    if (t.op === "cbr" && (t.cmp === "eq" || t.cmp === "ne")) {
      const [x, y] = t.a.kind === "vreg" ? [t.a, t.b] : [t.b, t.a];
      if (x.kind === "vreg" && defs.get(x.id) === 1 && addr.has(x.id) && y.kind === "imm" && y.value === 0n) {
        b.term = { op: "br", target: t.cmp === "eq" ? t.else : t.then, ...(t.loc ? { loc: t.loc } : {}) };
        changed = true;
      }
    }
    b.insts = b.insts.map((inst): Inst => {
      if (inst.op !== "load" && inst.op !== "store") return inst;
      const a = defs.get(inst.ptr) === 1 ? addr.get(inst.ptr) : undefined;
      if (!a) return inst;
      changed = true;
      const loc = inst.loc ? { loc: inst.loc } : {};
      if (inst.op === "load") {
        return { op: "slot_load", dst: inst.dst, slot: a.slot, offset: a.offset + inst.offset, size: inst.size, ...(inst.signed ? { signed: true } : {}), ...loc };
      }
      return { op: "slot_store", slot: a.slot, offset: a.offset + inst.offset, size: inst.size, value: inst.value, ...loc };
    });
  }
  return changed;
}
