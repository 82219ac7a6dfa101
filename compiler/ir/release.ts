/**
 * Socket-release insertion. A SOCKMAP/SOCKHASH lookup (`call map_lookup_elem` with `resultKind: "sock_or_null"`)
 * takes a reference the kernel verifier insists is released (`bpf_sk_release`, helper 86) before the program exits.
 * DSL code never releases by hand; this pass adds the release on every path where the reference may be live, as
 * early as possible (right after its last use, like hand-written C):
 *
 * - a backward liveness pass finds where each reference is last used;
 * - a forward dataflow tracks, per reference vreg, whether it is surely null / already released ("none"), surely
 *   non-null ("held", after the null check's non-null edge), or "maybe" (right after the lookup, or where paths
 *   disagree);
 * - at the end of every block after which the reference is dead (no later use on any path; always true before a
 *   `ret`): "held" → `sk_release(ref)`; "maybe" → `if (ref != 0) sk_release(ref)` (the verifier follows both
 *   branches); "none" → nothing. A block whose terminator tests the reference keeps it (its successors release).
 *
 * References kept in a vreg assigned on only some paths are zeroed at entry, so the guarded release never reads an
 * uninitialized register. `ctx.sk` (a context load, not a call) is not a reference and is never released.
 */
import { Helper } from "../asm/helpers.ts";
import type { Block, Function, Inst, Module, Terminator, Value, VReg } from "./ir.ts";
import { imm, vreg } from "./ir.ts";

/** Per-reference state. */
type State = "none" | "held" | "maybe";
/** State of every reference, plus whether it has been assigned on every path. */
interface Facts {
  state: Map<VReg, State>;
  defined: Map<VReg, boolean>;
}

/** The vregs that hold socket references in `fn`. */
export function socketRefs(fn: Function): Set<VReg> {
  const refs = new Set<VReg>();
  for (const b of fn.blocks) {
    for (const i of b.insts) {
      if (i.op === "call" && i.dst !== undefined && i.helper === Helper.map_lookup_elem && i.resultKind === "sock_or_null") refs.add(i.dst);
    }
  }
  return refs;
}

/** Adds the releases to every function of the module (in place); returns the module. */
export function insertSocketReleases(m: Module): Module {
  for (const fn of m.functions) insertReleases(fn);
  return m;
}

function join(a: Facts | undefined, b: Facts): Facts {
  if (!a) return { state: new Map(b.state), defined: new Map(b.defined) };
  const state = new Map<VReg, State>();
  const defined = new Map<VReg, boolean>();
  for (const r of new Set([...a.state.keys(), ...b.state.keys()])) {
    const x = a.state.get(r) ?? "none";
    const y = b.state.get(r) ?? "none";
    state.set(r, x === y ? x : "maybe");
    defined.set(r, (a.defined.get(r) ?? false) && (b.defined.get(r) ?? false));
  }
  return { state, defined };
}

function same(a: Facts, b: Facts): boolean {
  if (a.state.size !== b.state.size) return false;
  for (const [r, s] of a.state) if (b.state.get(r) !== s || b.defined.get(r) !== a.defined.get(r)) return false;
  return true;
}

/** Applies a block's instructions to the facts. */
function transfer(insts: Inst[], refs: Set<VReg>, f: Facts): Facts {
  const out = { state: new Map(f.state), defined: new Map(f.defined) };
  for (const i of insts) {
    if ("dst" in i && i.dst !== undefined && refs.has(i.dst)) {
      // `mov ref, 0` (a socket variable given ctx.sk or null keeps no reference) holds nothing to release.
      out.state.set(i.dst, i.op === "mov" && i.src.kind === "imm" && i.src.value === 0n ? "none" : "maybe");
      out.defined.set(i.dst, true);
    }
  }
  return out;
}

/** Vregs read by an instruction or terminator. */
function uses(x: Inst | Terminator): VReg[] {
  const vals: Value[] = [];
  switch (x.op) {
    case "mov": case "neg": case "ext": case "bswap": vals.push(x.src); break;
    case "bin": case "setcc": case "cbr": vals.push(x.a, x.b); break;
    case "slot_store": vals.push(x.value); break;
    case "load": return [x.ptr];
    case "store": case "atomic_add": return [x.ptr, ...(x.value.kind === "vreg" ? [x.value.id] : [])];
    case "call": case "call_local": vals.push(...x.args); break;
    case "ret": vals.push(x.value); break;
  }
  return vals.filter((v): v is Value & { kind: "vreg" } => v.kind === "vreg").map((v) => v.id);
}

/**
 * The references each copy may hold: a vreg assigned by `mov` from a reference (or from such a copy) holds the same
 * pointer, and the kernel invalidates every copy when the reference is released. A socket variable that may hold a
 * lookup result or `ctx.sk` reads its value from such a copy (frontend/lower-sock.ts), so the reference must stay
 * live as long as the copy is read.
 */
function copiesOf(fn: Function, refs: Set<VReg>): Map<VReg, Set<VReg>> {
  const copies = new Map<VReg, Set<VReg>>();
  for (let changed = true; changed; ) {
    changed = false;
    for (const b of fn.blocks) {
      for (const i of b.insts) {
        if (i.op !== "mov" || i.src.kind !== "vreg" || refs.has(i.dst)) continue;
        const from = refs.has(i.src.id) ? [i.src.id] : [...(copies.get(i.src.id) ?? [])];
        let set = copies.get(i.dst);
        for (const r of from) {
          if (set?.has(r)) continue;
          if (!set) copies.set(i.dst, (set = new Set()));
          set.add(r);
          changed = true;
        }
      }
    }
  }
  return copies;
}

/** References live at the end of each block (read later on some path), including the terminator's reads. */
function liveAtEnd(fn: Function, refs: Set<VReg>): Map<number, Set<VReg>> {
  const copies = copiesOf(fn, refs);
  // A read of a copy is a read of every reference it may hold.
  const read = (x: Inst | Terminator): VReg[] => uses(x).flatMap((r) => (refs.has(r) ? [r] : [...(copies.get(r) ?? [])]));
  const succ = (b: Block): number[] => (b.term.op === "br" ? [b.term.target] : b.term.op === "cbr" ? [b.term.then, b.term.else] : []);
  const liveIn = new Map<number, Set<VReg>>(fn.blocks.map((b) => [b.id, new Set()]));
  const end = new Map<number, Set<VReg>>();
  for (let changed = true; changed; ) {
    changed = false;
    for (const b of [...fn.blocks].reverse()) {
      const live = new Set<VReg>();
      for (const s of succ(b)) for (const r of liveIn.get(s)!) live.add(r);
      for (const r of read(b.term)) live.add(r);
      end.set(b.id, new Set(live));
      for (const i of [...b.insts].reverse()) {
        if ("dst" in i && i.dst !== undefined) live.delete(i.dst);
        for (const r of read(i)) live.add(r);
      }
      const prev = liveIn.get(b.id)!;
      if (live.size !== prev.size || [...live].some((r) => !prev.has(r))) {
        liveIn.set(b.id, live);
        changed = true;
      }
    }
  }
  return end;
}

/** The facts at the end of a block once references dead there are released (`released` receives them). */
function afterReleases(facts: Facts, liveEnd: Set<VReg>, released?: { ref: VReg; guarded: boolean; defined: boolean }[]): Facts {
  const out = { state: new Map(facts.state), defined: new Map(facts.defined) };
  for (const [r, s] of [...facts.state].sort((a, b) => a[0] - b[0])) {
    if (s === "none" || liveEnd.has(r)) continue;
    released?.push({ ref: r, guarded: s === "maybe", defined: facts.defined.get(r) ?? false });
    out.state.set(r, "none");
  }
  return out;
}

/** The reference tested by a null check `cbr eq/ne ref, 0`, and which edge is the non-null one. */
function nullCheck(t: Terminator, refs: Set<VReg>): { ref: VReg; nonNull: number; isNull: number } | undefined {
  if (t.op !== "cbr" || (t.cmp !== "eq" && t.cmp !== "ne")) return undefined;
  const [x, y] = t.a.kind === "vreg" ? [t.a, t.b] : [t.b, t.a];
  if (x.kind !== "vreg" || !refs.has(x.id) || y.kind !== "imm" || y.value !== 0n) return undefined;
  return t.cmp === "eq" ? { ref: x.id, nonNull: t.else, isNull: t.then } : { ref: x.id, nonNull: t.then, isNull: t.else };
}

/**
 * Starts a new block at every instruction (other than a block's first) that assigns a reference vreg: a socket
 * variable reassigned (`sk = b.lookup(0)`) kills the reference it held there, and releases are placed at block ends,
 * so the old reference is released at the end of the block before the assignment.
 */
function splitAtRedefinitions(fn: Function, refs: Set<VReg>): void {
  const defs = new Map<VReg, number>();
  for (const b of fn.blocks) for (const i of b.insts) if ("dst" in i && i.dst !== undefined && refs.has(i.dst)) defs.set(i.dst, (defs.get(i.dst) ?? 0) + 1);
  const reassigned = (i: Inst) => "dst" in i && i.dst !== undefined && (defs.get(i.dst) ?? 0) > 1;
  // A block that starts with the reassignment (`if (c) sk = ctx.sk` writes 0 to the reference first) is split too:
  // it becomes an empty block, where the old reference is released on every path into it, then the rest.
  const rests = new Set<number>();
  for (let id = 0; id < fn.blocks.length; id++) {
    const block = fn.blocks[id]!;
    const at = block.insts.findIndex((i, k) => (k > 0 || !rests.has(id)) && reassigned(i));
    if (at < 0) continue;
    const rest: Block = { id: fn.blocks.length, insts: block.insts.slice(at), term: block.term };
    rests.add(rest.id);
    fn.blocks.push(rest);
    block.insts = block.insts.slice(0, at);
    block.term = { op: "br", target: rest.id, ...(rest.insts[0]!.loc ? { loc: rest.insts[0]!.loc } : {}) };
  }
}

/** Inserts the releases into one function (in place). */
export function insertReleases(fn: Function): void {
  const refs = socketRefs(fn);
  if (refs.size === 0) return;
  splitAtRedefinitions(fn, refs);
  const entry: Facts = { state: new Map([...refs].map((r) => [r, "none" as State])), defined: new Map([...refs].map((r) => [r, false])) };
  const liveEnd = liveAtEnd(fn, refs);
  const inFacts = new Map<number, Facts>([[0, entry]]);
  const work = [0];
  while (work.length) {
    const id = work.shift()!;
    const block = fn.blocks[id]!;
    const out = afterReleases(transfer(block.insts, refs, inFacts.get(id)!), liveEnd.get(id)!);
    const t = block.term;
    const edges: [number, Facts][] = [];
    if (t.op === "br") edges.push([t.target, out]);
    if (t.op === "cbr") {
      const check = nullCheck(t, refs);
      const refine = (target: number, s: State): Facts => {
        const f = { state: new Map(out.state), defined: new Map(out.defined) };
        if (check) f.state.set(check.ref, s);
        return f;
      };
      if (check && t.then !== t.else) {
        edges.push([check.nonNull, refine(check.nonNull, "held")], [check.isNull, refine(check.isNull, "none")]);
      } else {
        edges.push([t.then, out], [t.else, out]);
      }
    }
    for (const [target, facts] of edges) {
      const prev = inFacts.get(target);
      const next = join(prev, facts);
      if (!prev || !same(prev, next)) {
        inFacts.set(target, next);
        if (!work.includes(target)) work.push(target);
      }
    }
  }

  // References released behind a null check somewhere: every other release of them also zeroes the vreg, so a path
  // that already released reaches that check with 0 and does not release twice.
  const guardedAnywhere = new Set<VReg>();
  const guardSites = new Map<VReg, number>();
  for (const block of fn.blocks) {
    if (!inFacts.has(block.id)) continue;
    const released: { ref: VReg; guarded: boolean; defined: boolean }[] = [];
    afterReleases(transfer(block.insts, refs, inFacts.get(block.id)!), liveEnd.get(block.id)!, released);
    for (const r of released) {
      if (!r.guarded) continue;
      guardedAnywhere.add(r.ref);
      guardSites.set(r.ref, (guardSites.get(r.ref) ?? 0) + 1);
    }
  }
  const zeroAtEntry = new Set<VReg>();
  const newBlocks: Block[] = [];
  const release = (ref: VReg, loc: Terminator["loc"]): Inst => ({ op: "call", helper: Helper.sk_release, args: [vreg(ref)], ...(loc ? { loc } : {}) });
  for (const block of [...fn.blocks]) {
    if (!inFacts.has(block.id)) continue;
    const released: { ref: VReg; guarded: boolean; defined: boolean }[] = [];
    afterReleases(transfer(block.insts, refs, inFacts.get(block.id)!), liveEnd.get(block.id)!, released);
    const loc = block.insts[block.insts.length - 1]?.loc ?? block.term.loc;
    for (const r of released) {
      if (r.guarded) continue;
      block.insts.push(release(r.ref, loc));
      if (guardedAnywhere.has(r.ref)) block.insts.push({ op: "mov", dst: r.ref, src: imm(0), ...(loc ? { loc } : {}) });
    }
    const maybe = released.filter((r) => r.guarded);
    if (maybe.length === 0) continue;
    // if (ref != 0) sk_release(ref), for each maybe-live reference, then the block's own terminator.
    const term = block.term;
    let cur = block;
    for (const r of maybe) {
      if (!r.defined) zeroAtEntry.add(r.ref);
      // Only another guarded release could see this one's pointer again.
      const zero: Inst[] = (guardSites.get(r.ref) ?? 0) > 1 ? [{ op: "mov", dst: r.ref, src: imm(0), ...(loc ? { loc } : {}) }] : [];
      const rel: Block = { id: fn.blocks.length + newBlocks.length, insts: [release(r.ref, loc), ...zero], term };
      const after: Block = { id: rel.id + 1, insts: [], term };
      newBlocks.push(rel, after);
      cur.term = { op: "cbr", cmp: "ne", width: 64, a: vreg(r.ref), b: imm(0), then: rel.id, else: after.id, ...(loc ? { loc } : {}) };
      rel.term = { op: "br", target: after.id, ...(loc ? { loc } : {}) };
      cur = after;
    }
  }
  fn.blocks.push(...newBlocks);
  if (zeroAtEntry.size) {
    fn.blocks[0]!.insts.unshift(...[...zeroAtEntry].map((r): Inst => ({ op: "mov", dst: r, src: imm(0) })));
  }
}
