/**
 * Signed division and remainder without the cpu-v4 encodings (`sdiv`/`smod`, BPF_DIV/BPF_MOD with off=1), which the
 * kernel accepts only from Linux 6.6 ("bpf: Support new signed div/mod instructions", v6.6). Older kernels reject
 * them as unknown opcodes, so a build for an older target rewrites every `sdiv`/`smod` into unsigned operations:
 *
 *   sa = a >>s (w-1)          0 or -1: the sign of a as a mask
 *   |a| = (a ^ sa) - sa       the magnitude (INT_MIN stays 2^(w-1), which is right as an unsigned number)
 *   sb, |b| likewise
 *   a / b = ((|a| /u |b|) ^ s) - s   with s = sa ^ sb (negate when the signs differ)
 *   a % b = ((|a| %u |b|) ^ sa) - sa (the remainder takes the dividend's sign)
 *
 * This is TypeScript's truncating division (`Math.trunc(a / b)`, `a % b`) on the wrapped integer, and it keeps BPF's
 * rules at the edges exactly as the v4 instructions define them: `x / 0` is 0 (|a| /u 0 = 0, negated 0 is 0),
 * `x % 0` is x (|a| %u 0 = |a|, given back a's sign), `INT_MIN / -1` is INT_MIN and `INT_MIN % -1` is 0.
 * Branch-free on purpose: no new paths for the verifier to explore. A constant divisor (the common `x / 10`) needs
 * neither its sign mask nor its magnitude computed at run time.
 */
import type { Function, Inst, Value, VReg } from "../ir/ir.ts";

/** Rewrites every `sdiv`/`smod` of `fn` (in place) into the unsigned sequence above; true if anything changed. */
export function lowerSignedDivision(fn: Function): boolean {
  let changed = false;
  for (const b of fn.blocks) {
    if (!b.insts.some((i) => i.op === "bin" && (i.kind === "sdiv" || i.kind === "smod"))) continue;
    const out: Inst[] = [];
    for (const inst of b.insts) {
      if (inst.op === "bin" && (inst.kind === "sdiv" || inst.kind === "smod")) {
        expand(fn, inst, out);
        changed = true;
      } else out.push(inst);
    }
    b.insts = out;
  }
  return changed;
}

type Bin = Extract<Inst, { op: "bin" }>;

function expand(fn: Function, inst: Bin, out: Inst[]): void {
  const { width, loc } = inst;
  const fresh = (): VReg => fn.vregCount++;
  const v = (id: VReg): Value => ({ kind: "vreg", id });
  const imm = (value: bigint): Value => ({ kind: "imm", value: BigInt.asUintN(64, value) });
  const bin = (kind: Bin["kind"], a: Value, b: Value, dst = fresh()): VReg => {
    out.push({ op: "bin", kind, width, dst, a, b, loc });
    return dst;
  };
  const isZero = (x: Value): boolean => x.kind === "imm" && BigInt.asUintN(width, x.value) === 0n;
  /** The sign mask of `x` (0 or all ones at `width`) and its magnitude. */
  const signAndMagnitude = (x: Value): { sign: Value; mag: Value } => {
    if (x.kind === "imm") {
      const s = BigInt.asIntN(width, x.value);
      return { sign: imm(s < 0n ? -1n : 0n), mag: imm(BigInt.asUintN(width, s < 0n ? -s : s)) };
    }
    const sign = bin("ashr", x, imm(BigInt(width - 1)));
    return { sign: v(sign), mag: v(bin("sub", v(bin("xor", x, v(sign))), v(sign))) };
  };
  /** `dst = (x ^ s) - s`: x negated when the mask s is all ones. */
  const applySign = (x: VReg, s: Value, dst: VReg): void => {
    if (s.kind === "imm") {
      // x is a result at `width` already (32-bit operations zero-extend), so a copy keeps it exact.
      if (isZero(s)) out.push({ op: "mov", dst, src: v(x), loc });
      else out.push({ op: "neg", dst, src: v(x), width, loc });
      return;
    }
    bin("sub", v(bin("xor", v(x), s)), s, dst);
  };

  const a = signAndMagnitude(inst.a);
  const b = signAndMagnitude(inst.b);
  if (inst.kind === "smod") {
    applySign(bin("umod", a.mag, b.mag), a.sign, inst.dst);
    return;
  }
  const q = bin("udiv", a.mag, b.mag);
  let s: Value;
  if (a.sign.kind === "imm" && b.sign.kind === "imm") s = imm(a.sign.value ^ b.sign.value);
  else if (isZero(a.sign)) s = b.sign;
  else if (isZero(b.sign)) s = a.sign;
  else s = v(bin("xor", a.sign, b.sign));
  applySign(q, s, inst.dst);
}
