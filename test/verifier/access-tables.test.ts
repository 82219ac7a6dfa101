/**
 * The access tables the verifier relies on, checked exhaustively against the live kernel: every (offset, size) load
 * from the sk_lookup context and from a NULL-checked socket, accepted exactly when the kernel accepts it.
 */
import { expect, test } from "vitest";
import { JmpOp, Size, exit, jmp64, ldx, mov64, withLabel, type Instruction } from "../../compiler/asm/index.ts";
import { verifyProgram } from "../../compiler/verifier/index.ts";
import { describeKernel } from "../support/kernel.ts";
import { asmProgram, kernelVerdict, objectOf, hostTarget } from "./kernel-harness.ts";

const SIZES = [[Size.B, 1], [Size.H, 2], [Size.W, 4], [Size.DW, 8]] as const;

function compare(limit: number, body: (size: Size, off: number) => Instruction[]): string[] {
  const diff: string[] = [];
  for (let off = 0; off < limit; off++) {
    for (const [size, n] of SIZES) {
      const p = asmProgram("p", body(size, off));
      const k = kernelVerdict(objectOf(p, []), "p").ok;
      const o = verifyProgram(p, [], { target: hostTarget() }).ok;
      if (k !== o) diff.push(`off=${off} size=${n}: kernel ${k ? "accepts" : "rejects"}`);
    }
  }
  return diff;
}

describeKernel("load tables against the kernel", () => {
  test("every context load (0..75 x 1/2/4/8)", () => {
    expect(compare(76, (size, off) => [ldx(size, 2, 1, off), mov64(0, 1), exit()])).toEqual([]);
  });

  test("every bpf_sock load through a checked ctx->sk (0..83 x 1/2/4/8)", () => {
    const body = (size: Size, off: number): Instruction[] => [
      ldx(Size.DW, 2, 1, 0), jmp64(JmpOp.JEQ, 2, 0, "o"), ldx(size, 3, 2, off), withLabel(mov64(0, 1), "o"), exit(),
    ];
    expect(compare(84, body)).toEqual([]);
  });
});
