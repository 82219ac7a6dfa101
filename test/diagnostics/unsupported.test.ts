/**
 * Every construct outside the DSL is rejected through the CLI (`tsbpf check`) with its catalogued code at the
 * offending node: exact headline `FILE:LINE:COL - error TSBPFnnnn: message`, exit code 1, no stack trace.
 * The case files live in test/diagnostics/cases/ (excluded from the project's tsc run: they are meant to be wrong).
 */
import { describe, expect, test } from "vitest";
import { run as check } from "../../compiler/cli/check.ts";

const DIR = "test/diagnostics/cases";

/** Case file → the exact first diagnostic line it must produce (and the only TSBPF error unless listed). */
const CASES: Record<string, string[]> = {
  string: ["3:16 - error TSBPF1001: strings are not supported here (only as a trace format or an address literal)"],
  template: ["3:9 - error TSBPF1001: template strings are not supported"],
  float: ["3:33 - error TSBPF1002: floating-point literal 1.5 is not supported"],
  nan: ["3:17 - error TSBPF1002: NaN is a floating-point value"],
  closure: ["3:17 - error TSBPF1003: closures and function expressions are not supported"],
  "function-value": ["5:15 - error TSBPF1003: 'isWeb' is used as a function value; functions can only be called"],
  "nested-function": ["3:12 - error TSBPF1003: nested functions (closures) are not supported; declare it at the top level"],
  class: ["2:7 - error TSBPF1004: classes are not supported"],
  throw: ["3:28 - error TSBPF1005: throw is not supported"],
  try: ["3:3 - error TSBPF1005: try/catch is not supported"],
  async: ["2:23 - error TSBPF1006: async functions are not supported"],
  generator: ["2:9 - error TSBPF1006: generator functions are not supported", "3:3 - error TSBPF1006: yield is not supported"],
  recursion: ["3:28 - error TSBPF1007: 'fact' calls itself"],
  "mutual-recursion": [
    "3:27 - error TSBPF1007: 'even' calls 'odd', which calls back into 'even'",
    "6:28 - error TSBPF1007: 'odd' calls 'even', which calls back into 'odd'",
  ],
  while: ["4:3 - error TSBPF1008: while loops have no provable bound"],
  "for-variable-bound": ["4:23 - error TSBPF1008: the loop bound must be a compile-time constant"],
  "for-counter-modified": ["4:5 - error TSBPF1008: the loop counter 'i' is modified inside the loop body"],
  "for-of-dynamic": ["4:22 - error TSBPF1008: for...of needs a constant tuple (a top-level `const X = [..] as const` or an array literal of constants)"],
  "dynamic-access": ["5:10 - error TSBPF1009: dynamic property access is not supported (only constant indexes into tuples)"],
  "table-counted-loop": ["6:9 - error TSBPF1009: 'T[i]': this loop is not unrolled, so its counter is not a constant here; iterate the table with `for (const row of TABLE)` (up to 64 rows) or keep it in an ArrayMap and use lookup(i)"],
  "string-index": ["3:10 - error TSBPF1009: use '.localPort' instead of a string index"],
  any: ["3:15 - error TSBPF1010: type 'any' is not supported"],
  unknown: ["2:16 - error TSBPF1010: type 'unknown' is not supported"],
  "tuple-index-range": ["4:34 - error TSBPF1011: index 2 is out of range for a tuple of length 2"],
  "map-index-range": ["4:29 - error TSBPF1011: index 4 is out of range for map 'sockets' (maxEntries 4)"],
  "ctx-write": ["3:3 - error TSBPF1012: cannot write 'ctx.localPort': the sk_lookup context is read-only"],
  "ctx-sk-write": ["3:3 - error TSBPF1012: cannot write 'ctx.sk': the sk_lookup context is read-only"],
  "bad-ip4": ["3:31 - error TSBPF1013: malformed ip4 literal: '300' in '192.0.2.300' is not a number from 0 to 255"],
  "bad-ip6": ["3:34 - error TSBPF1013: malformed ip6 literal: 'fd00::1::2' has more than one '::'"],
  "bad-cidr4": ["2:19 - error TSBPF1013: malformed cidr4 literal: '10.0.0.1/8' has host bits set (did you mean 10.0.0.0/8?)"],
  "bad-cidr6": ["2:19 - error TSBPF1013: malformed cidr6 literal: prefix length 129 in 'fd00::/129' is not 0..128"],
  "trace-args": ["3:65 - error TSBPF1014: trace takes at most 3 values after the format, got 4"],
  stack: ["6:11 - error TSBPF1015: stack use reaches 520 bytes in 'p'; the BPF limit is 512"],
  // The call whose struct result crosses 512 bytes, not the function or the first call.
  "stack-call": ["12:13 - error TSBPF1015: stack use reaches 640 bytes in 'p'; the BPF limit is 512"],
  "bad-call": ["3:16 - error TSBPF1016: 'Math.max' does not exist in a BPF program; write `a > b ? a : b`"],
  "math-random": ["3:10 - error TSBPF1016: 'Math.random' does not exist in a BPF program; use getPrandomU32() from \"tsbpf\", a random u32 (`Math.random() < 0.5` becomes `getPrandomU32() % 2 === 0`; `getPrandomU32() % n` picks one of n)"],
  "console-log": ["3:3 - error TSBPF1016: 'console.log' does not exist in a BPF program; use trace(\"port %d\", ctx.localPort) from \"tsbpf\" (bpf_trace_printk, at most 3 values; read it with `bpftool prog tracelog`)"],
  "bad-return": ["3:10 - error TSBPF1017: a program must return SK_PASS or SK_DROP; 'ctx.protocol as Verdict' is only cast to Verdict"],
  // `f?.(x)` through an optional function parameter: the parameter's type is the one mistake.
  "optional-chaining": ["2:28 - error TSBPF2001: a function type has no BPF layout: BPF has no function values; call a top-level function by name (if it may be absent, pass a boolean and test it: `if (on) f(x)`)"],
  // The loop is unrolled three times; the mistake is reported once.
  "unrolled-once": ["5:9 - error TSBPF1018: a `let` cannot hold a constant tuple; declare it with const"],
  "type-error": ["3:9 - error TSBPF0001: Type 'Sock | null' is not assignable to type 'number'. (TS2322)"],
  "bad-map-type": ["2:35 - error TSBPF2001: type 'string' has no BPF layout (use u8..u64, i8..i64, boolean, Ip6, fixed tuples or interfaces of those)"],
  "trace-license": ["4:3 - error TSBPF2005: trace (bpf_trace_printk) is GPL-only, and the license is \"Proprietary\""],
  "verifier-unchecked": ["5:10 - error TSBPF3002: program 'p' would be rejected by the kernel verifier of Linux 5.10: R2 type=map_value_or_null expected=sock"],
  "map-not-exported": ["2:7 - error TSBPF2002: map 'hits' must be exported so loaders can find it"],
};

/** Runs `tsbpf check` in-process and captures its streams. */
async function runCheck(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await check(args, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}

describe("unsupported constructs → exact diagnostics through `tsbpf check`", () => {
  for (const [name, expected] of Object.entries(CASES)) {
    test(name, async () => {
      const file = `${DIR}/${name}.ts`;
      const r = await runCheck([file]);
      expect(r.code).toBe(1);
      const headlines = r.stderr.split("\n").filter((l) => / - error TSBPF\d{4}: /.test(l));
      expect(headlines).toEqual(expected.map((e) => `${file}:${e}`));
      expect(r.stderr).not.toMatch(/\n\s+at .*\(|internal error/);
      // A code frame with a caret underline follows the headline.
      expect(r.stderr).toMatch(/\n\s+\d+ │ .*\n\s+│ *\^+/);
    });
  }
});
