/**
 * trace_printk output limits (issue 11): `trace("%1000000000u", x)` used to pass `check` and then kill `run` with a
 * RangeError (and abort the process in a loop). The kernel caps the line at MAX_BPRINTF_BUF - 1 characters and the
 * width at FIELD_WIDTH_MAX, returning the would-be length; the expected numbers below were measured on this kernel
 * with BPF_PROG_TEST_RUN (the return value of bpf_trace_printk stored in a map), and the kernel-backed test re-derives
 * them from the running kernel.
 */
import { describe, expect, test } from "vitest";
import { MapType } from "../../compiler/abi/maps.ts";
import { AluOp, Helper, Size, alu64, call, exit, mov64, reg, st } from "../../compiler/asm/index.ts";
import { compile } from "../../compiler/index.ts";
import { openKernel } from "../../runtime/kernel/open.ts";
import { FIELD_WIDTH_MAX, MAX_BPRINTF_BUF } from "../../runtime/helpers/printk.ts";
import { TRACE_BUFFER_BYTES } from "../../runtime/vm/machine.ts";
import { VmObject } from "../../runtime/vm/object.ts";
import { describeKernel } from "../support/kernel.ts";
import { TCP4, TIERS, mapDef, objectOf, wrap } from "../vm/harness.ts";

/** A program calling trace_printk(fmt, r3 = arg) whose return value ends in out[0] (see harness wrap). */
function printkObject(fmt: string, arg: number) {
  const bytes = Buffer.alloc(Math.ceil((fmt.length + 1) / 4) * 4);
  bytes.write(fmt, "latin1");
  const stores = [];
  for (let i = 0; i < bytes.length; i += 4) stores.push(st(Size.W, 10, -256 + i, bytes.readInt32LE(i)));
  const insns = [...stores, mov64(1, reg(10)), alu64(AluOp.ADD, 1, -256), mov64(2, fmt.length + 1), mov64(3, arg), call(Helper.trace_printk), exit()];
  return objectOf({ prog: wrap(insns) }, [mapDef("out", MapType.ARRAY, 4, 8, 1)]);
}

const CASES: Array<[fmt: string, arg: number, returned: number]> = [
  ["%1000000000u", 7, FIELD_WIDTH_MAX],
  ["%16777217u", 7, FIELD_WIDTH_MAX],
  ["%-8388609u", 7, FIELD_WIDTH_MAX],
  ["%3000000000u|", 7, 2], // the width wraps negative as a C int: no padding
  ["%4294967297u|", 7, 2], // wraps to 1
  ["%-2000u|", 5, 2001],
  ["%02000d", -5, 2000],
  ["%s|", 0, 1], // NULL prints as an empty string
  ["%s|", 7, 1], // so does a bad pointer
  ["%5s|", 0, 6],
];

describe("trace_printk output is capped like the kernel's", () => {
  for (const [fmt, arg, returned] of CASES) {
    test(`${JSON.stringify(fmt)} of ${arg} returns ${returned} and keeps at most ${MAX_BPRINTF_BUF - 1} characters`, () => {
      for (const tier of TIERS) {
        const obj = new VmObject(printkObject(fmt, arg));
        const r = obj.run("prog", TCP4, { tier });
        expect(BigInt(obj.map("out").get(0) as number)).toBe(BigInt(returned));
        expect(r.trace).toHaveLength(1);
        expect(r.trace[0]!.length).toBe(Math.min(returned, MAX_BPRINTF_BUF - 1));
      }
    });
  }

  test('trace("%1000000000u", x) in a DSL loop runs (was a RangeError, and a heap abort in a loop)', () => {
    const source = `import { type SkLookup, type Verdict, SK_PASS, trace } from "tsbpf";
export function spam(ctx: SkLookup): Verdict {
  for (let i = 0; i < 1000; i++) trace("%1000000000u", ctx.localPort);
  return SK_PASS;
}
`;
    const out = compile({ fileName: "/virtual/spam.ts", source });
    expect(out.diagnostics.map((d) => d.message)).toEqual([]);
    for (const tier of TIERS) {
      const r = VmObject.fromBytes(out.object!).run("spam", TCP4, { tier });
      expect(r.verdict).toBe("SK_PASS");
      // 1000 lines of 1023 characters (all padding: the number would come after 8388607 - 4 spaces); the run keeps
      // the newest ones, within the trace buffer.
      expect(r.trace.length).toBeGreaterThan(500);
      expect(r.trace.every((l) => l === " ".repeat(MAX_BPRINTF_BUF - 1))).toBe(true);
      expect(r.trace.reduce((n, l) => n + l.length + 1, 0)).toBeLessThanOrEqual(TRACE_BUFFER_BYTES);
    }
  });
});

describeKernel("trace_printk limits: VM vs kernel", () => {
  for (const [fmt, arg] of CASES) {
    test(`${JSON.stringify(fmt)} of ${arg}: the kernel's return value equals the VM's`, () => {
      const file = printkObject(fmt, arg);
      const k = openKernel().load(file);
      try {
        expect(k.program("prog").testRun(TCP4).retval).toBe(1);
        const kernel = k.map("out").lookupInt(0);
        for (const tier of TIERS) {
          const obj = new VmObject(file);
          obj.run("prog", TCP4, { tier });
          expect(BigInt(obj.map("out").get(0) as number), tier).toBe(kernel);
        }
      } finally {
        k.close();
      }
    });
  }
});
