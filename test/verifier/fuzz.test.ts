/**
 * Differential fuzzing against the live kernel: random straight-line and forward-branching programs over context
 * loads, 32/64-bit ALU, stack spills and conditional jumps, ending in `exit` (so the return-range check decides many
 * of them). tsbpf must never accept a program the kernel rejects; false rejects are counted and must stay rare.
 */
import { expect, test } from "vitest";
import {
  AluOp, JmpOp, Size, alu32, alu64, exit, jmp32, jmp64, ldx, mov64, reg, st, stx, withLabel, type Instruction,
} from "../../compiler/asm/index.ts";
import { verifyProgram } from "../../compiler/verifier/index.ts";
import { describeKernel } from "../support/kernel.ts";
import { asmProgram, kernelVerdict, objectOf, hostTarget } from "./kernel-harness.ts";

function rng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

const CTX_LOADS: [Size, number][] = [[Size.W, 8], [Size.W, 12], [Size.W, 16], [Size.H, 36], [Size.W, 40], [Size.W, 60], [Size.B, 60], [Size.H, 60], [Size.W, 64], [Size.B, 13]];
const ALU_OPS = [AluOp.ADD, AluOp.SUB, AluOp.MUL, AluOp.DIV, AluOp.OR, AluOp.AND, AluOp.LSH, AluOp.RSH, AluOp.MOD, AluOp.XOR, AluOp.ARSH, AluOp.MOV];
const JMP_OPS = [JmpOp.JEQ, JmpOp.JNE, JmpOp.JGT, JmpOp.JGE, JmpOp.JLT, JmpOp.JLE, JmpOp.JSGT, JmpOp.JSGE, JmpOp.JSLT, JmpOp.JSLE, JmpOp.JSET];
const IMMS = [0, 1, 2, 3, 7, 8, 15, 16, 31, 63, 255, 0xffff, 7007, -1, -2, 0x7fffffff, -0x80000000];

/** A random program: r6 = ctx, registers r0-r5 get ctx fields and constants, then random operations. */
export function randomProgram(seed: number, loops = false): Instruction[] {
  const r = rng(seed);
  const pick = <T>(a: readonly T[]): T => a[r(a.length)]!;
  const out: Instruction[] = [mov64(6, reg(1))];
  for (let i = 0; i <= 5; i++) {
    if (r(3) === 0) out.push(mov64(i, pick(IMMS)));
    else {
      const [sz, off] = pick(CTX_LOADS);
      out.push(ldx(sz, i, 6, off));
    }
  }
  const body = 6 + r(14);
  const labels: { at: number; name: string }[] = [];
  for (let k = 0; k < body; k++) {
    const d = r(6);
    const kind = r(10);
    if (kind < 5) {
      const op = pick(ALU_OPS);
      const operand = r(2) ? reg(r(6)) : op === AluOp.LSH || op === AluOp.RSH || op === AluOp.ARSH ? r(40) : pick(IMMS);
      if ((op === AluOp.DIV || op === AluOp.MOD) && operand === 0) continue;
      if (typeof operand === "number" && (op === AluOp.LSH || op === AluOp.RSH || op === AluOp.ARSH) && operand >= 32 && r(2)) continue;
      out.push(r(3) === 0 ? alu32(op, d, operand) : alu64(op, d, operand));
    } else if (kind < 8) {
      const name = `L${k}`;
      // With `loops`, a third of the jumps go backwards (to any earlier body instruction).
      const back = loops && r(3) === 0;
      labels.push({ at: back ? 7 + r(Math.max(1, out.length - 7)) : out.length + 1 + r(4), name });
      const operand = r(2) ? reg(r(6)) : pick(IMMS);
      out.push(r(3) === 0 ? jmp32(pick(JMP_OPS), d, operand, name) : jmp64(pick(JMP_OPS), d, operand, name));
    } else if (kind === 8) {
      const slot = -8 * (1 + r(3));
      out.push(r(2) ? stx(Size.DW, 10, slot, d) : st(Size.DW, 10, slot, pick(IMMS)));
      out.push(ldx(Size.DW, r(6), 10, slot));
    } else {
      const [sz, off] = pick(CTX_LOADS);
      out.push(ldx(sz, d, 6, off));
    }
  }
  // Often narrow r0 so that some programs pass the [0, 1] return check.
  if (r(2)) out.push(alu64(AluOp.AND, 0, r(3) ? 1 : 3));
  out.push(exit());
  for (const l of labels) {
    const at = Math.min(l.at, out.length - 1);
    withLabel(out[at]!, l.name);
  }
  return out;
}

describeKernel("differential fuzzing against the kernel", () => {
  test("no false accepts over 400 random programs; false rejects stay rare", () => {
    const falseAccepts: string[] = [];
    const falseRejects: string[] = [];
    let accepted = 0;
    const n = Number(process.env.TSBPF_FUZZ ?? 400);
    for (let seed = 1; seed <= n; seed++) {
      const prog = asmProgram(`fz${seed}`, randomProgram(seed));
      const k = kernelVerdict(objectOf(prog, []), prog.name);
      const o = verifyProgram(prog, [], { target: hostTarget() });
      if (k.ok) accepted++;
      if (o.ok && !k.ok) falseAccepts.push(`seed ${seed}: kernel: ${k.log.trim().split("\n").slice(-3, -2)[0]}`);
      if (!o.ok && k.ok) falseRejects.push(`seed ${seed}: ${o.error?.pc} ${o.error?.insn}: ${o.error?.message}`);
    }
    console.log(`fuzz: ${accepted} accepted by the kernel`);
    if (falseRejects.length) console.warn(`false rejects (${falseRejects.length}):\n${falseRejects.join("\n")}`);
    expect(falseAccepts).toEqual([]);
    // The generator is tuned so that both verdicts are common.
    expect(accepted).toBeGreaterThan(40);
    expect(falseRejects.length).toBeLessThanOrEqual(Math.ceil(n / 100));
  }, 900_000);
});

describeKernel("differential fuzzing of loops against the kernel", () => {
  test("no false accepts over 100 random programs with backward jumps", () => {
    const falseAccepts: string[] = [];
    let accepted = 0;
    let budget = 0;
    const n = Number(process.env.TSBPF_FUZZ ?? 400) >> 2;
    for (let seed = 1; seed <= n; seed++) {
      const prog = asmProgram(`lp${seed}`, randomProgram(seed + 100_000, true));
      const k = kernelVerdict(objectOf(prog, []), prog.name);
      // A smaller instruction budget keeps the test fast; it can only make tsbpf reject more, never accept more.
      const o = verifyProgram(prog, [], { maxInsns: 50_000, target: hostTarget() });
      if (k.ok) accepted++;
      if (!o.ok && /too large/.test(o.error!.message)) budget++;
      if (o.ok && !k.ok) falseAccepts.push(`seed ${seed}: kernel: ${k.log.trim().split("\n").filter((l) => !/^(verification time|stack depth|processed )/.test(l)).slice(-1)[0]}`);
    }
    console.log(`fuzz loops: ${accepted} of ${n} accepted by the kernel, ${budget} hit tsbpf's reduced budget`);
    expect(falseAccepts).toEqual([]);
  }, 900_000);
});
