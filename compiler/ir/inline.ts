/**
 * Inlining of local functions: every `call_local` is replaced by a copy of the callee's blocks, with fresh vregs,
 * blocks and stack slots. The frontend guarantees there is no recursion; a depth limit still turns a cycle into a
 * typed error instead of a hang.
 */
import { Helper } from "../asm/helpers.ts";
import type { Block, Function, Inst, Module, Terminator, Value, VReg } from "./ir.ts";
import { computeLiveness } from "./passes/liveness.ts";
import { cloneFunction, instDef, instUses, mapInstOperands, mapSuccessors, mapTermOperands, termUses } from "./passes/util.ts";
import { socketRefs } from "./release.ts";

/** A `call_local` that cannot be inlined (unknown callee, arity mismatch, recursion). */
export class InlineError extends Error {
  override name = "InlineError";
}

const MAX_DEPTH = 32;
const NONE: ReadonlySet<string> = new Set();

/** Returns a copy of `module` in which no function contains `call_local` (the input is not modified). */
export function inlineCalls(module: Module): Module {
  const byName = new Map(module.functions.map((f) => [f.name, f]));
  return { ...module, functions: module.functions.map((f) => inlineFunction(f, byName)) };
}

/**
 * Returns a copy of `fn` with every `call_local` inlined, resolving callees in `functions`. Calls to the names in
 * `keep` (subprograms reached by BPF-to-BPF calls, see outline.ts) stay calls.
 */
export function inlineFunction(fn: Function, functions: ReadonlyMap<string, Function>, depth = 0, keep: ReadonlySet<string> = NONE): Function {
  const out = cloneFunction(fn);
  const inlinable = (i: Inst) => i.op === "call_local" && !keep.has(i.callee);
  if (!out.blocks.some((b) => b.insts.some(inlinable))) return out;
  if (depth > MAX_DEPTH) throw new InlineError(`inlining ${fn.name} exceeds depth ${MAX_DEPTH} (recursive local functions?)`);
  for (let bi = 0; bi < out.blocks.length; bi++) {
    const block = out.blocks[bi]!;
    const at = block.insts.findIndex(inlinable);
    if (at < 0) continue;
    const call = block.insts[at] as Extract<Inst, { op: "call_local" }>;
    const callee = functions.get(call.callee);
    if (!callee) throw new InlineError(`${fn.name}: call to unknown local function ${call.callee}`);
    if (callee.params.length !== call.args.length) {
      throw new InlineError(`${fn.name}: ${call.callee} takes ${callee.params.length} arguments, called with ${call.args.length}`);
    }
    const body = inlineFunction(callee, functions, depth + 1, keep);
    // An aborting return leaves the whole program: the caller's socket references still held there must go first.
    const hasAbort = body.blocks.some((b) => b.term.op === "ret" && b.term.abort);
    const heldRefs = hasAbort ? refsLiveAt(out, bi, at) : [];
    // Continuation block: what followed the call. It keeps the caller's terminator.
    const contId = out.blocks.length;
    const cont: Block = { id: contId, insts: block.insts.slice(at + 1), term: block.term };
    out.blocks.push(cont);
    // Renumber the callee's vregs, blocks and slots into the caller's spaces.
    const vbase = out.vregCount;
    const bbase = out.blocks.length;
    const sbase = out.slots.reduce((m, s) => Math.max(m, s.id + 1), 0);
    const rv = (v: Value): Value => (v.kind === "vreg" ? { kind: "vreg", id: v.id + vbase } : v);
    for (const s of body.slots) out.slots.push({ ...s, id: s.id + sbase });
    for (const [v, k] of body.ptrKinds ?? []) (out.ptrKinds ??= new Map()).set(v + vbase, k);
    out.vregCount += body.vregCount;
    for (const cb of body.blocks) {
      const insts = cb.insts.map((inst) => {
        const c = { ...inst } as Inst;
        mapInstOperands(c, rv);
        const d = instDef(c);
        if (d !== undefined) (c as { dst: VReg }).dst = d + vbase;
        if ("slot" in c) c.slot += sbase;
        return c;
      });
      let term = { ...cb.term };
      mapTermOperands(term, rv);
      if (term.op === "ret" && !term.abort) {
        // A return becomes: result into the call's destination, then continue after the call.
        if (call.dst !== undefined) insts.push({ op: "mov", dst: call.dst, src: term.value, loc: term.loc });
        term = { op: "br", target: contId, loc: term.loc };
      } else {
        mapSuccessors(term, (id) => id + bbase);
      }
      out.blocks.push({ id: cb.id + bbase, insts, term });
    }
    // Releases before aborting returns go into new blocks after the callee's (block ids must stay indexes).
    if (heldRefs.length) {
      for (const cb of body.blocks) {
        const b = out.blocks[cb.id + bbase]!;
        if (b.term.op === "ret" && b.term.abort) b.term = releaseThenReturn(out, heldRefs, b.term);
      }
    }
    // The calling block: arguments into the callee's parameters, then jump to its entry.
    block.insts = block.insts.slice(0, at);
    call.args.forEach((arg, i) => block.insts.push({ op: "mov", dst: body.params[i]! + vbase, src: arg, loc: call.loc }));
    block.term = { op: "br", target: bbase, loc: call.loc };
    // The continuation may hold further calls: it is visited later by this loop (its index is > bi).
  }
  return out;
}

/** Socket references of `fn` that may still be held (live) right before instruction `at` of block `bi`. */
function refsLiveAt(fn: Function, bi: number, at: number): VReg[] {
  const refs = socketRefs(fn);
  if (refs.size === 0) return [];
  const block = fn.blocks[bi]!;
  const live = new Set(computeLiveness(fn).liveOut[bi]);
  for (const u of termUses(block.term)) live.add(u);
  for (let i = block.insts.length - 1; i >= at; i--) {
    const d = instDef(block.insts[i]!);
    if (d !== undefined && i !== at) live.delete(d);
    for (const u of instUses(block.insts[i]!)) live.add(u);
  }
  return [...refs].filter((r) => live.has(r)).sort((a, b) => a - b);
}

/**
 * `if (ref != 0) sk_release(ref)` for each reference, in new blocks of `fn`, then `ret`; returns the branch into the
 * first. The release pass zeroes a reference it released wherever a guarded release may follow, so the guard is
 * exact; the verifier follows both sides as it does for the release pass's own guarded releases.
 */
function releaseThenReturn(fn: Function, refs: readonly VReg[], ret: Extract<Terminator, { op: "ret" }>): Terminator {
  const loc = ret.loc;
  const at = (b: Block) => (fn.blocks.push(b), b.id);
  let next = at({ id: fn.blocks.length, insts: [], term: ret });
  for (const ref of [...refs].reverse()) {
    const release = at({ id: fn.blocks.length, insts: [{ op: "call", helper: Helper.sk_release, args: [{ kind: "vreg", id: ref }], ...(loc ? { loc } : {}) }], term: { op: "br", target: next, ...(loc ? { loc } : {}) } });
    next = at({ id: fn.blocks.length, insts: [], term: { op: "cbr", cmp: "ne", width: 64, a: { kind: "vreg", id: ref }, b: { kind: "imm", value: 0n }, then: release, else: next, ...(loc ? { loc } : {}) } });
  }
  return { op: "br", target: next, ...(loc ? { loc } : {}) };
}
