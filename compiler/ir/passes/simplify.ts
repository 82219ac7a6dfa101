/**
 * IR clean-up run by the backend before instruction selection. Each rewrite is semantics-preserving on the IR's
 * integer model (see fold.ts) and aims at what clang -O2 would also remove:
 *
 * - constant folding (all-immediate operations and branches) and constant/copy propagation (here);
 * - boolean and verdict rewrites: setcc/branch fusion, diamonds and triangles, shared returns (booleans.ts);
 * - jump threading, block merging, shared exits, hoisting common branch prefixes (control.ts);
 * - cross-jumping: equivalent regions (an unrolled table test's copies of one body) are kept once (crossjump.ts);
 * - stack stores of a value the bytes already hold are removed (stores.ts); context-pure values computed twice
 *   are computed once (cse.ts);
 * - dead-code elimination of side-effect-free definitions (here); removal of unreachable blocks.
 *
 * The function is modified in place; callers clone first (the backend does).
 */
import type { Function, Inst, Value, VReg } from "../ir.ts";
import { branchToSharedReturns, convertBooleanDiamonds, convertBooleanReturns, fuseSetccBranches } from "./booleans.ts";
import { hoistCommonPrefix, mergeIdenticalBlocks, mergeStraightLines, threadDecidedTests, threadJumps } from "./control.ts";
import { crossJump } from "./crossjump.ts";
import { eliminateCommonSubexpressions } from "./cse.ts";
import { foldBin, foldBswap, foldCmp, foldExt, swapCmp, u64 } from "./fold.ts";
import { computeLiveness } from "./liveness.ts";
import { eliminateRedundantStores } from "./stores.ts";
import { foldSlotPointers } from "./slotptr.ts";
import { hasSideEffect, instDef, instUses, mapInstOperands, mapTermOperands, successors, termUses } from "./util.ts";

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
    changed = foldSlotPointers(fn) || changed;
    changed = eliminateRedundantStores(fn) || changed;
    changed = eliminateCommonSubexpressions(fn) || changed;
    changed = threadJumps(fn) || changed;
    changed = threadDecidedTests(fn) || changed;
    changed = mergeStraightLines(fn) || changed;
    changed = mergeIdenticalBlocks(fn) || changed;
    changed = crossJump(fn, ctx) || changed;
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
  // Copies `d = s` between single-definition vregs whose source is defined outside every loop (so `s` cannot change
  // after `d` took its value): uses of d read s directly.
  const cyclic = blocksInCycles(fn);
  const defBlock = new Map<VReg, number>();
  for (const b of fn.blocks) for (const inst of b.insts) {
    const d = instDef(inst);
    if (d !== undefined) defBlock.set(d, b.id);
  }
  const copies = new Map<VReg, VReg>();
  for (const b of fn.blocks) {
    for (const inst of b.insts) {
      if (inst.op !== "mov" || defs.get(inst.dst) !== 1) continue;
      if (inst.src.kind === "imm") global.set(inst.dst, inst.src.value);
      else if (inst.src.id !== inst.dst && defs.get(inst.src.id) === 1) {
        const from = defBlock.get(inst.src.id);
        if (fn.params.includes(inst.src.id) || (from !== undefined && !cyclic.has(from))) copies.set(inst.dst, inst.src.id);
      }
    }
  }
  const root = (v: VReg): VReg => {
    for (let i = 0; i < 64 && copies.has(v); i++) v = copies.get(v)!;
    return v;
  };
  for (const b of fn.blocks) {
    const local = new Map<VReg, Value>();
    const subst = (v: Value): Value => {
      if (v.kind !== "vreg") return v;
      const g = global.get(v.id);
      if (g !== undefined) {
        changed = true;
        return imm(g);
      }
      if (copies.has(v.id)) {
        changed = true;
        return { kind: "vreg", id: root(v.id) };
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
        if (copies.has(inst.ptr)) {
          inst.ptr = root(inst.ptr);
          changed = true;
        }
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

/** Blocks that lie on a cycle of the CFG (their instructions may run more than once): Kosaraju's SCCs. */
function blocksInCycles(fn: Function): Set<number> {
  const n = fn.blocks.length;
  const succ = fn.blocks.map((b) => successors(b.term));
  const pred: number[][] = Array.from({ length: n }, () => []);
  succ.forEach((ss, i) => ss.forEach((x) => pred[x]!.push(i)));
  // Pass 1: finishing order (iterative DFS).
  const order: number[] = [];
  const seen = new Uint8Array(n);
  for (let r = 0; r < n; r++) {
    if (seen[r]) continue;
    seen[r] = 1;
    const stack: Array<[number, number]> = [[r, 0]];
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      if (top[1] < succ[top[0]]!.length) {
        const x = succ[top[0]]![top[1]++]!;
        if (!seen[x]) {
          seen[x] = 1;
          stack.push([x, 0]);
        }
      } else {
        order.push(top[0]);
        stack.pop();
      }
    }
  }
  // Pass 2: components on the reversed graph, in reverse finishing order.
  const comp = new Int32Array(n).fill(-1);
  const size: number[] = [];
  for (let i = order.length - 1; i >= 0; i--) {
    const r = order[i]!;
    if (comp[r] !== -1) continue;
    const c = size.length;
    size.push(0);
    const stack = [r];
    comp[r] = c;
    while (stack.length) {
      const x = stack.pop()!;
      size[c]!++;
      for (const y of pred[x]!) if (comp[y] === -1) {
        comp[y] = c;
        stack.push(y);
      }
    }
  }
  const out = new Set<number>();
  for (let i = 0; i < n; i++) if (size[comp[i]!]! > 1 || succ[i]!.includes(i)) out.add(i);
  return out;
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
      if ((inst.kind === "udiv" || inst.kind === "umod") && inst.b.kind === "imm") {
        // Unsigned division and remainder by a power of two are a shift and a mask (BPF's DIV/MOD are not free in
        // the JIT, and clang emits the same). A zero divisor keeps BPF's rule through the plain instruction.
        const d = BigInt.asUintN(inst.width, inst.b.value);
        const k = d.toString(2).length - 1;
        if (d !== 0n && (d & (d - 1n)) === 0n && (inst.kind === "udiv" || k <= 31)) {
          return inst.kind === "udiv" ? { ...inst, kind: "lshr", b: imm(BigInt(k)) } : { ...inst, kind: "and", b: imm(d - 1n) };
        }
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
