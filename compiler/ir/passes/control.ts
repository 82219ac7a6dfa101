/**
 * Control-flow clean-ups (part of `simplify`): jump threading through empty blocks, merging a block into its single
 * predecessor, merging structurally identical blocks (shared exits), and hoisting instructions both sides of a
 * branch begin with (or a socket release both sides perform) above the branch.
 */
import type { Block, Function, Inst, Terminator, VReg } from "../ir.ts";
import { printInst, printTerminator } from "../print.ts";
import { compactBlocks, instDef, instUses, mapSuccessors, predecessors, privateArms, successors } from "./util.ts";

/** Structural key of an instruction ignoring its source location. */
export function instKey(i: Inst): string {
  return printInst(i);
}

/** Moves identical leading instructions of both (single-predecessor) successors of a `cbr` into the branching block. */
export function hoistCommonPrefix(fn: Function): boolean {
  let changed = false;
  const preds = predecessors(fn.blocks);
  for (const b of fn.blocks) {
    const arms = privateArms(fn, preds, b);
    if (!arms) continue;
    const [T, E] = arms;
    const t = b.term as Extract<Terminator, { op: "cbr" }>;
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

/** Redirects edges that target an empty `br` block to its destination (a jump to a jump). */
export function threadJumps(fn: Function): boolean {
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

/**
 * Redirects an edge of a null test (`cbr eq/ne x, 0`) that leads to an empty block testing the same `x` again to
 * where that second test goes: on the edge the answer is known. The release pass puts such guarded releases after
 * a socket variable's own null test (`if (sk === null) sk = ctx.sk`, see ir/release.ts).
 */
export function threadDecidedTests(fn: Function): boolean {
  let changed = false;
  const nullTest = (t: Terminator) => {
    if (t.op !== "cbr" || (t.cmp !== "eq" && t.cmp !== "ne")) return undefined;
    const [x, y] = t.a.kind === "vreg" ? [t.a, t.b] : [t.b, t.a];
    if (x.kind !== "vreg" || y.kind !== "imm" || y.value !== 0n) return undefined;
    // The target taken when x is 0, and the other one.
    return { x: x.id, width: t.width, zero: t.cmp === "eq" ? t.then : t.else, nonZero: t.cmp === "eq" ? t.else : t.then };
  };
  for (const b of fn.blocks) {
    const p = nullTest(b.term);
    if (!p || b.term.op !== "cbr") continue;
    const term = b.term;
    for (const [edge, isZero] of [["then", term.then === p.zero], ["else", term.else === p.zero]] as const) {
      if (term.then === term.else) break;
      const s = fn.blocks[term[edge]]!;
      const q = s.insts.length === 0 && s.id !== b.id ? nullTest(s.term) : undefined;
      if (!q || q.x !== p.x || q.width !== p.width) continue;
      term[edge] = isZero ? q.zero : q.nonZero;
      changed = true;
    }
  }
  if (changed) compactBlocks(fn);
  return changed;
}

/** Appends a block to its only predecessor when that predecessor ends in an unconditional branch to it. */
export function mergeStraightLines(fn: Function): boolean {
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
export function blockKey(b: Block): string {
  return [...b.insts.map((i) => printInst(i)), printTerminator(b.term)].join("\n");
}

/** Merges blocks with identical contents (e.g. several `ret 1` paths) into one shared block. */
export function mergeIdenticalBlocks(fn: Function): boolean {
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
