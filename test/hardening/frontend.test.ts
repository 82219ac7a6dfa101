/**
 * The front end never overflows its stack and validates numbers (issue 11): deep nesting is a TSBPF0006 at the place
 * the limit is crossed (a 3,000-term sum and 2,000 nested ifs were TSBPF9001 stack overflows, 5,000 nested
 * parentheses "cannot read file"), numeric literals that are not 64-bit integers are TSBPF0007 (`maxEntries: 1e300`
 * was TSBPF9001), map options the kernel refuses are TSBPF2002, and long operator chains compile in linear time.
 */
import { describe, expect, test } from "vitest";
import { compile } from "../../compiler/index.ts";
import { MAX_NESTING } from "../../compiler/frontend/limits.ts";
import { VmObject } from "../../runtime/vm/object.ts";
import { TCP4 } from "../vm/harness.ts";

const H = `import { type SkLookup, type Verdict, SK_PASS, SK_DROP, HashMap, ArrayMap, type u32, type u64 } from "tsbpf";\n`;
const prog = (body: string): string => `${H}export function p(ctx: SkLookup): Verdict {\n${body}\n}\n`;
const sum = (n: number): string => Array.from({ length: n }, () => "ctx.localPort").join(" + ");

/** [name, source, "code line:col message" of the only diagnostic]. */
const CASES: Array<[string, string, RegExp]> = [
  ["a 3,000-term sum", prog(`const x = ${sum(3000)};\nreturn x === 5 ? SK_DROP : SK_PASS;`), /^TSBPF0006 3:\d+ expression or statement nested more than 400 levels deep/],
  ["2,000 nested ifs", prog(`${"if (ctx.localPort > 1) {".repeat(2000)} return SK_DROP; ${"}".repeat(2000)}\nreturn SK_PASS;`), /^TSBPF0006 3:\d+ brackets nested more than 400 levels deep/],
  ["a 2,000-step else-if ladder", prog(`${Array.from({ length: 2000 }, (_, i) => `if (ctx.localPort === ${i}) return SK_DROP;`).join(" else ")}\nreturn SK_PASS;`), /^TSBPF0006 3:\d+ expression or statement nested/],
  ["5,000 nested parentheses", prog(`const x = ${"(".repeat(5000)}ctx.localPort${")".repeat(5000)};\nreturn x === 5 ? SK_DROP : SK_PASS;`), /^TSBPF0006 3:410 brackets nested more than 400 levels deep/],
  ["5,000 negations", prog(`return ${"!".repeat(5000)}(ctx.localPort === 1) ? SK_DROP : SK_PASS;`), /^TSBPF0006 \d+:\d+ /],
  ["maxEntries: 1e300", `${H}export const m = new HashMap<u32, u32>({ maxEntries: 1e300 });\n${prog("return SK_PASS;").slice(H.length)}`, /^TSBPF0007 2:54 numeric literal 1e300 is not an integer/],
  ["a literal above 2^64", prog("return ctx.localPort === 99999999999999999999 ? SK_DROP : SK_PASS;"), /^TSBPF0007 3:26 numeric literal 99999999999999999999 does not fit in 64 bits/],
  ["a bigint literal above 2^64", prog("const x: u64 = 18446744073709551616n;\nreturn x === 0n ? SK_DROP : SK_PASS;"), /^TSBPF0007 3:16 numeric literal 18446744073709551616n does not fit in 64 bits/],
  ["HashMap maxEntries 2^28 (more buckets than the kernel allows)", `${H}export const m = new HashMap<u32, u32>({ maxEntries: 268435456 });\n${prog("return SK_PASS;").slice(H.length)}`, /^TSBPF2002 2:40 hash map m: max_entries 268435456 needs more than 134217728 hash buckets: the kernel refuses to create this map \(E2BIG\)/],
  ["maxEntries above 32 bits", `${H}export const m = new ArrayMap<u32>({ maxEntries: 0x100000001 });\n${prog("return SK_PASS;").slice(H.length)}`, /^TSBPF2002 2:50 maxEntries must be a positive integer constant/],
];

describe("deep or malformed input gets a diagnostic at the node", () => {
  for (const [name, source, want] of CASES) {
    test(name, () => {
      const t0 = Date.now();
      const r = compile({ fileName: "/virtual/deep.ts", source });
      expect(r.diagnostics.map((d) => `${d.code} ${d.line}:${d.column} ${d.message}`)).toEqual([expect.stringMatching(want)]);
      expect(r.object).toBeUndefined();
      expect(Date.now() - t0).toBeLessThan(10_000);
    });
  }
});

describe("inputs just inside the limits compile and run", () => {
  test(`a ${MAX_NESTING - 10}-deep parenthesis`, () => {
    const n = MAX_NESTING - 10;
    const r = compile({ fileName: "/virtual/ok.ts", source: prog(`const x = ${"(".repeat(n)}ctx.localPort${")".repeat(n)};\nreturn x === 7007 ? SK_DROP : SK_PASS;`) });
    expect(r.diagnostics).toEqual([]);
    expect(VmObject.fromBytes(r.object!).run("p", TCP4).verdict).toBe("SK_DROP");
  });
  test("a 380-term sum compiles in linear time (a 400-term sum took 18 s in the front end)", () => {
    const t0 = Date.now();
    const r = compile({ fileName: "/virtual/sum.ts", source: prog(`const x: u32 = ${sum(380)};\nreturn x === 380 * 7007 ? SK_DROP : SK_PASS;`) });
    expect(r.diagnostics).toEqual([]);
    expect(Date.now() - t0).toBeLessThan(8_000);
    expect(VmObject.fromBytes(r.object!).run("p", TCP4).verdict).toBe("SK_DROP");
  });
  test("maxEntries 0xffffffff is a valid u32 (was wrapped to -1 and refused)", () => {
    const r = compile({ fileName: "/virtual/lpm.ts", source: `${H}export const m = new HashMap<u32, u32>({ maxEntries: 0xffffffff });\n${prog("return SK_PASS;").slice(H.length)}` });
    // Now the kernel's own limit speaks: more hash buckets than it allows.
    expect(r.diagnostics.map((d) => d.message)).toEqual([expect.stringContaining("max_entries 4294967295 needs more than 134217728 hash buckets")]);
  });
  test("1e3 is the integer 1000", () => {
    const r = compile({ fileName: "/virtual/e3.ts", source: prog("return ctx.localPort === 1e3 ? SK_DROP : SK_PASS;") });
    expect(r.diagnostics).toEqual([]);
    expect(VmObject.fromBytes(r.object!).run("p", { ...TCP4, localPort: 1000 }).verdict).toBe("SK_DROP");
  });
});
