/**
 * Register allocation by linear scan over live intervals.
 *
 * Positions: instructions are numbered in layout order, two positions each (2k reads operands, 2k+1 writes the
 * result); a terminator takes one pair too. A vreg's interval is a list of ranges built from the CFG liveness
 * (Wimmer-style, blocks in reverse layout order), so it has holes where the value is dead: a register can serve
 * another value in a block the first one does not live through, and loops keep their values for the whole body.
 *
 * Constraints and preferences:
 * - a vreg live across a helper call (exact, from liveness) may only take r6-r9, which calls preserve;
 * - operands that must not share a register with the result (the right operand of a non-commutative operation,
 *   both operands of a `setcc` that needs a branch) are read "late", at 2k+1, so they overlap the result;
 * - hints: call results prefer r0, arguments r1-r5 by position, returned values r0, the context r1; the two sides of
 *   a move (or of a two-address operation) prefer each other's register, which coalesces the move away;
 * - when registers run out, the interval ending last is spilled to its own 8-byte-aligned 8-byte stack slot (the
 *   kernel verifier tracks only full aligned spills precisely, and pointers must be spilled whole). Spilled operands
 *   go through two scratch registers that are then reserved (allocation restarts without them).
 */
import type { Function, VReg } from "../ir/ir.ts";
import { computeLiveness } from "../ir/passes/liveness.ts";
import { instDef, instUses, termUses } from "../ir/passes/util.ts";
import { branchFreeSetcc } from "./isel.ts";
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
  /** Sorted, disjoint, inclusive position ranges where the vreg is live. */
  ranges: Array<[number, number]>;
  start: number;
  end: number;
  crossing: boolean;
  hints: number[];
  partners: VReg[];
  loc?: Location;
}

/** True when two intervals are live at a common position. */
function overlaps(a: Interval, b: Interval): boolean {
  if (a.end < b.start || b.end < a.start) return false;
  let i = 0;
  let j = 0;
  while (i < a.ranges.length && j < b.ranges.length) {
    const [af, at] = a.ranges[i]!;
    const [bf, bt] = b.ranges[j]!;
    if (af <= bt && bf <= at) return true;
    if (at < bt) i++;
    else j++;
  }
  return false;
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
  const { liveOut } = computeLiveness(fn, ctx);
  const iv = new Map<VReg, Interval>();
  const get = (v: VReg): Interval => {
    let it = iv.get(v);
    if (!it) iv.set(v, (it = { v, ranges: [], start: Infinity, end: -Infinity, crossing: false, hints: [], partners: [] }));
    return it;
  };
  // Ranges are added in decreasing position order, so a new range goes first or merges with the first one. They are
  // collected last-first (the "first" range is at the end of the array) and reversed once at the end.
  const addRange = (v: VReg, from: number, to: number) => {
    const r = get(v).ranges;
    const first = r[r.length - 1];
    if (first && first[0] <= to + 1) {
      first[0] = Math.min(first[0], from);
      first[1] = Math.max(first[1], to);
    } else r.push([from, to]);
  };
  const define = (v: VReg, at: number) => {
    const r = get(v).ranges;
    const first = r[r.length - 1];
    if (first && first[0] <= at) first[0] = at;
    else r.push([at, at]); // a dead definition still occupies its register for a moment
  };
  const link = (a: VReg, b: VReg) => {
    get(a).partners.push(b);
    get(b).partners.push(a);
  };
  // Positions of every block, in layout order.
  const from = new Map<number, number>();
  let pos = 0;
  for (const id of order) {
    from.set(id, pos);
    pos += 2 * (fn.blocks[id]!.insts.length + 1);
  }
  for (let oi = order.length - 1; oi >= 0; oi--) {
    const id = order[oi]!;
    const b = fn.blocks[id]!;
    const start = from.get(id)!;
    const termPos = start + 2 * b.insts.length;
    for (const v of liveOut[id]!) addRange(v, start, termPos + 1);
    for (const u of termUses(b.term)) addRange(u, start, termPos);
    if (b.term.op === "ret" && b.term.value.kind === "vreg") get(b.term.value.id).hints.push(0);
    for (let i = b.insts.length - 1; i >= 0; i--) {
      const inst = b.insts[i]!;
      const p = start + 2 * i;
      const d = instDef(inst);
      if (d !== undefined) define(d, p + 1);
      const late = new Set<VReg>();
      if (inst.op === "setcc" && branchFreeSetcc(inst)) {
        link(inst.dst, (inst.a as { id: VReg }).id);
      } else if (inst.op === "setcc") {
        for (const o of [inst.a, inst.b]) if (o.kind === "vreg") late.add(o.id);
      } else if (inst.op === "bin" && !COMMUTATIVE.has(inst.kind) && inst.b.kind === "vreg") {
        late.add(inst.b.id);
      }
      for (const u of instUses(inst, ctx)) addRange(u, start, late.has(u) ? p + 1 : p);
      if (inst.op === "call" || inst.op === "call_local") {
        if (inst.dst !== undefined) get(inst.dst).hints.push(0);
        inst.args.forEach((a, ai) => a.kind === "vreg" && get(a.id).hints.push(ai + 1));
      } else if ((inst.op === "mov" || inst.op === "ext" || inst.op === "bswap" || inst.op === "neg") && inst.src.kind === "vreg") {
        link(inst.dst, inst.src.id);
      } else if (inst.op === "bin" && inst.a.kind === "vreg") {
        link(inst.dst, inst.a.id);
      }
    }
  }
  // Parameters arrive in r1..r5 (a program's only one is the context).
  fn.params.forEach((p, i) => {
    addRange(p, -1, -1);
    get(p).hints.push(i + 1);
  });
  for (const it of iv.values()) {
    it.ranges.reverse();
    it.start = it.ranges[0]![0];
    it.end = it.ranges[it.ranges.length - 1]![1];
  }
  // Exact call crossing, from per-instruction liveness.
  for (const b of fn.blocks) {
    const live = new Set(liveOut[b.id]);
    for (const u of termUses(b.term)) live.add(u);
    for (let i = b.insts.length - 1; i >= 0; i--) {
      const inst = b.insts[i]!;
      const d = instDef(inst);
      if (d !== undefined) live.delete(d);
      // A BPF-to-BPF call clobbers r0..r5 like a helper call; r6..r9 survive it (each frame has its own).
      if (inst.op === "call" || inst.op === "call_local") for (const v of live) get(v).crossing = true;
      for (const u of instUses(inst, ctx)) live.add(u);
    }
  }
  // Hints flow one step along move links, after the vreg's own. A value that feeds (by a move or two-address
  // operation) a vreg kept across a call starts in a callee-saved register, so the move disappears.
  const own = new Map([...iv.values()].map((it) => [it.v, [...it.hints]]));
  for (const it of iv.values()) {
    const partners = it.partners.map((p) => iv.get(p)!);
    if (!it.crossing && partners.some((pi) => pi.crossing && pi.start > it.start)) {
      for (const r of CALLEE_SAVED) if (!it.hints.includes(r)) it.hints.push(r);
    }
    for (const pi of partners) for (const h of own.get(pi.v)!) if (!it.hints.includes(h)) it.hints.push(h);
  }
  return iv;
}

function scan(intervals: Map<VReg, Interval>, scratch: number[]): Allocation {
  const sorted = [...intervals.values()].sort((a, b) => a.start - b.start || a.end - b.end || a.v - b.v);
  const byReg = new Map<number, Interval[]>();
  let spillSlots = 0;
  const spill = (it: Interval) => {
    it.loc = { spill: spillSlots++ };
  };
  const conflicts = (r: number, it: Interval) => (byReg.get(r) ?? []).filter((o) => overlaps(o, it));
  const assign = (it: Interval, r: number) => {
    it.loc = { reg: r };
    byReg.set(r, [...(byReg.get(r) ?? []), it]);
  };
  for (const it of sorted) {
    const eligible = (it.crossing ? CALLEE_SAVED : DEFAULT_ORDER).filter((r) => !scratch.includes(r));
    const partnerRegs = it.partners.flatMap((p) => {
      const l = intervals.get(p)!.loc;
      return l && "reg" in l ? [l.reg] : [];
    });
    const prefs = [...partnerRegs, ...it.hints, ...eligible].filter((r) => eligible.includes(r));
    const free = prefs.find((r) => conflicts(r, it).length === 0);
    if (free !== undefined) {
      assign(it, free);
      continue;
    }
    // No register: take one from a single conflicting interval that lives longer, spilling it; else spill this one.
    let best: { r: number; victim: Interval } | undefined;
    for (const r of eligible) {
      const c = conflicts(r, it);
      if (c.length === 1 && c[0]!.end > it.end && (!best || c[0]!.end > best.victim.end)) best = { r, victim: c[0]! };
    }
    if (best) {
      byReg.set(best.r, byReg.get(best.r)!.filter((o) => o !== best.victim));
      spill(best.victim);
      assign(it, best.r);
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
