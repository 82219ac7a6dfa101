/**
 * Budget checkpoints in looping code (runtime/vm/jit-budget.ts): only the entry and the loop headers compare the
 * counter with the budget, each reserving the longest run to the next checkpoint, and a reserve that does not fit
 * sends the run to the interpreter at the checkpoint. The loop below has a header, two arms of different lengths with
 * side effects and a latch, so the budget runs out in blocks that carry no check of their own: both tiers must stop
 * at the same pc with the same count and map contents for every budget.
 */
import { describe, expect, test } from "vitest";
import { MapType } from "../../compiler/abi/maps.ts";
import { AluOp, AtomicOp, JmpOp, Size, alu64, atomic, exit, ja, jmp64, mov64, reg, withLabel, type Instruction } from "../../compiler/asm/index.ts";
import { jitSource } from "../../runtime/vm/jit.ts";
import { VmObject } from "../../runtime/vm/object.ts";
import { BudgetExceeded, VmFault } from "../../runtime/vm/region.ts";
import { TCP4, TIERS, lookupAt, mapDef, objectOf, vmOf } from "./harness.ts";

const LOOP: Instruction[] = [
  ...lookupAt("a", 0),
  jmp64(JmpOp.JEQ, 0, 0, "end"),
  mov64(6, reg(0)),
  mov64(8, 0),
  withLabel(mov64(1, 1), "top"),
  atomic(Size.DW, AtomicOp.ADD, 6, 0, 1),
  alu64(AluOp.ADD, 8, 1),
  jmp64(JmpOp.JSET, 8, 1, "odd"),
  // even arm: long
  atomic(Size.DW, AtomicOp.ADD, 6, 8, 1),
  alu64(AluOp.ADD, 7, 3),
  atomic(Size.DW, AtomicOp.ADD, 6, 8, 7),
  alu64(AluOp.ADD, 7, 5),
  alu64(AluOp.ADD, 7, 5),
  ja("latch"),
  // odd arm: short
  withLabel(atomic(Size.DW, AtomicOp.ADD, 6, 0, 8), "odd"),
  withLabel(jmp64(JmpOp.JLT, 8, 20, "top"), "latch"),
  withLabel(mov64(0, 1), "end"),
  exit(),
];
const defs = [mapDef("a", MapType.ARRAY, 4, 16, 1)];

describe("JIT budget checkpoints in a loop", () => {
  test("only the entry and the loop header compare with the budget", () => {
    const src = jitSource(vmOf(LOOP, defs).program("prog").prepared);
    expect(src.match(/>BU\)BX/g)?.length).toBe(2);
    expect(src).toMatch(/if\(n\+\d+>BU\)BX\(M,n,9,/);
  });

  test("every budget up to past the end: the same pc, count and side effects on both tiers", () => {
    const file = objectOf({ prog: LOOP }, defs);
    const pcs = new Set<number>();
    let finished = 0;
    for (let budget = 1; budget <= 260; budget++) {
      const seen = TIERS.map((tier) => {
        const obj = new VmObject(file, { budget, seed: 9 });
        try {
          const r = obj.run("prog", TCP4, { tier });
          return { ok: r.verdict, n: r.insnsExecuted, value: obj.map("a").get(0) };
        } catch (e) {
          expect(e).toBeInstanceOf(BudgetExceeded);
          const f = e as VmFault;
          pcs.add(f.pc);
          return { pc: f.pc, message: f.message, n: obj.machine.n, value: obj.map("a").get(0) };
        }
      });
      expect(seen[1], `budget ${budget}`).toEqual(seen[0]);
      if ("ok" in seen[0]!) finished++;
    }
    expect(finished).toBeGreaterThan(0);
    // The fault lands in both arms and the latch, not only in blocks that check.
    for (const pc of [14, 17, 19, 20]) expect(pcs.has(pc), `pc ${pc}`).toBe(true);
  });

  test("a loop of 12,000 one-instruction blocks compiles (no recursion over blocks) and stops where the interpreter does", () => {
    // `if r8 == 12345 goto +0` ends a block at every slot; the last one jumps back to the first.
    const chain: Instruction[] = Array.from({ length: 12_000 }, () => ({ opcode: 0x15, dst: 8, src: 0, off: 0, imm: 12345 }));
    const prog = [mov64(8, 0), withLabel(chain[0]!, "top"), ...chain.slice(1), ja("top")];
    const outs = TIERS.map((tier) => {
      try {
        new VmObject(objectOf({ prog }), { budget: 30_000 }).run("prog", TCP4, { tier });
        return { ok: true };
      } catch (e) {
        expect(e).toBeInstanceOf(BudgetExceeded);
        return { pc: (e as VmFault).pc };
      }
    });
    expect(outs[1]).toEqual(outs[0]);
    // The budget + 1st instruction faults: 30,000 past the mov, 12,001 slots a lap.
    expect(outs[0]).toEqual({ pc: 1 + ((30_000 - 1) % 12_001) });
    expect(jitSource(vmOf(prog).program("prog").prepared).match(/>BU\)BX/g)?.length).toBe(2);
  });
});
