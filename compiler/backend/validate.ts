/**
 * Structural checks of an IR function before the backend touches it, so that malformed IR (a frontend bug) is
 * reported as a BackendError naming the problem instead of failing somewhere inside a pass.
 */
import type { Function } from "../ir/ir.ts";
import { instOperands, instDef, successors, termUses } from "../ir/passes/util.ts";
import { BackendError } from "./errors.ts";

/** Throws BackendError when `fn` breaks the IR contract's structural rules (see compiler/ir/ir.ts). */
export function validate(fn: Function): void {
  const fail = (msg: string, loc = fn.loc): never => {
    throw new BackendError(`${fn.name}: malformed IR: ${msg}`, loc);
  };
  if (fn.blocks.length === 0) fail("no blocks");
  const slots = new Set(fn.slots.map((s) => s.id));
  const vregOk = (v: number) => Number.isInteger(v) && v >= 0 && v < fn.vregCount;
  for (const p of fn.params) if (!vregOk(p)) fail(`parameter v${p} is outside 0..${fn.vregCount - 1}`);
  fn.blocks.forEach((b, i) => {
    if (b.id !== i) fail(`block at index ${i} has id ${b.id}`);
    for (const inst of b.insts) {
      const d = instDef(inst);
      if (d !== undefined && !vregOk(d)) fail(`b${b.id}: ${inst.op} defines v${d}, outside 0..${fn.vregCount - 1}`, inst.loc);
      for (const o of instOperands(inst)) if (o.kind === "vreg" && !vregOk(o.id)) fail(`b${b.id}: ${inst.op} reads v${o.id}, outside 0..${fn.vregCount - 1}`, inst.loc);
      if ("slot" in inst && !slots.has(inst.slot)) fail(`b${b.id}: ${inst.op} uses unknown stack slot s${inst.slot}`, inst.loc);
      if ((inst.op === "load" || inst.op === "store" || inst.op === "atomic_add") && !vregOk(inst.ptr)) fail(`b${b.id}: ${inst.op} through v${inst.ptr}`, inst.loc);
      if (inst.op === "call" && inst.args.length > 5) fail(`b${b.id}: helper ${inst.helper} called with ${inst.args.length} arguments (BPF passes at most 5)`, inst.loc);
    }
    for (const s of successors(b.term)) if (!Number.isInteger(s) || s < 0 || s >= fn.blocks.length) fail(`b${b.id} jumps to missing block b${s}`, b.term.loc);
    for (const u of termUses(b.term)) if (!vregOk(u)) fail(`b${b.id}: terminator reads v${u}`, b.term.loc);
  });
}
