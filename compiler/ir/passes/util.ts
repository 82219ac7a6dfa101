/**
 * Small structural helpers over the IR shared by the IR passes and the backend: def/use sets, operand rewriting,
 * successors/predecessors and deep cloning. Kept free of policy so every pass sees the same notion of "use".
 */
import type { Block, Function, Inst, Terminator, Value, VReg } from "../ir.ts";

/** The vreg an instruction defines, if any. */
export function instDef(inst: Inst): VReg | undefined {
  switch (inst.op) {
    case "slot_store":
    case "store":
    case "atomic_add":
      return undefined;
    case "call":
    case "call_local":
      return inst.dst;
    default:
      return inst.dst;
  }
}

/**
 * Operands an instruction reads, in a fixed order. `ctx` is the program's context vreg: `ctx_load` reads it
 * implicitly (the IR leaves it out, but the register holding it must be live at every context load).
 */
export function instOperands(inst: Inst): Value[] {
  switch (inst.op) {
    case "mov":
    case "neg":
    case "ext":
    case "bswap":
      return [inst.src];
    case "bin":
    case "setcc":
      return [inst.a, inst.b];
    case "slot_store":
      return [inst.value];
    case "load":
      return [{ kind: "vreg", id: inst.ptr }];
    case "store":
    case "atomic_add":
      return [{ kind: "vreg", id: inst.ptr }, inst.value];
    case "call":
    case "call_local":
      return inst.args;
    default:
      return [];
  }
}

/** Vregs an instruction reads (including the implicit ctx of `ctx_load` when `ctx` is given). */
export function instUses(inst: Inst, ctx?: VReg): VReg[] {
  const out: VReg[] = [];
  for (const v of instOperands(inst)) if (v.kind === "vreg") out.push(v.id);
  if (inst.op === "ctx_load" && ctx !== undefined) out.push(ctx);
  return out;
}

/** Vregs a terminator reads. */
export function termUses(term: Terminator): VReg[] {
  const vals = term.op === "cbr" ? [term.a, term.b] : term.op === "ret" ? [term.value] : [];
  return vals.filter((v) => v.kind === "vreg").map((v) => (v as { id: VReg }).id);
}

/** Applies `f` to every operand of an instruction, in place. `f` returns the replacement operand. */
export function mapInstOperands(inst: Inst, f: (v: Value) => Value): void {
  switch (inst.op) {
    case "mov":
    case "neg":
    case "ext":
    case "bswap":
      inst.src = f(inst.src);
      return;
    case "bin":
    case "setcc":
      inst.a = f(inst.a);
      inst.b = f(inst.b);
      return;
    case "slot_store":
      inst.value = f(inst.value);
      return;
    case "load": {
      const p = f({ kind: "vreg", id: inst.ptr });
      if (p.kind === "vreg") inst.ptr = p.id;
      return;
    }
    case "store":
    case "atomic_add": {
      const p = f({ kind: "vreg", id: inst.ptr });
      if (p.kind === "vreg") inst.ptr = p.id;
      inst.value = f(inst.value);
      return;
    }
    case "call":
    case "call_local":
      inst.args = inst.args.map(f);
      return;
    default:
      return;
  }
}

/** Applies `f` to every operand of a terminator, in place. */
export function mapTermOperands(term: Terminator, f: (v: Value) => Value): void {
  if (term.op === "cbr") {
    term.a = f(term.a);
    term.b = f(term.b);
  } else if (term.op === "ret") {
    term.value = f(term.value);
  }
}

/** Successor block ids of a terminator (then before else). */
export function successors(term: Terminator): number[] {
  if (term.op === "br") return [term.target];
  if (term.op === "cbr") return term.then === term.else ? [term.then] : [term.then, term.else];
  return [];
}

/** Rewrites successor ids of a terminator through `f`, in place. */
export function mapSuccessors(term: Terminator, f: (id: number) => number): void {
  if (term.op === "br") term.target = f(term.target);
  else if (term.op === "cbr") {
    term.then = f(term.then);
    term.else = f(term.else);
  }
}

/** Predecessor lists indexed by block id. */
export function predecessors(blocks: readonly Block[]): number[][] {
  const preds: number[][] = blocks.map(() => []);
  for (const b of blocks) for (const s of successors(b.term)) preds[s]!.push(b.id);
  return preds;
}

/** True when an instruction has an effect beyond defining its vreg (so it must survive dead-code elimination). */
export function hasSideEffect(inst: Inst): boolean {
  return (
    inst.op === "slot_store" ||
    inst.op === "store" ||
    inst.op === "atomic_add" ||
    inst.op === "call" ||
    inst.op === "call_local"
  );
}

/** Deep copy of a function (blocks, instructions, slots, pointer kinds), so passes never mutate their input. */
export function cloneFunction(fn: Function): Function {
  return {
    ...fn,
    params: [...fn.params],
    blocks: fn.blocks.map((b) => ({ id: b.id, insts: b.insts.map(cloneInst), term: cloneTerm(b.term) })),
    slots: fn.slots.map((s) => ({ ...s })),
    ptrKinds: fn.ptrKinds ? new Map(fn.ptrKinds) : undefined,
  };
}

const cloneValue = (v: Value): Value => ({ ...v });

/** Deep copy of one instruction. */
export function cloneInst(inst: Inst): Inst {
  const c = { ...inst } as Inst;
  mapInstOperands(c, cloneValue);
  return c;
}

/** Deep copy of one terminator. */
export function cloneTerm(term: Terminator): Terminator {
  const c = { ...term } as Terminator;
  mapTermOperands(c, cloneValue);
  return c;
}

/**
 * Renumbers blocks so that ids are 0..n-1 in array order and drops blocks unreachable from the entry. Block 0 stays
 * the entry.
 */
export function compactBlocks(fn: Function): void {
  const reach = new Set<number>();
  const byId = new Map(fn.blocks.map((b) => [b.id, b]));
  const stack = [fn.blocks[0]!.id];
  while (stack.length) {
    const id = stack.pop()!;
    if (reach.has(id)) continue;
    reach.add(id);
    for (const s of successors(byId.get(id)!.term)) stack.push(s);
  }
  const kept = fn.blocks.filter((b) => reach.has(b.id));
  const renum = new Map(kept.map((b, i) => [b.id, i]));
  for (const b of kept) {
    b.id = renum.get(b.id)!;
    mapSuccessors(b.term, (id) => renum.get(id)!);
  }
  fn.blocks = kept;
}

/**
 * The two successors of `b`'s conditional branch when both are distinct, not the entry, and reached only from `b`
 * (the arms of a diamond that a pass may rewrite without affecting other paths); otherwise undefined.
 */
export function privateArms(fn: Function, preds: readonly number[][], b: Block): [Block, Block] | undefined {
  const t = b.term;
  if (t.op !== "cbr" || t.then === t.else) return undefined;
  const T = fn.blocks[t.then]!;
  const E = fn.blocks[t.else]!;
  if (T.id === 0 || E.id === 0 || preds[T.id]!.length !== 1 || preds[E.id]!.length !== 1) return undefined;
  return [T, E];
}
