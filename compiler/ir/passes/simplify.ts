/**
 * IR clean-up run by the backend before instruction selection. Each rewrite is semantics-preserving on the IR's
 * integer model (see fold.ts) and aims at what clang -O2 would also remove:
 *
 * - constant folding (all-immediate operations and branches) and local constant/copy propagation;
 * - `setcc` feeding a single `cbr … ne/eq 0` fused into one conditional branch;
 * - a branch to two otherwise identical blocks returning 1 and 0 becomes `setcc` + one copy of the block;
 * - `if (c) d = 1; else d = 0` (a diamond or triangle of constant moves) becomes `d = setcc c`, and a diamond of other
 *   constants becomes a triangle (`d = y; if (c) d = x`), which needs no jump around the else side;
 * - `v = setcc c; …; ret v` branches to existing `ret 1`/`ret 0` blocks instead when one exists (one jump into a
 *   shared return is cheaper than materialising the boolean);
 * - an instruction both sides of a branch start with (e.g. the socket release) is hoisted above the branch;
 * - stack stores of a value the bytes already hold are removed (stores.ts); context-pure values computed twice in
 *   a block are computed once (cse.ts);
 * - jump threading through empty blocks;
 * - merging a block into its single predecessor; merging structurally identical blocks (shared exits);
 * - dead-code elimination of side-effect-free definitions; removal of unreachable blocks.
 *
 * The function is modified in place; callers clone first (the backend does).
 */
import type { Block, Function, Inst, Value, VReg } from "../ir.ts";
import { foldBin, foldBswap, foldCmp, foldExt, invertCmp, swapCmp, u64 } from "./fold.ts";
import { printInst, printTerminator } from "../print.ts";
import { computeLiveness } from "./liveness.ts";
import { eliminateCommonSubexpressions } from "./cse.ts";
import { eliminateRedundantStores } from "./stores.ts";
import {
  compactBlocks,
  hasSideEffect,
  instDef,
  instUses,
  mapInstOperands,
  mapSuccessors,
  mapTermOperands,
  predecessors,
  successors,
  termUses,
} from "./util.ts";

const imm = (value: bigint): Value => ({ kind: "imm", value: u64(value) });

/** Runs all simplifications to a fixed point (bounded). `ctx` is the context vreg, kept alive for `ctx_load`. */
export function simplify(fn: Function, ctx?: VReg): void {
  for (let round = 0; round < 16; round++) {
    let changed = false;
    changed = propagateConstants(fn) || changed;
    changed = foldInstructions(fn) || changed;
    changed = fuseSetccBranches(fn, ctx) || changed;
    changed = convertBooleanReturns(fn) || changed;
    changed = convertBooleanDiamonds(fn) || changed;
    changed = hoistCommonPrefix(fn) || changed;
    changed = branchToSharedReturns(fn, ctx) || changed;
    changed = eliminateRedundantStores(fn) || changed;
    changed = eliminateCommonSubexpressions(fn) || changed;
    changed = threadJumps(fn) || changed;
    changed = mergeStraightLines(fn) || changed;
    changed = mergeIdenticalBlocks(fn) || changed;
    changed = eliminateDeadCode(fn, ctx) || changed;
    if (!changed) break;
  }
}

/** Number of definitions of each vreg in the function. */
function defCounts(fn: Function): Map<VReg, number> {
  const m = new Map<VReg, number>();
  for (const p of fn.params) m.set(p, 1);
  for (const b of fn.blocks) {
    for (const inst of b.insts) {
      const d = instDef(inst);
      if (d !== undefined) m.set(d, (m.get(d) ?? 0) + 1);
    }
  }
  return m;
}

/**
 * Replaces uses of vregs known to hold a constant. Globally: a vreg with a single definition `mov v, imm` (the
 * frontend defines before use). Locally within a block: constants and copies until either side is redefined.
 */
function propagateConstants(fn: Function): boolean {
  let changed = false;
  const defs = defCounts(fn);
  const global = new Map<VReg, bigint>();
  for (const b of fn.blocks) {
    for (const inst of b.insts) {
      if (inst.op === "mov" && inst.src.kind === "imm" && defs.get(inst.dst) === 1) global.set(inst.dst, inst.src.value);
    }
  }
  for (const b of fn.blocks) {
    const local = new Map<VReg, Value>();
    const subst = (v: Value): Value => {
      if (v.kind !== "vreg") return v;
      const g = global.get(v.id);
      if (g !== undefined) {
        changed = true;
        return imm(g);
      }
      const l = local.get(v.id);
      if (l) {
        changed = true;
        return { ...l };
      }
      return v;
    };
    for (const inst of b.insts) {
      // Pointer operands (load/store/atomic) must stay vregs; only value operands are substituted.
      if (inst.op === "load" || inst.op === "store" || inst.op === "atomic_add") {
        if (inst.op !== "load") inst.value = subst(inst.value);
        const p = local.get(inst.ptr);
        if (p && p.kind === "vreg") {
          inst.ptr = p.id;
          changed = true;
        }
      } else {
        mapInstOperands(inst, subst);
      }
      const d = instDef(inst);
      if (d === undefined) continue;
      local.delete(d);
      for (const [k, v] of local) if (v.kind === "vreg" && v.id === d) local.delete(k);
      if (inst.op === "mov" && !(inst.src.kind === "vreg" && inst.src.id === d)) local.set(d, { ...inst.src });
    }
    mapTermOperands(b.term, subst);
  }
  return changed;
}

/** Folds all-immediate instructions to `mov`, constant branches to `br`, and trivial identities. */
function foldInstructions(fn: Function): boolean {
  let changed = false;
  for (const b of fn.blocks) {
    b.insts = b.insts.map((inst): Inst => {
      const folded = foldInst(inst);
      if (folded !== inst) changed = true;
      return folded;
    });
    const t = b.term;
    if (t.op === "cbr") {
      if (t.a.kind === "imm" && t.b.kind === "imm") {
        b.term = { op: "br", target: foldCmp(t.cmp, t.width, t.a.value, t.b.value) ? t.then : t.else, loc: t.loc };
        changed = true;
      } else if (t.then === t.else) {
        b.term = { op: "br", target: t.then, loc: t.loc };
        changed = true;
      } else if (t.a.kind === "imm") {
        // Registers go on the left of a BPF comparison.
        [t.a, t.b] = [t.b, t.a];
        t.cmp = swapCmp(t.cmp);
        changed = true;
      }
    }
  }
  return changed;
}

function foldInst(inst: Inst): Inst {
  const loc = inst.loc;
  const mov = (dst: VReg, v: bigint): Inst => ({ op: "mov", dst, src: imm(v), loc });
  switch (inst.op) {
    case "bin":
      if (inst.a.kind === "imm" && inst.b.kind === "imm") return mov(inst.dst, foldBin(inst.kind, inst.width, inst.a.value, inst.b.value));
      if (inst.a.kind === "imm" && ["add", "mul", "and", "or", "xor"].includes(inst.kind)) {
        // Canonical form: the immediate on the right (what BPF can encode, and what the identities below match).
        return { ...inst, a: inst.b, b: inst.a };
      }
      if (inst.width === 64 && inst.b.kind === "imm" && inst.b.value === 0n && ["add", "sub", "or", "xor", "shl", "lshr", "ashr"].includes(inst.kind)) {
        return { op: "mov", dst: inst.dst, src: inst.a, loc };
      }
      return inst;
    case "neg":
      return inst.src.kind === "imm" ? mov(inst.dst, foldBin("sub", inst.width, 0n, inst.src.value)) : inst;
    case "ext":
      return inst.src.kind === "imm" ? mov(inst.dst, foldExt(inst.src.value, inst.bits, inst.signed)) : inst;
    case "bswap":
      return inst.src.kind === "imm" ? mov(inst.dst, foldBswap(inst.src.value, inst.bits)) : inst;
    case "setcc":
      if (inst.a.kind === "imm" && inst.b.kind === "imm") return mov(inst.dst, foldCmp(inst.cmp, inst.width, inst.a.value, inst.b.value) ? 1n : 0n);
      return inst;
    default:
      return inst;
  }
}

/** Counts uses of every vreg (instructions and terminators). */
function useCounts(fn: Function, ctx?: VReg): Map<VReg, number> {
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
function fuseSetccBranches(fn: Function, ctx?: VReg): boolean {
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
function convertBooleanReturns(fn: Function): boolean {
  let changed = false;
  const preds = predecessors(fn.blocks);
  for (const b of fn.blocks) {
    const t = b.term;
    if (t.op !== "cbr" || t.then === t.else) continue;
    const T = fn.blocks[t.then]!;
    const E = fn.blocks[t.else]!;
    if (preds[T.id]!.length !== 1 || preds[E.id]!.length !== 1 || T.id === 0 || E.id === 0) continue;
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
function branchToSharedReturns(fn: Function, ctx?: VReg): boolean {
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

/** Structural key of an instruction ignoring its source location. */
function instKey(i: Inst): string {
  return printInst(i);
}

/** Moves identical leading instructions of both (single-predecessor) successors of a `cbr` into the branching block. */
function hoistCommonPrefix(fn: Function): boolean {
  let changed = false;
  const preds = predecessors(fn.blocks);
  for (const b of fn.blocks) {
    const t = b.term;
    if (t.op !== "cbr" || t.then === t.else) continue;
    const T = fn.blocks[t.then]!;
    const E = fn.blocks[t.else]!;
    if (T.id === 0 || E.id === 0 || preds[T.id]!.length !== 1 || preds[E.id]!.length !== 1) continue;
    const operands = new Set([t.a, t.b].flatMap((o) => (o.kind === "vreg" ? [o.id] : [])));
    while (T.insts.length && E.insts.length && instKey(T.insts[0]!) === instKey(E.insts[0]!)) {
      const d = instDef(T.insts[0]!);
      if (d !== undefined && operands.has(d)) break;
      // A helper call stays behind a test of its own argument (the verifier's null tracking depends on it).
      if (T.insts[0]!.op === "call" && instUses(T.insts[0]!).some((u) => operands.has(u))) break;
      b.insts.push(T.insts.shift()!);
      E.insts.shift();
      changed = true;
    }
    // A socket release that one side does first and the other later, after work that does not touch the socket
    // (e.g. counting a hit), is done once before the branch.
    for (const [first, other] of [[T, E], [E, T]] as const) {
      const rel = first.insts[0];
      if (!rel || !isRelease(rel)) continue;
      const sk = (rel.args[0] as { id: VReg }).id;
      if (operands.has(sk)) continue;
      const j = other.insts.findIndex((i) => instKey(i) === instKey(rel));
      if (j < 0 || other.insts.slice(0, j).some((i) => instUses(i).includes(sk) || instDef(i) === sk || isAssign(i))) continue;
      b.insts.push(first.insts.shift()!);
      other.insts.splice(j, 1);
      changed = true;
      break;
    }
  }
  return changed;
}

/** `call sk_release(vX)`. */
const isRelease = (i: Inst): i is Extract<Inst, { op: "call" }> =>
  i.op === "call" && i.helper === 86 && i.args.length === 1 && i.args[0]!.kind === "vreg";
/** `call sk_assign(...)`: it must keep seeing the reference it is given. */
const isAssign = (i: Inst): boolean => i.op === "call" && i.helper === 124;

/** The single `mov d, imm` of a block that then branches to `join`, or undefined. */
function constMove(b: Block): { dst: VReg; value: bigint; join: number } | undefined {
  const [m, ...rest] = b.insts;
  if (!m || rest.length || m.op !== "mov" || m.src.kind !== "imm" || b.term.op !== "br") return undefined;
  return { dst: m.dst, value: m.src.value, join: b.term.target };
}

const isBool01 = (x: bigint, y: bigint): boolean => (x === 1n && y === 0n) || (x === 0n && y === 1n);

/** See the module comment: boolean materialisation through branches → `setcc`, constant diamonds → triangles. */
function convertBooleanDiamonds(fn: Function): boolean {
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

/** Redirects edges that target an empty `br` block to its destination (a jump to a jump). */
function threadJumps(fn: Function): boolean {
  let changed = false;
  const forward = (id: number): number => {
    const seen = new Set<number>();
    let cur = id;
    for (;;) {
      const blk = fn.blocks[cur]!;
      if (blk.insts.length !== 0 || blk.term.op !== "br" || seen.has(cur) || cur === 0) return cur;
      seen.add(cur);
      cur = blk.term.target;
    }
  };
  for (const b of fn.blocks) {
    mapSuccessors(b.term, (s) => {
      const f = forward(s);
      if (f !== s) changed = true;
      return f;
    });
  }
  if (changed) compactBlocks(fn);
  return changed;
}

/** Appends a block to its only predecessor when that predecessor ends in an unconditional branch to it. */
function mergeStraightLines(fn: Function): boolean {
  let changed = false;
  const preds = predecessors(fn.blocks);
  const gone = new Set<number>();
  for (const b of fn.blocks) {
    if (gone.has(b.id)) continue;
    while (b.term.op === "br") {
      const s = b.term.target;
      if (s === 0 || s === b.id || preds[s]!.length !== 1 || gone.has(s)) break;
      const next = fn.blocks[s]!;
      b.insts.push(...next.insts);
      b.term = next.term;
      gone.add(s);
      // The merged block's successors now have `b` as predecessor instead of `s`.
      for (const t of successors(b.term)) preds[t] = preds[t]!.map((p) => (p === s ? b.id : p));
      changed = true;
    }
  }
  if (changed) compactBlocks(fn);
  return changed;
}

/** Structural key of a block ignoring source locations and its own id (the IR printer shows every field). */
function blockKey(b: Block): string {
  return [...b.insts.map((i) => printInst(i)), printTerminator(b.term)].join("\n");
}

/** Merges blocks with identical contents (e.g. several `ret 1` paths) into one shared block. */
function mergeIdenticalBlocks(fn: Function): boolean {
  const canon = new Map<string, number>();
  const replace = new Map<number, number>();
  for (const b of fn.blocks) {
    // Identical long blocks are rare and hashing them is not free: only short ones (shared exits) are compared.
    if (b.id === 0 || b.insts.length > 8) continue;
    const key = blockKey(b);
    const c = canon.get(key);
    if (c === undefined) canon.set(key, b.id);
    else replace.set(b.id, c);
  }
  if (replace.size === 0) return false;
  for (const b of fn.blocks) mapSuccessors(b.term, (s) => replace.get(s) ?? s);
  compactBlocks(fn);
  return true;
}

/** Removes side-effect-free instructions whose result is dead, and moves of a vreg to itself; true if anything changed. */
export function eliminateDeadCode(fn: Function, ctx?: VReg): boolean {
  const { liveOut } = computeLiveness(fn, ctx);
  let changed = false;
  for (const b of fn.blocks) {
    const live = new Set(liveOut[b.id]);
    for (const u of termUses(b.term)) live.add(u);
    const kept: Inst[] = [];
    for (let i = b.insts.length - 1; i >= 0; i--) {
      const inst = b.insts[i]!;
      const d = instDef(inst);
      const selfMove = inst.op === "mov" && inst.src.kind === "vreg" && inst.src.id === inst.dst;
      if (selfMove || (d !== undefined && !live.has(d) && !hasSideEffect(inst))) {
        changed = true;
        continue;
      }
      if (d !== undefined) live.delete(d);
      for (const u of instUses(inst, ctx)) live.add(u);
      kept.push(inst);
    }
    b.insts = kept.reverse();
  }
  return changed;
}
