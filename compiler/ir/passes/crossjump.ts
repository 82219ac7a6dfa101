/**
 * Cross-jumping (part of `simplify`): two regions of the CFG that compute the same thing — the same instructions on
 * the same inputs, up to a consistent renaming of the vregs they define — are kept once, and every jump into the
 * second goes to the first. An unrolled `for (const p of PORTS) if (x === p) { lookup; assign; return }` produces one
 * such region per element (each copy lowered with fresh vregs); after merging, the tests form a compare chain into one
 * body, as clang's switch does. Plain identical exits (`r0 = 1; exit` twice) are the one-block case.
 *
 * Soundness: the match is a graph isomorphism between the two regions (block to block, instruction to instruction)
 * with a bijection between the vregs each region defines. Vregs a region reads without defining must be the same
 * vreg in both, and none of the defined ones may be live on entry to either head, so both regions start from the
 * same values. Where the regions leave into a common block, the vregs that block reads must not be renamed. The first
 * region is left untouched (other paths may enter it midway), so the rewrite only changes where jumps to the second
 * head go.
 */
import type { Block, Function, Inst, Terminator, Value, VReg } from "../ir.ts";
import { printInst, printTerminator } from "../print.ts";
import { computeLiveness, type Liveness } from "./liveness.ts";
import { cloneInst, cloneTerm, compactBlocks, instDef, instOperands, mapInstOperands, mapSuccessors, mapTermOperands, predecessors } from "./util.ts";

/**
 * The most instructions one region comparison, and all comparisons of one call, may look at. Real shared tails are
 * a few dozen instructions; an unrolled loop's copies can look alike for hundreds before they differ, and comparing
 * every pair of them to the end would make the pass quadratic in the program.
 */
const MAX_COMPARED = 256;
const MAX_COMPARED_PER_CALL = 16384;

const anon: Value = { kind: "vreg", id: -1 };

/** An instruction with every vreg replaced by a placeholder: equal shapes differ only in vreg names. */
function instShape(inst: Inst, fn: Function): string {
  const c = cloneInst(inst);
  mapInstOperands(c, (v) => (v.kind === "vreg" ? anon : v));
  if ("ptr" in c) c.ptr = -1;
  const d = instDef(inst);
  if (d !== undefined) (c as { dst?: VReg }).dst = -1;
  return printInst(c) + (d !== undefined ? `:${fn.ptrKinds?.get(d) ?? ""}` : "");
}

/** A terminator with vregs and successors anonymised. */
function termShape(t: Terminator): string {
  const c = cloneTerm(t);
  mapTermOperands(c, (v) => (v.kind === "vreg" ? anon : v));
  mapSuccessors(c, () => -1);
  return printTerminator(c);
}

/** A cheap first key for bucketing candidate heads: the operation sequence. */
function blockOps(b: Block): string {
  return b.insts.map((i) => i.op).join(",") + "|" + b.term.op;
}

/** One attempted match of the region at `ha` against the region at `hb`. */
class RegionMatch {
  private readonly fwd = new Map<VReg, VReg>();
  private readonly rev = new Map<VReg, VReg>();
  private readonly pairs = new Map<number, number>();
  private readonly sideB = new Set<number>();
  private readonly shared = new Set<number>();
  /** Instructions looked at so far. */
  compared = 0;

  constructor(private readonly fn: Function, private readonly live: Liveness, private readonly shapes: (id: number) => string[]) {}

  /** True when the regions headed by `ha` and `hb` are equivalent (see the file comment). */
  run(ha: number, hb: number): boolean {
    if (!this.block(ha, hb)) return false;
    for (const a of this.pairs.keys()) if (this.sideB.has(a)) return false; // the regions overlap
    // Nothing a region defines may be live on entry (its first use would read a value from before the region).
    for (const v of this.live.liveIn[ha]!) if (this.fwd.has(v)) return false;
    for (const v of this.live.liveIn[hb]!) if (this.rev.has(v)) return false;
    // Where both regions continue in the same block, that block must read the same vregs from both.
    for (const s of this.shared) {
      if (this.pairs.has(s) || this.sideB.has(s)) return false;
      for (const v of this.live.liveIn[s]!) {
        if ((this.fwd.has(v) && this.fwd.get(v) !== v) || (this.rev.has(v) && this.rev.get(v) !== v)) return false;
      }
    }
    return true;
  }

  private block(a: number, b: number): boolean {
    if (a === b) {
      this.shared.add(a);
      return true;
    }
    const seen = this.pairs.get(a);
    if (seen !== undefined) return seen === b;
    if (a === 0 || b === 0 || this.sideB.has(b)) return false;
    const A = this.fn.blocks[a]!;
    const B = this.fn.blocks[b]!;
    if (A.insts.length !== B.insts.length || A.term.op !== B.term.op) return false;
    this.compared += A.insts.length + 1;
    if (this.compared > MAX_COMPARED) return false;
    const sa = this.shapes(a);
    const sb = this.shapes(b);
    for (let i = 0; i < sa.length; i++) if (sa[i] !== sb[i]) return false;
    this.pairs.set(a, b);
    this.sideB.add(b);
    for (let i = 0; i < A.insts.length; i++) {
      const x = A.insts[i]!;
      const y = B.insts[i]!;
      const ox = instOperands(x);
      const oy = instOperands(y);
      for (let k = 0; k < ox.length; k++) if (!this.use(ox[k]!, oy[k]!)) return false;
      const dx = instDef(x);
      const dy = instDef(y);
      if ((dx === undefined) !== (dy === undefined)) return false;
      if (dx !== undefined && !this.def(dx, dy!)) return false;
    }
    const ta = A.term;
    const tb = B.term;
    if (ta.op === "ret" && tb.op === "ret") return this.use(ta.value, tb.value);
    if (ta.op === "br" && tb.op === "br") return this.block(ta.target, tb.target);
    if (ta.op === "cbr" && tb.op === "cbr") {
      return this.use(ta.a, tb.a) && this.use(ta.b, tb.b) && this.block(ta.then, tb.then) && this.block(ta.else, tb.else);
    }
    return false;
  }

  private use(x: Value, y: Value): boolean {
    if (x.kind !== "vreg" || y.kind !== "vreg") return x.kind === y.kind && (x as { value: bigint }).value === (y as { value: bigint }).value;
    const m = this.fwd.get(x.id);
    if (m !== undefined) return m === y.id;
    return !this.rev.has(y.id) && x.id === y.id;
  }

  private def(x: VReg, y: VReg): boolean {
    const m = this.fwd.get(x);
    if (m !== undefined) return m === y;
    if (this.rev.has(y)) return false;
    this.fwd.set(x, y);
    this.rev.set(y, x);
    return true;
  }
}

/**
 * Finds pairs of equivalent regions and sends every jump into the later one to the earlier one; true if anything
 * changed. `ctx` is the program's context vreg (read by every `ctx_load`).
 */
export function crossJump(fn: Function, ctx?: VReg): boolean {
  const preds = predecessors(fn.blocks);
  const cache: (string[] | undefined)[] = [];
  const shapes = (id: number): string[] => {
    const b = fn.blocks[id]!;
    return (cache[id] ??= [...b.insts.map((i) => instShape(i, fn)), termShape(b.term)]);
  };
  const buckets = new Map<string, number[]>();
  fn.blocks.forEach((b, i) => {
    if (i === 0 || preds[i]!.length === 0) return;
    const key = blockOps(b);
    const list = buckets.get(key);
    if (list) list.push(i);
    else buckets.set(key, [i]);
  });
  let live: Liveness | undefined;
  const replace = new Map<number, number>();
  let budget = MAX_COMPARED_PER_CALL;
  for (const heads of buckets.values()) {
    if (heads.length < 2) continue;
    live ??= computeLiveness(fn, ctx);
    for (let j = 1; j < heads.length && budget > 0; j++) {
      for (let i = 0; i < j && budget > 0; i++) {
        if (replace.has(heads[i]!)) continue;
        const match = new RegionMatch(fn, live, shapes);
        const same = match.run(heads[i]!, heads[j]!);
        budget -= match.compared;
        if (same) {
          replace.set(heads[j]!, heads[i]!);
          break;
        }
      }
    }
    // One rewrite per round: liveness and regions change once jumps move.
    if (replace.size) break;
  }
  if (replace.size === 0) return false;
  for (const b of fn.blocks) mapSuccessors(b.term, (s) => replace.get(s) ?? s);
  compactBlocks(fn);
  return true;
}
