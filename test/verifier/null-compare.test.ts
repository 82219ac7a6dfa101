/**
 * Comparing a pointer with 0: the kernel's is_branch_taken knows the outcome only for the pointers its reg_not_null
 * lists (socket, map value, map pointer); for ctx and stack pointers it explores both sides. Each case leaves an
 * unknown R0 on the side that is dead only if the pointer were known non-null, so a verifier that prunes that side
 * accepts what the kernel rejects (found by fuzz-mutate, mutant 4439 of select_sock_b at TSBPF_FUZZ=5000).
 */
import { expect, test } from "vitest";
import { JmpOp, Size, alu64, AluOp, exit, jmp64, ldMap, ldx, mov64, reg, st, withLabel as L, call, type Instruction } from "../../compiler/asm/index.ts";
import { verifyProgram } from "../../compiler/verifier/index.ts";
import { describeKernel } from "../support/kernel.ts";
import { MAPS } from "../fixtures/verifier/asm-cases.ts";
import { asmProgram, kernelVerdict, objectOf, hostTarget } from "./kernel-harness.ts";

/** r0 = unknown (a ctx load); `if <ptr setup in r2> ==/!= 0` jumps to an exit with r0 unknown, else r0 = 0. */
const cases: { name: string; setup: Instruction[]; op: JmpOp; maps?: string[] }[] = [
  { name: "ctx_eq_0", setup: [mov64(2, reg(1))], op: JmpOp.JEQ },
  { name: "ctx_ne_0", setup: [mov64(2, reg(1))], op: JmpOp.JNE },
  { name: "fp_eq_0", setup: [mov64(2, reg(10))], op: JmpOp.JEQ },
  { name: "fp_minus_8_ne_0", setup: [mov64(2, reg(10)), alu64(AluOp.ADD, 2, -8)], op: JmpOp.JNE },
  { name: "map_ptr_eq_0", setup: [ldMap(2, "arr")], op: JmpOp.JEQ, maps: ["arr"] },
  {
    name: "map_value_eq_0",
    setup: [
      st(Size.W, 10, -4, 0), mov64(6, reg(0)), mov64(2, reg(10)), alu64(AluOp.ADD, 2, -4), ldMap(1, "arr"), call(1),
      L(jmp64(JmpOp.JNE, 0, 0, "ok"), "chk"), mov64(0, 0), exit(), L(mov64(2, reg(0)), "ok"), mov64(0, reg(6)),
    ],
    op: JmpOp.JEQ,
    maps: ["arr"],
  },
];

const program = (c: (typeof cases)[number]): Instruction[] => [
  ldx(Size.W, 0, 1, 60),
  ...c.setup,
  jmp64(c.op, 2, 0, "out"),
  mov64(0, 0),
  L(exit(), "out"),
];

describeKernel("pointer == 0 branches match the kernel's reg_not_null", () => {
  for (const c of cases) {
    test(c.name, () => {
      const prog = asmProgram(c.name, program(c));
      const maps = (c.maps ?? []).map((m) => MAPS[m]!);
      const k = kernelVerdict(objectOf(prog, maps), c.name);
      const o = verifyProgram(prog, maps, { license: "GPL", target: hostTarget() });
      expect({ ok: o.ok, message: o.error?.message.split("\n")[0] }).toMatchSnapshot();
      expect(o.ok).toBe(k.ok);
    });
  }
});
