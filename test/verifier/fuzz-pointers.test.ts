/**
 * Differential fuzzing of the pointer rules against the live kernel: random programs that look up SOCKMAP, HASH and
 * ARRAY maps, load ctx->sk, null-check (or not), dereference, store, do pointer arithmetic, spill and fill pointers,
 * assign and release sockets. tsbpf must never accept what the kernel rejects; false rejects must stay rare.
 */
import { expect, test } from "vitest";
import {
  AluOp, AtomicOp, JmpOp, Size, alu64, atomic, call, exit, jmp64, ldMap, ldx, mov64, reg, st, stx, withLabel, type Instruction,
} from "../../compiler/asm/index.ts";
import { verifyProgram } from "../../compiler/verifier/index.ts";
import { describeKernel } from "../support/kernel.ts";
import { MAPS } from "../fixtures/verifier/asm-cases.ts";
import { asmProgram, kernelVerdict, objectOf, hostTarget } from "./kernel-harness.ts";

function rng(seed: number): (n: number) => number {
  let x = (seed * 2654435761) >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

const SIZES = [Size.B, Size.H, Size.W, Size.DW];
const HOLD = [0, 7, 8, 9];

/** A random program over maps and sockets; r6 keeps the context. */
export function randomPointerProgram(seed: number): Instruction[] {
  const r = rng(seed);
  const pick = <T>(a: readonly T[]): T => a[r(a.length)]!;
  const out: Instruction[] = [mov64(6, reg(1)), mov64(7, 0), mov64(8, 0), mov64(9, 0)];
  const labels: { at: number; name: string }[] = [];
  const steps = 4 + r(10);
  for (let k = 0; k < steps; k++) {
    const x = pick(HOLD);
    switch (r(12)) {
      case 0:
      case 1: {
        const m = pick(["sockets", "hash", "arr"]);
        const at = pick([-4, -8, -16]);
        if (r(2)) out.push(st(Size.W, 10, at, r(5)));
        else out.push(ldx(Size.W, 1, 6, 60), stx(Size.W, 10, at, 1));
        out.push(mov64(2, reg(10)), alu64(AluOp.ADD, 2, at), ldMap(1, m), call(1), mov64(pick([7, 8, 9]), reg(0)));
        break;
      }
      case 2:
        out.push(ldx(Size.DW, pick([7, 8, 9]), 6, 0));
        break;
      case 3:
      case 4: {
        const name = `L${k}`;
        labels.push({ at: out.length + 1 + r(5), name });
        out.push(jmp64(r(2) ? JmpOp.JEQ : JmpOp.JNE, x, 0, name));
        break;
      }
      case 5:
        out.push(ldx(pick(SIZES), 1, x, pick([0, 4, 8, 12, 16, 44, 48, 72, 2])));
        break;
      case 6:
        out.push(st(pick(SIZES), x, pick([0, 4, 8, 12]), 1));
        break;
      case 7:
        out.push(mov64(1, reg(6)), mov64(2, reg(x)), mov64(3, r(4) === 0 ? 1 : 0), call(124));
        break;
      case 8:
        out.push(mov64(1, reg(x)), call(86));
        break;
      case 9:
        out.push(r(2) ? alu64(AluOp.ADD, x, pick([0, 4, 8, -8])) : mov64(x, reg(pick(HOLD))));
        break;
      case 10: {
        const at = pick([-16, -24]);
        out.push(stx(Size.DW, 10, at, x), ldx(Size.DW, pick([7, 8, 9]), 10, at));
        break;
      }
      default:
        out.push(mov64(1, 1), atomic(Size.DW, AtomicOp.ADD, x, 0, 1));
    }
  }
  out.push(mov64(0, r(6) === 0 ? 2 : 1), exit());
  for (const l of labels) withLabel(out[Math.min(l.at, out.length - 2)]!, l.name);
  return out;
}

describeKernel("differential fuzzing of pointer rules against the kernel", () => {
  test("no false accepts over 400 random pointer programs", () => {
    const maps = Object.values(MAPS);
    const falseAccepts: string[] = [];
    const falseRejects: string[] = [];
    let accepted = 0;
    const n = Number(process.env.TSBPF_FUZZ ?? 400);
    for (let seed = 1; seed <= n; seed++) {
      const prog = asmProgram(`fp${seed}`, randomPointerProgram(seed));
      const k = kernelVerdict(objectOf(prog, maps), prog.name);
      const o = verifyProgram(prog, maps, { target: hostTarget() });
      if (k.ok) accepted++;
      if (o.ok && !k.ok) falseAccepts.push(`seed ${seed}: kernel: ${k.log.trim().split("\n").slice(-3, -2)[0]}`);
      if (!o.ok && k.ok) falseRejects.push(`seed ${seed}: ${o.error?.pc} ${o.error?.insn}: ${o.error?.message}`);
    }
    console.log(`fuzz-pointers: ${accepted} of ${n} accepted by the kernel`);
    if (falseRejects.length) console.warn(`false rejects (${falseRejects.length}):\n${falseRejects.join("\n")}`);
    expect(falseAccepts).toEqual([]);
    // Most random pointer programs break a rule (that is the point); some must still pass.
    expect(accepted).toBeGreaterThan(n / 200);
    expect(falseRejects.length).toBeLessThanOrEqual(Math.ceil(n / 100));
  }, 900_000);
});
