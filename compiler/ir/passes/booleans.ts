/**
 * IR rewrites around booleans and verdicts (part of `simplify`):
 *
 * - `setcc` feeding a single `cbr … ne/eq 0` is fused into one conditional branch (and setcc-of-setcc folded);
 * - a branch to two otherwise identical blocks returning 1 and 0 becomes `setcc` + one copy of the block;
 * - `if (c) d = 1; else d = 0` (a diamond or triangle of constant moves) becomes `d = setcc c`, and a diamond of other
 *   constants becomes a triangle (`d = y; if (c) d = x`), which needs no jump around the else side;
 * - `v = setcc c; …; ret v` branches to existing `ret 1`/`ret 0` blocks instead when one exists (one jump into a
 *   shared return is cheaper than materialising the boolean).
 *
 * A helper call that takes the value a branch tests is never moved out from behind that test: the kernel verifier's
 * null tracking depends on it.
 */
import type { Block, Function, Inst, Terminator, VReg } from "../ir.ts";
import { blockKey } from "./control.ts";
import { invertCmp } from "./fold.ts";
import { compactBlocks, instDef, instUses, predecessors, privateArms, termUses } from "./util.ts";

/** Counts uses of every vreg (instructions and terminators). */
export function useCounts(fn: Function, ctx?: VReg): Map<VReg, number> {
  const m = new Map<VReg, number>();
  const add = (v: VReg) => m.set(v, (m.get(v) ?? 0) + 1);
  for (const b of fn.blocks) {
    for (const inst of b.insts) instUses(inst, ctx).forEach(add);
    termUses(b.term).forEach(add);
  }
  return m;
}

/**
 * `v = setcc c a, b` immediately followed by `cbr ne v, 0` (or `eq`), v used nowhere else → `cbr c a, b`; likewise
 * `w = setcc ne/eq v, 0` right after it → `w = setcc c a, b` (or its inverse).
 */
export function fuseSetccBranches(fn: Function, ctx?: VReg): boolean {
  let changed = false;
  const uses = useCounts(fn, ctx);
  for (const b of fn.blocks) {
    for (let i = 1; i < b.insts.length; i++) {
      const outer = b.insts[i]!;
      const inner = b.insts[i - 1]!;
      if (outer.op !== "setcc" || inner.op !== "setcc" || (outer.cmp !== "eq" && outer.cmp !== "ne")) continue;
      if (outer.a.kind !== "vreg" || outer.a.id !== inner.dst || outer.b.kind !== "imm" || outer.b.value !== 0n) continue;
      if (uses.get(inner.dst) !== 1) continue;
      const cmp = outer.cmp === "ne" ? inner.cmp : invertCmp(inner.cmp);
      if (!cmp) continue;
      b.insts.splice(i - 1, 2, { ...inner, dst: outer.dst, cmp, loc: outer.loc ?? inner.loc });
      changed = true;
    }
    const t = b.term;
    const last = b.insts[b.insts.length - 1];
    if (t.op !== "cbr" || !last || last.op !== "setcc") continue;
    if (t.a.kind !== "vreg" || t.a.id !== last.dst || t.b.kind !== "imm" || t.b.value !== 0n) continue;
    if ((t.cmp !== "ne" && t.cmp !== "eq") || uses.get(last.dst) !== 1) continue;
    let cmp = last.cmp;
    let [thenB, elseB] = [t.then, t.else];
    if (t.cmp === "eq") {
      const inv = invertCmp(cmp);
      if (inv) cmp = inv;
      else [thenB, elseB] = [elseB, thenB];
    }
    b.insts.pop();
    b.term = { op: "cbr", cmp, width: last.width, a: last.a, b: last.b, then: thenB, else: elseB, loc: t.loc ?? last.loc };
    changed = true;
  }
  return changed;
}

/**
 * `cbr c → T, E` where T and E are reached only from here, hold the same instructions and return the immediates 1 and
 * 0: compute the verdict with `setcc` and keep one copy of the shared instructions (typically the socket release).
 */
export function convertBooleanReturns(fn: Function): boolean {
  let changed = false;
  const preds = predecessors(fn.blocks);
  for (const b of fn.blocks) {
    const arms = privateArms(fn, preds, b);
    if (!arms) continue;
    const [T, E] = arms;
    const t = b.term as Extract<Terminator, { op: "cbr" }>;
    if (T.term.op !== "ret" || E.term.op !== "ret" || T.term.value.kind !== "imm" || E.term.value.kind !== "imm") continue;
    const x = T.term.value.value;
    const y = E.term.value.value;
    if (!((x === 1n && y === 0n) || (x === 0n && y === 1n))) continue;
    if (blockKey({ ...T, term: E.term }) !== blockKey(E)) continue;
    // The shared instructions run unconditionally afterwards: not if a helper call takes the tested value.
    const tested = new Set([t.a, t.b].flatMap((o) => (o.kind === "vreg" ? [o.id] : [])));
    if (T.insts.some((i) => i.op === "call" && instUses(i).some((u) => tested.has(u)))) continue;
    const cmp = x === 1n ? t.cmp : invertCmp(t.cmp);
    if (!cmp) continue;
    const d = fn.vregCount++;
    b.insts.push({ op: "setcc", dst: d, cmp, width: t.width, a: t.a, b: t.b, loc: t.loc }, ...T.insts);
    b.term = { op: "ret", value: { kind: "vreg", id: d }, loc: T.term.loc };
    changed = true;
  }
  if (changed) compactBlocks(fn);
  return changed;
}

/** A block that is just `ret <imm>`: its id per returned value. */
function sharedReturns(fn: Function): Map<bigint, number> {
  const out = new Map<bigint, number>();
  for (const b of fn.blocks) {
    if (b.id !== 0 && b.insts.length === 0 && b.term.op === "ret" && b.term.value.kind === "imm" && !out.has(b.term.value.value)) {
      out.set(b.term.value.value, b.id);
    }
  }
  return out;
}

/** See the module comment. Only when a `ret 0` or `ret 1` block already exists, or the rewrite would cost more. */
export function branchToSharedReturns(fn: Function, ctx?: VReg): boolean {
  const rets = sharedReturns(fn);
  if (!rets.has(0n) && !rets.has(1n)) return false;
  const uses = useCounts(fn, ctx);
  let changed = false;
  for (const b of [...fn.blocks]) {
    const t = b.term;
    if (t.op !== "ret" || t.value.kind !== "vreg") continue;
    const v = t.value.id;
    const at = b.insts.findIndex((i) => i.op === "setcc" && i.dst === v);
    if (at < 0 || uses.get(v) !== 1) continue;
    const sc = b.insts[at] as Extract<Inst, { op: "setcc" }>;
    const operands = [sc.a, sc.b].flatMap((o) => (o.kind === "vreg" ? [o.id] : []));
    const later = b.insts.slice(at + 1);
    if (later.some((i) => instDef(i) === v || operands.includes(instDef(i) ?? -1))) continue;
    const target = (value: bigint): number => {
      const id = rets.get(value);
      if (id !== undefined) return id;
      const nb: Block = { id: fn.blocks.length, insts: [], term: { op: "ret", value: { kind: "imm", value }, loc: t.loc } };
      fn.blocks.push(nb);
      rets.set(value, nb.id);
      return nb.id;
    };
    b.insts.splice(at, 1);
    b.term = { op: "cbr", cmp: sc.cmp, width: sc.width, a: sc.a, b: sc.b, then: target(1n), else: target(0n), loc: t.loc ?? sc.loc };
    changed = true;
  }
  return changed;
}

/** The single `mov d, imm` of a block that then branches to `join`, or undefined. */
function constMove(b: Block): { dst: VReg; value: bigint; join: number } | undefined {
  const [m, ...rest] = b.insts;
  if (!m || rest.length || m.op !== "mov" || m.src.kind !== "imm" || b.term.op !== "br") return undefined;
  return { dst: m.dst, value: m.src.value, join: b.term.target };
}

const isBool01 = (x: bigint, y: bigint): boolean => (x === 1n && y === 0n) || (x === 0n && y === 1n);

/** See the module comment: boolean materialisation through branches → `setcc`, constant diamonds → triangles. */
export function convertBooleanDiamonds(fn: Function): boolean {
  let changed = false;
  const preds = predecessors(fn.blocks);
  const only = (id: number, from: number) => id !== 0 && preds[id]!.length === 1 && preds[id]![0] === from;
  for (const b of fn.blocks) {
    const t = b.term;
    if (t.op !== "cbr" || t.then === t.else) continue;
    const reads = (d: VReg) => [t.a, t.b].some((o) => o.kind === "vreg" && o.id === d);
    const T = only(t.then, b.id) ? constMove(fn.blocks[t.then]!) : undefined;
    const F = only(t.else, b.id) ? constMove(fn.blocks[t.else]!) : undefined;
    const setcc = (dst: VReg, onTrue: bigint, join: number): boolean => {
      const cmp = onTrue === 1n ? t.cmp : invertCmp(t.cmp);
      if (!cmp) return false;
      b.insts.push({ op: "setcc", dst, cmp, width: t.width, a: t.a, b: t.b, loc: t.loc });
      b.term = { op: "br", target: join, loc: t.loc };
      return true;
    };
    if (T && F && T.dst === F.dst && T.join === F.join) {
      // Diamond: both sides set the same vreg to a constant and meet again.
      if (isBool01(T.value, F.value)) {
        if (setcc(T.dst, T.value, T.join)) changed = true;
      } else if (!reads(T.dst)) {
        b.insts.push({ op: "mov", dst: F.dst, src: { kind: "imm", value: F.value }, loc: t.loc });
        t.else = F.join;
        changed = true;
      }
      continue;
    }
    // Triangle: `d = y; if (c) d = x;` with the other edge going straight to the join.
    const last = b.insts[b.insts.length - 1];
    if (!last || last.op !== "mov" || last.src.kind !== "imm" || reads(last.dst)) continue;
    const side = T && T.join === t.else ? T : F && F.join === t.then ? F : undefined;
    if (!side || side.dst !== last.dst || !isBool01(side.value, last.src.value)) continue;
    const onTrue = side === T ? side.value : last.src.value;
    b.insts.pop();
    if (setcc(last.dst, onTrue, side.join)) changed = true;
    else b.insts.push(last);
  }
  if (changed) compactBlocks(fn);
  return changed;
}
