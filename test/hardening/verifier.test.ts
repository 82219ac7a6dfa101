/**
 * Verifier cost on hostile objects (issue 11): `verify` of a 20,000-instruction object of if/else diamonds took 28 s
 * while the kernel prunes it at every join. With the kernel's precision tracking and checkpoints it is linear; the
 * processed count must equal the running kernel's (verified_insns), and verification must stay fast.
 */
import { describe, expect, test } from "vitest";
import type { Instruction } from "../../compiler/asm/instruction.ts";
import { verifyProgram } from "../../compiler/verifier/index.ts";
import { openKernel } from "../../runtime/kernel/open.ts";
import { describeKernel } from "../support/kernel.ts";
import { objectOf } from "../vm/harness.ts";

/**
 * `n` diamonds: `if r3 > r5 goto +2; r2 = i; goto +1; r4 = i`, with r3 and r5 unknown ctx fields. No branch is ever
 * decided, so nothing becomes precise and the two paths' states are equal at every join: the kernel prunes there.
 */
function diamonds(n: number): Instruction[] {
  const insns: Instruction[] = [
    { opcode: 0x61, dst: 3, src: 1, off: 16, imm: 0 }, // r3 = ctx->remote_ip4
    { opcode: 0x61, dst: 5, src: 1, off: 40, imm: 0 }, // r5 = ctx->local_ip4
  ];
  for (let i = 0; i < n; i++) {
    insns.push(
      { opcode: 0x2d, dst: 3, src: 5, off: 2, imm: 0 },
      { opcode: 0xb7, dst: 2, src: 0, off: 0, imm: i },
      { opcode: 0x05, dst: 0, src: 0, off: 1, imm: 0 },
      { opcode: 0xb7, dst: 4, src: 0, off: 0, imm: i },
    );
  }
  insns.push({ opcode: 0xb7, dst: 0, src: 0, off: 0, imm: 1 }, { opcode: 0x95, dst: 0, src: 0, off: 0, imm: 0 });
  return insns;
}

describe("if/else diamonds verify in linear time", () => {
  test("20,004 instructions: accepted, a bounded number of visits per instruction, in seconds", () => {
    const file = objectOf({ p: diamonds(5000) });
    const t0 = Date.now();
    const r = verifyProgram(file.programs[0]!, []);
    expect(r.ok).toBe(true);
    // Linear, like the kernel's (about 10 per diamond with its checkpoint heuristics); the quadratic exploration this
    // guards against is millions.
    expect(r.insnsProcessed).toBeLessThan(100_000);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });
});

describeKernel("the kernel processes the diamonds the same way", () => {
  test("processed instructions stay within the kernel's verified_insns (both linear)", () => {
    // Both linear (500 diamonds: 5082 on 6.18); the quadratic exploration this test guards against would be ~250,000.
    const file = objectOf({ p: diamonds(500) });
    const k = openKernel().load(file);
    try {
      const kernel = k.program("p").info().verifiedInsns;
      expect(kernel).toBeLessThan(20 * 500);
      expect(verifyProgram(file.programs[0]!, []).insnsProcessed).toBeLessThanOrEqual(kernel);
    } finally {
      k.close();
    }
  });
});
