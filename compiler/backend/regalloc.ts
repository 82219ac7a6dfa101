/**
 * Register allocation by linear scan over live intervals.
 *
 * Positions: instructions are numbered in layout order, two positions each (2k reads operands, 2k+1 writes the
 * result); a terminator takes one pair too. A vreg's interval runs from its first to its last position, widened to
 * block boundaries where the CFG liveness says it is live-in/out, so loops keep their values for the whole body.
 *
 * Constraints and preferences:
 * - a vreg live across a helper call (exact, from liveness) may only take r6-r9, which calls preserve;
 * - operands that must not share a register with the result (the right operand of a non-commutative operation,
 *   both operands of `setcc`) are read "late", at 2k+1, so they overlap the result;
 * - hints: call results prefer r0, arguments r1-r5 by position, returned values r0, the context r1; the two sides of
 *   a move (or of a two-address operation) prefer each other's register, which coalesces the move away;
 * - when registers run out, the interval ending last is spilled to its own 8-byte-aligned 8-byte stack slot (the
 *   kernel verifier tracks only full aligned spills precisely, and pointers must be spilled whole). Spilled operands
 *   go through two scratch registers that are then reserved (allocation restarts without them).
 */
import type { Function, VReg } from "../ir/ir.ts";
import { computeLiveness } from "../ir/passes/liveness.ts";
import { instDef, instUses, termUses } from "../ir/passes/util.ts";
import { COMMUTATIVE } from "./prepare.ts";

/** Where a vreg lives: a register, or a spill slot index (8 bytes each). */
export type Location = { reg: number } | { spill: number };

/** The allocation of one function. */
export interface Allocation {
  /** Location of every vreg that is defined or used. */
  loc: Map<VReg, Location>;
  /** Number of 8-byte spill slots. */
  spillSlots: number;
  /** Scratch registers for spilled operands (empty when nothing is spilled). */
  scratch: number[];
  /** Vregs live across at least one helper call. */
  crossing: Set<VReg>;
}

interface Interval {
  v: VReg;
  start: number;
  end: number;
  crossing: boolean;
  hints: number[];
  partners: VReg[];
  loc?: Location;
}

const CALLEE_SAVED = [6, 7, 8, 9];
const DEFAULT_ORDER = [1, 2, 3, 4, 5, 0, 6, 7, 8, 9];
/** Scratch registers reserved once something spills: caller-saved, rarely needed as helper arguments. */
const SCRATCH = [5, 4];

/** Allocates registers for `fn` emitted in block order `order`; `ctx` is the context vreg (arrives in r1). */
export function allocate(fn: Function, order: readonly number[], ctx?: VReg): Allocation {
  const intervals = buildIntervals(fn, order, ctx);
  const first = scan(intervals, []);
  if (first.spillSlots === 0) return first;
  for (const it of intervals.values()) delete it.loc;
  return scan(intervals, SCRATCH);
}

function buildIntervals(fn: Function, order: readonly number[], ctx?: VReg): Map<VReg, Interval> {
  const { liveIn, liveOut } = computeLiveness(fn, ctx);
  const iv = new Map<VReg, Interval>();
  const get = (v: VReg): Interval => {
    let it = iv.get(v);
    if (!it) iv.set(v, (it = { v, start: Infinity, end: -Infinity, crossing: false, hints: [], partners: [] }));
    return it;
  };
  const extend = (v: VReg, p: number) => {
    const it = get(v);
    if (p < it.start) it.start = p;
    if (p > it.end) it.end = p;
  };
  const link = (a: VReg, b: VReg) => {
    get(a).partners.push(b);
    get(b).partners.push(a);
  };
  for (const p of fn.params) extend(p, -1);
  if (ctx !== undefined) get(ctx).hints.push(1);
  let pos = 0;
  for (const id of order) {
    const b = fn.blocks[id]!;
    for (const v of liveIn[id]!) extend(v, pos);
    for (const inst of b.insts) {
      const late = new Set<VReg>();
      if (inst.op === "setcc") {
        for (const o of [inst.a, inst.b]) if (o.kind === "vreg") late.add(o.id);
      } else if (inst.op === "bin" && !COMMUTATIVE.has(inst.kind) && inst.b.kind === "vreg") {
        late.add(inst.b.id);
      }
      for (const u of instUses(inst, ctx)) extend(u, late.has(u) ? pos + 1 : pos);
      const d = instDef(inst);
      if (d !== undefined) extend(d, pos + 1);
      if (inst.op === "call") {
        if (inst.dst !== undefined) get(inst.dst).hints.push(0);
        inst.args.forEach((a, i) => a.kind === "vreg" && get(a.id).hints.push(i + 1));
      } else if ((inst.op === "mov" || inst.op === "ext" || inst.op === "bswap" || inst.op === "neg") && inst.src.kind === "vreg") {
        link(inst.dst, inst.src.id);
      } else if (inst.op === "bin" && inst.a.kind === "vreg") {
        link(inst.dst, inst.a.id);
      }
      pos += 2;
    }
    for (const u of termUses(b.term)) extend(u, pos);
    if (b.term.op === "ret" && b.term.value.kind === "vreg") get(b.term.value.id).hints.push(0);
    for (const v of liveOut[id]!) extend(v, pos + 1);
    pos += 2;
  }
  // Exact call crossing, from per-instruction liveness.
  for (const b of fn.blocks) {
    const live = new Set(liveOut[b.id]);
    for (const u of termUses(b.term)) live.add(u);
    for (let i = b.insts.length - 1; i >= 0; i--) {
      const inst = b.insts[i]!;
      const d = instDef(inst);
      if (d !== undefined) live.delete(d);
      if (inst.op === "call") for (const v of live) get(v).crossing = true;
      for (const u of instUses(inst, ctx)) live.add(u);
    }
  }
  // Hints flow one step along move links, after the vreg's own. A value that feeds (by a move or two-address
  // operation) a vreg kept across a call starts in a callee-saved register, so the move disappears.
  for (const it of iv.values()) {
    for (const p of it.partners) {
      const pi = iv.get(p)!;
      for (const h of pi.hints) if (!it.hints.includes(h)) it.hints.push(h);
      if (pi.crossing && !it.crossing && pi.start > it.start) for (const r of CALLEE_SAVED) if (!it.hints.includes(r)) it.hints.push(r);
    }
  }
  return iv;
}

function scan(intervals: Map<VReg, Interval>, scratch: number[]): Allocation {
  const sorted = [...intervals.values()].sort((a, b) => a.start - b.start || a.end - b.end || a.v - b.v);
  const active: Interval[] = [];
  let spillSlots = 0;
  const spill = (it: Interval) => {
    it.loc = { spill: spillSlots++ };
  };
  for (const it of sorted) {
    for (let i = active.length - 1; i >= 0; i--) if (active[i]!.end < it.start) active.splice(i, 1);
    const eligible = (it.crossing ? CALLEE_SAVED : DEFAULT_ORDER).filter((r) => !scratch.includes(r));
    const busy = new Set(active.map((a) => (a.loc as { reg: number }).reg));
    const partnerRegs = it.partners.flatMap((p) => {
      const l = intervals.get(p)!.loc;
      return l && "reg" in l ? [l.reg] : [];
    });
    const prefs = [...partnerRegs, ...it.hints, ...eligible].filter((r) => eligible.includes(r));
    const free = prefs.find((r) => !busy.has(r));
    if (free !== undefined) {
      it.loc = { reg: free };
      active.push(it);
      continue;
    }
    // No register: spill whichever of this interval and the eligible active ones ends last.
    let victim: Interval | undefined;
    for (const a of active) {
      if (eligible.includes((a.loc as { reg: number }).reg) && (!victim || a.end > victim.end)) victim = a;
    }
    if (victim && victim.end > it.end) {
      it.loc = victim.loc;
      spill(victim);
      active.splice(active.indexOf(victim), 1);
      active.push(it);
    } else {
      spill(it);
    }
  }
  const loc = new Map<VReg, Location>();
  const crossing = new Set<VReg>();
  for (const it of intervals.values()) {
    loc.set(it.v, it.loc!);
    if (it.crossing) crossing.add(it.v);
  }
  return { loc, spillSlots, scratch: spillSlots ? scratch : [], crossing };
}

/** Text form of an allocation for `--dump` (`v3 -> r6`, `v9 -> spill#0`), sorted by vreg. */
export function printAllocation(a: Allocation): string {
  return [...a.loc]
    .sort(([x], [y]) => x - y)
    .map(([v, l]) => `v${v} -> ${"reg" in l ? `r${l.reg}` : `spill#${l.spill}`}${a.crossing.has(v) ? " (across call)" : ""}`)
    .join("\n");
}
