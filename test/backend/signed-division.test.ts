/**
 * Signed `/` and `%` as a default (Linux 5.10) build lowers them (no cpu-v4 sdiv/smod, see backend/signed-div.ts),
 * run on edge operands in the VM interpreter, the VM JIT and the kernel (BPF_PROG_TEST_RUN). All three must give
 * TypeScript's truncating results on the wrapped integers with BPF's zero-divisor rule (x / 0 = 0, x % 0 = x) and
 * INT_MIN / -1 = INT_MIN, INT_MIN % -1 = 0 — what the cpu-v4 instructions and the IR constant folder define. A 6.6
 * build keeps sdiv/smod and must agree.
 */
import { afterAll, describe, expect, it } from "vitest";
import { Class, Mode, classOf } from "../../compiler/asm/index.ts";
import { compile, formatDiagnostics } from "../../compiler/index.ts";
import { readObject } from "../../compiler/elf/index.ts";
import type { LoadedObject } from "../../runtime/kernel/load.ts";
import { openKernel } from "../../runtime/kernel/open.ts";
import { VmObject } from "../../runtime/index.ts";
import { describeKernel } from "../support/kernel.ts";

const SOURCE = `
import { type SkLookup, type Verdict, SK_PASS, ArrayMap, type i32, type i64, type u64 } from "tsbpf";
interface Operands { a: i32; b: i32; c: i64; d: i64 }
export const input = new ArrayMap<Operands>({ maxEntries: 1 });
export const out = new ArrayMap<u64>({ maxEntries: 12 });
export function divide(ctx: SkLookup): Verdict {
  const v = input.lookup(0);
  if (v === null) return SK_PASS;
  const a = v.a;
  const b = v.b;
  const c = v.c;
  const d = v.d;
  out.update(0, BigInt(a / b));
  out.update(1, BigInt(a % b));
  out.update(2, c / d);
  out.update(3, c % d);
  out.update(4, BigInt(a / -3));
  out.update(5, BigInt(a % -3));
  out.update(6, BigInt(a / 7));
  out.update(7, BigInt(a % 7));
  out.update(8, c / -3n);
  out.update(9, c % -3n);
  out.update(10, c / 1000000007n);
  out.update(11, c % 1000000007n);
  return SK_PASS;
}
`;

const I32_MIN = -(2n ** 31n), I32_MAX = 2n ** 31n - 1n;
const I64_MIN = -(2n ** 63n), I64_MAX = 2n ** 63n - 1n;
/** Dividends and divisors: signs, zero, ±1, the extremes and their neighbours. */
const I32S = [0n, 1n, -1n, 2n, -2n, 7n, -7n, 3n, I32_MIN, I32_MIN + 1n, I32_MAX];
const I64S = [0n, 1n, -1n, 7n, -7n, 3n, I64_MIN, I64_MIN + 1n, I64_MAX, -(2n ** 40n) - 5n];

/** TypeScript's truncating division on `bits`-bit integers, with BPF's rules for a zero divisor. */
function div(a: bigint, b: bigint, bits: number): bigint {
  return b === 0n ? 0n : BigInt.asIntN(bits, a / b);
}
function mod(a: bigint, b: bigint, bits: number): bigint {
  return b === 0n ? a : BigInt.asIntN(bits, a % b);
}

function expected(a: bigint, b: bigint, c: bigint, d: bigint): bigint[] {
  return [
    div(a, b, 32), mod(a, b, 32), div(c, d, 64), mod(c, d, 64),
    div(a, -3n, 32), mod(a, -3n, 32), div(a, 7n, 32), mod(a, 7n, 32),
    div(c, -3n, 64), mod(c, -3n, 64), div(c, 1000000007n, 64), mod(c, 1000000007n, 64),
  ].map((x) => BigInt.asUintN(64, x));
}

function operands(a: bigint, b: bigint, c: bigint, d: bigint): Uint8Array {
  const bytes = new Uint8Array(24);
  const dv = new DataView(bytes.buffer);
  dv.setInt32(0, Number(a), true);
  dv.setInt32(4, Number(b), true);
  dv.setBigInt64(8, c, true);
  dv.setBigInt64(16, d, true);
  return bytes;
}

/** Every (a, b) pair of I32S, each with a (c, d) pair of I64S chosen so that all I64S pairs also occur. */
const RUNS: [bigint, bigint, bigint, bigint][] = [];
for (let i = 0; i < Math.max(I32S.length, I64S.length) ** 2; i++) {
  const n32 = I32S.length, n64 = I64S.length;
  RUNS.push([I32S[i % n32]!, I32S[Math.floor(i / n32) % n32]!, I64S[i % n64]!, I64S[Math.floor(i / n64) % n64]!]);
}
const CTX = { family: "inet", protocol: "tcp", localIp: "192.0.2.1", localPort: 7007, remoteIp: "127.0.0.2", remotePort: 40000 } as const;

function build(target?: string): Uint8Array {
  const r = compile({ fileName: "signed-division.ts", source: SOURCE }, { target });
  if (!r.object) throw new Error(formatDiagnostics(r.diagnostics, new Map([["signed-division.ts", SOURCE]])));
  return r.object;
}

/** The object's divisions and remainders (BPF_DIV, BPF_MOD); off=1 marks the cpu-v4 signed forms. */
const divisions = (object: Uint8Array) =>
  readObject(object).programs[0]!.insns.filter((i) => (classOf(i.opcode) === Class.ALU || classOf(i.opcode) === Class.ALU64) && [0x30, 0x90].includes(i.opcode & 0xf0));

/** The default build (lowered) and a 6.6 build (cpu-v4 sdiv/smod): both must compute the same. */
const BUILDS = [
  ["default target", undefined],
  ["target 6.6", "6.6"],
] as const;

describe("signed division", () => {
  it("a default build has no cpu-v4 signed division or remainder (BPF_DIV/BPF_MOD with off=1)", () => {
    const divs = divisions(build());
    expect(divs.length).toBeGreaterThanOrEqual(12);
    expect(divs.filter((i) => i.off !== 0)).toEqual([]);
  });

  it("a 6.6 build uses sdiv/smod, one instruction each", () => {
    expect(divisions(build("6.6")).filter((i) => i.off === 1)).toHaveLength(12);
  });

  for (const [name, target] of BUILDS) for (const tier of ["interp", "jit"] as const) {
    it(`computes TypeScript's results in the VM (${tier}, ${name})`, () => {
      const object = build(target);
      const vm = VmObject.fromBytes(object, { seed: 1 });
      for (const [a, b, c, d] of RUNS) {
        expect(vm.map("input").update(0, operands(a, b, c, d))).toBe(0);
        expect(vm.run("divide", CTX, { tier }).verdict).toBe("SK_PASS");
        const got = expected(a, b, c, d).map((_, i) => new DataView(vm.map("out").bytes(i)!.slice().buffer).getBigUint64(0, true));
        expect(got, `a=${a} b=${b} c=${c} d=${d}`).toEqual(expected(a, b, c, d));
      }
    });
  }
});

describeKernel("signed division on the kernel", () => {
  const loaded: LoadedObject[] = [];
  afterAll(() => loaded.forEach((o) => o.close()));

  // The 6.6 build needs a kernel with cpu-v4 (this machine's); the default build must load everywhere.
  it.each(BUILDS)("computes TypeScript's results under BPF_PROG_TEST_RUN (%s)", (_name, target) => {
    const obj = openKernel().load(build(target));
    loaded.push(obj);
    for (const [a, b, c, d] of RUNS) {
      obj.map("input").update(0, operands(a, b, c, d));
      expect(obj.program("divide").testRun(CTX).verdict).toBe("SK_PASS");
      const got = expected(a, b, c, d).map((_, i) => obj.map("out").lookupInt(i));
      expect(got, `a=${a} b=${b} c=${c} d=${d}`).toEqual(expected(a, b, c, d));
    }
  });
});

/** Sign extension: shifts in a default build, cpu-v4 ldsx/movsx in a 6.6 build; the same values everywhere. */
const WIDEN = `
import { type SkLookup, type Verdict, SK_PASS, ArrayMap, type i8, type i16, type i32, type i64 } from "tsbpf";
interface Small { a: i8; b: i16; c: i32 }
export const smalls = new ArrayMap<Small>({ maxEntries: 1 });
export const out = new ArrayMap<i64>({ maxEntries: 3 });
export function widen(ctx: SkLookup): Verdict {
  const s = smalls.lookup(0);
  if (s === null) return SK_PASS;
  out.update(0, BigInt(s.a));
  out.update(1, BigInt(s.b));
  out.update(2, BigInt(s.c));
  return SK_PASS;
}
`;
const SMALLS = Uint8Array.from([0xfb, 0, 0xd4, 0xfe, 0x90, 0xee, 0xfe, 0xff]); // -5, -300, -70000
const WIDENED = [-5n, -300n, -70000n].map((x) => BigInt.asUintN(64, x));

function widenObject(target?: string): Uint8Array {
  const r = compile({ fileName: "widen.ts", source: WIDEN }, { target });
  if (!r.object) throw new Error(formatDiagnostics(r.diagnostics, new Map([["widen.ts", WIDEN]])));
  return r.object;
}
const v4SignExtensions = (object: Uint8Array) =>
  readObject(object).programs[0]!.insns.filter(
    (i) => (classOf(i.opcode) === Class.LDX && (i.opcode & 0xe0) === Mode.MEMSX) || (classOf(i.opcode) === Class.ALU64 && (i.opcode & 0xf0) === 0xb0 && i.off !== 0),
  ).length;

describe("sign extension", () => {
  it("uses shifts in a default build and ldsx/movsx in a 6.6 build", () => {
    expect(v4SignExtensions(widenObject())).toBe(0);
    expect(v4SignExtensions(widenObject("6.6"))).toBeGreaterThanOrEqual(3);
  });

  for (const [name, target] of BUILDS) for (const tier of ["interp", "jit"] as const) {
    it(`widens i8/i16/i32 in the VM (${tier}, ${name})`, () => {
      const vm = VmObject.fromBytes(widenObject(target), { seed: 1 });
      expect(vm.map("smalls").update(0, SMALLS)).toBe(0);
      expect(vm.run("widen", CTX, { tier }).verdict).toBe("SK_PASS");
      expect(WIDENED.map((_, i) => new DataView(vm.map("out").bytes(i)!.slice().buffer).getBigUint64(0, true))).toEqual(WIDENED);
    });
  }
});

describeKernel("sign extension on the kernel", () => {
  it.each(BUILDS)("widens i8/i16/i32 under BPF_PROG_TEST_RUN (%s)", (_name, target) => {
    const obj = openKernel().load(widenObject(target));
    try {
      obj.map("smalls").update(0, SMALLS);
      expect(obj.program("widen").testRun(CTX).verdict).toBe("SK_PASS");
      expect(WIDENED.map((_, i) => obj.map("out").lookupInt(i))).toEqual(WIDENED);
    } finally {
      obj.close();
    }
  });
});
