/** trace_printk formatting: conversions, 64-bit values through the number fast path and BigInt, flags, errors. */
import { expect, test } from "vitest";
import { formatPrintk } from "../../runtime/helpers/printk.ts";
import { Machine } from "../../runtime/vm/machine.ts";

const m = new Machine();
const fmt = (s: string): Uint8Array => Uint8Array.from(`${s}\0`, (c) => c.charCodeAt(0));
const run = (s: string, ...args: Array<[number, number]>): string | number =>
  formatPrintk(m, fmt(s), [...args, [0, 0], [0, 0], [0, 0]].slice(0, 3) as Array<[number, number]>, 0);

test.each([
  ["%d", [-1, 0], "-1"],
  ["%u", [-1, 0], "4294967295"],
  ["%lld", [-5, -1], "-5"],
  ["%lld", [-5, 0], "4294967291"],
  ["%lld", [0, -2147483648], "-9223372036854775808"],
  ["%llu", [0, 1], "4294967296"],
  ["%llu", [-1, -1], "18446744073709551615"],
  ["%lx", [0, 1], "100000000"],
  ["%llX", [-1, 0], "FFFFFFFF"],
  ["%x", [255, 7], "ff"],
  ["%+d", [5, 0], "+5"],
  ["%+d", [-5, -1], "-5"],
  ["%05d", [-42, -1], "-0042"],
  ["%-4x|", [255, 0], "ff  |"],
  ["%4u|", [7, 0], "   7|"],
  ["%c%c", [104, 0], "h\0"],
  ["%p", [16, 1], "0x100000010"],
  ["100%% %u", [3, 0], "100% 3"],
] as const)("%s of %j gives %j", (f, arg, want) => {
  expect(run(f, [arg[0], arg[1]])).toBe(want);
  // Second time through the parsed-format cache: the same text.
  expect(run(f, [arg[0], arg[1]])).toBe(want);
});

test("formats the kernel rejects return -EINVAL, before or after a cached parse", () => {
  for (const f of ["%d %d %d %d", "%q", "%", "abc %ld %n"]) {
    expect(run(f, [1, 0], [2, 0], [3, 0])).toBe(-22);
    expect(run(f, [1, 0], [2, 0], [3, 0])).toBe(-22);
  }
  expect(formatPrintk(m, Uint8Array.of(37, 100), [[1, 0], [0, 0], [0, 0]], 0)).toBe(-22); // no NUL
});

test("three arguments in order, literal text between them kept", () => {
  expect(run("a=%u b=%d c=%x.", [1, 0], [-2, -1], [26, 0])).toBe("a=1 b=-2 c=1a.");
});

test("the last-format cache compares bytes: a format rewritten in place (same buffer, same length) is parsed again", () => {
  const buf = fmt("x=%u");
  const words: Array<[number, number]> = [[7, 0], [0, 0], [0, 0]];
  expect(formatPrintk(m, buf, words, 0)).toBe("x=7");
  buf[2] = "x".charCodeAt(0); // "x=xu": no conversion left
  expect(formatPrintk(m, buf, words, 0)).toBe("x=xu");
  buf[3] = 0; // "x=x"
  expect(formatPrintk(m, buf, words, 0)).toBe("x=x");
  // An empty format is an empty line, first time and cached.
  expect(run("")).toBe("");
  expect(run("")).toBe("");
  expect(run("%q")).toBe(-22);
  expect(run("")).toBe("");
});
