/** Instruction semantics on both tiers from the shared case table; the tiers must also agree on instruction counts. */
import { describe, expect, test } from "vitest";
import { INSN_CASES } from "./insn-cases.ts";
import { TIERS, outcome, vmOf } from "./harness.ts";

describe("instruction semantics (shared table, both tiers)", () => {
  for (const c of INSN_CASES) {
    test(c.name, () => {
      const results = TIERS.map((tier) => outcome(vmOf(c.insns, [], { budget: c.budget, loadChecks: c.loadChecks }).program("prog"), tier));
      for (const [i, r] of results.entries()) {
        const tier = TIERS[i];
        if (c.fault) {
          expect(r, `${tier}`).toMatchObject({ fault: c.faultName ?? "VmFault" });
          expect((r as { message: string }).message, `${tier}`).toMatch(c.fault);
        } else {
          expect(r, `${tier}: ${JSON.stringify(r, (_k, v) => (typeof v === "bigint" ? `0x${v.toString(16)}` : v))}`).toHaveProperty("r0", c.r0);
        }
      }
      expect(results[1]).toEqual(results[0]);
    });
  }
});

describe("faults name the pc and the instruction", () => {
  test("message carries pc and llvm-objdump text", () => {
    const r = outcome(vmOf(INSN_CASES.find((c) => c.name === "NULL dereference")!.insns).program("prog"), "jit");
    expect((r as { message: string }).message).toBe("pc 1 (r0 = *(u32 *)(r1 + 0x0)): read of 4 bytes through a NULL pointer");
  });
});
