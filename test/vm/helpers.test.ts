/**
 * Helpers other than maps and sk_assign: trace_printk formatting and return value (the return value also checked
 * against the live kernel), get_prandom_u32 seeding, ktime_get_ns clock injection, get_smp_processor_id.
 */
import { describe, expect, test } from "vitest";
import { MapType } from "../../compiler/abi/maps.ts";
import { AluOp, Helper, Size, alu64, call, exit, lddw, mov64, reg, stx, type Instruction } from "../../compiler/asm/index.ts";
import { openKernel } from "../../runtime/kernel/open.ts";
import { VmObject } from "../../runtime/vm/object.ts";
import { hrtimeNs } from "../../runtime/helpers/index.ts";
import { describeKernel } from "../support/kernel.ts";
import { TCP4, TIERS, mapDef, objectOf, vmOf, wrap } from "./harness.ts";

/** Builds `fmt` (NUL-terminated) on the stack at fp-64 and calls trace_printk(fmt, size, a1, a2, a3). */
function printk(fmt: string, args: bigint[], size?: number): Instruction[] {
  const bytes = Buffer.from(`${fmt}\0`, "latin1");
  const padded = Buffer.concat([bytes, Buffer.alloc((8 - (bytes.length % 8)) % 8)]);
  const out: Instruction[] = [];
  for (let i = 0; i < padded.length; i += 8) {
    out.push(lddw(1, padded.readBigUInt64LE(i)), stx(Size.DW, 10, -64 + i, 1));
  }
  out.push(mov64(1, reg(10)), alu64(AluOp.ADD, 1, -64), mov64(2, size ?? bytes.length));
  args.forEach((a, i) => out.push(lddw(3 + i, a)));
  out.push(call(Helper.trace_printk), exit());
  return out;
}

const CASES: Array<[string, bigint[], string | null]> = [
  ["port %d\n", [7007n], "port 7007\n"],
  ["%d %i", [0xffffffffn, 0x1_00000005n], "-1 5"],
  ["%u", [0xffffffffn], "4294967295"],
  ["%x/%X", [0xabcdn, 0xabcdn], "abcd/ABCD"],
  ["%lld %llu", [BigInt.asUintN(64, -2n), BigInt.asUintN(64, -2n)], "-2 18446744073709551614"],
  ["%lx", [0x1_00000000n], "100000000"],
  ["%5d|%-4u|%04x", [42n, 7n, 0xan], "   42|7   |000a"],
  ["%c%c", [0x4fn, 0x4bn], "OK"],
  ["100%%", [], "100%"],
  ["no args", [], "no args"],
  ["%d %d %d %d", [1n, 2n, 3n], null],
  ["%q", [1n], null],
  ["%n", [1n], null],
];

describe("trace_printk", () => {
  for (const [fmt, args, want] of CASES) {
    for (const tier of TIERS) {
      test(`${JSON.stringify(fmt)} [${tier}]`, () => {
        const obj = vmOf(printk(fmt, args));
        const r0 = obj.program("prog").exec(TCP4, { tier });
        if (want === null) {
          expect(BigInt.asIntN(64, r0)).toBe(-22n);
          expect(obj.machine.trace).toEqual([]);
        } else {
          expect(obj.machine.trace).toEqual([want]);
          expect(r0).toBe(BigInt(Buffer.byteLength(want)));
        }
      });
    }
  }
  test("a format without its NUL inside fmt_size is EINVAL", () => {
    const obj = vmOf(printk("abc", [], 3));
    expect(BigInt.asIntN(64, obj.program("prog").exec(TCP4))).toBe(-22n);
  });
  test("run results carry the trace", () => {
    const insns = printk("hit %u", [7n]);
    insns.splice(insns.length - 1, 0, mov64(0, 1));
    const r = vmOf(insns).run("prog", TCP4, { tier: "jit" });
    expect(r.trace).toEqual(["hit 7"]);
  });
});

describe("prandom, ktime, cpu id", () => {
  const prandom = [call(Helper.get_prandom_u32), mov64(6, reg(0)), call(Helper.get_prandom_u32), alu64(AluOp.LSH, 6, 32), alu64(AluOp.OR, 0, reg(6)), exit()];
  test("get_prandom_u32 is deterministic per seed, differs across seeds and calls, and both tiers agree", () => {
    const values = TIERS.map((tier) => vmOf(prandom, [], { seed: 99 }).program("prog").exec(TCP4, { tier }));
    expect(values[1]).toBe(values[0]);
    const v = values[0]!;
    expect(v >> 32n).not.toBe(v & 0xffffffffn);
    expect(vmOf(prandom, [], { seed: 100 }).program("prog").exec(TCP4)).not.toBe(v);
    const obj = vmOf(prandom, [], { seed: 99 });
    const first = obj.program("prog").exec(TCP4);
    expect(obj.program("prog").exec(TCP4)).not.toBe(first); // the generator advances across runs
    obj.machine.reseed(99);
    expect(obj.program("prog").exec(TCP4)).toBe(first);
  });
  test("ktime_get_ns reads the injected clock (64-bit)", () => {
    for (const tier of TIERS) {
      expect(vmOf([call(Helper.ktime_get_ns), exit()], [], { clock: () => 0x1234_5678_9abc_def0n }).program("prog").exec(TCP4, { tier })).toBe(0x1234_5678_9abc_def0n);
    }
    const a = vmOf([call(Helper.ktime_get_ns), exit()]).program("prog").exec(TCP4);
    const b = vmOf([call(Helper.ktime_get_ns), exit()]).program("prog").exec(TCP4);
    expect(b).toBeGreaterThanOrEqual(a);
  });
  test("get_smp_processor_id is 0 (one CPU)", () => {
    for (const tier of TIERS) expect(vmOf([mov64(0, 7), call(Helper.get_smp_processor_id), exit()]).program("prog").exec(TCP4, { tier })).toBe(0n);
  });
});

describeKernel("trace_printk return value: VM vs kernel", () => {
  for (const [fmt, args, want] of CASES.filter(([f]) => !f.includes("%n"))) {
    test(JSON.stringify(fmt), () => {
      const file = objectOf({ prog: wrap(printk(fmt, args)) }, [mapDef("out", MapType.ARRAY, 4, 8, 1)]);
      const k = openKernel().load(file);
      try {
        k.program("prog").testRun(TCP4);
        const kernel = k.map("out").lookupInt(0)!;
        const vm = new VmObject(file);
        vm.run("prog", TCP4);
        expect(BigInt.asUintN(64, BigInt(vm.map("out").get(0) as number))).toBe(kernel);
        if (want !== null) expect(kernel).toBe(BigInt(Buffer.byteLength(want)));
      } finally {
        k.close();
      }
    });
  }
});

test("a result's trace is not changed by later runs", () => {
  const quiet = [mov64(0, 1), exit()];
  const noisy = printk("later", []);
  noisy.splice(noisy.length - 1, 0, mov64(0, 1));
  const obj = new VmObject(objectOf({ quiet, noisy }));
  const first = obj.run("quiet", TCP4);
  const second = obj.run("noisy", TCP4);
  const third = obj.run("noisy", TCP4);
  expect(first.trace).toEqual([]);
  expect(second.trace).toEqual(["later"]);
  expect(third.trace).toEqual(["later"]);
});

test("trace_printk %s reads a NUL-terminated string from the stack", () => {
  // "hi!\0" at fp-72, then printk("<%s>", fp-72).
  const insns = printk("<%s>", []);
  const callAt = insns.findIndex((i) => i.opcode === 0x85);
  insns.splice(
    callAt,
    0,
    lddw(9, BigInt(Buffer.from("hi!\0\0\0\0\0", "latin1").readBigUInt64LE(0))),
    stx(Size.DW, 10, -72, 9),
    mov64(3, reg(10)),
    alu64(AluOp.ADD, 3, -72),
  );
  for (const tier of TIERS) {
    const obj = vmOf(insns);
    expect(obj.program("prog").exec(TCP4, { tier })).toBe(5n);
    expect(obj.machine.trace).toEqual(["<hi!>"]);
  }
});

test("ktime_get_ns on the default clock reads process.hrtime.bigint()'s clock, exactly and monotonically", () => {
  const before = process.hrtime.bigint();
  const a = hrtimeNs();
  const b = hrtimeNs();
  const after = process.hrtime.bigint();
  expect(Number.isInteger(a)).toBe(true);
  expect(BigInt(a) >= before && BigInt(b) >= BigInt(a) && BigInt(b) <= after).toBe(true);
});
