/**
 * Odd, valid or invalid inputs never crash compile(): each gives either an object or diagnostics with catalogued
 * codes — never an exception, an internal error (TSBPF9001) or a code-generation failure (TSBPF3001).
 */
import { describe, expect, test } from "vitest";
import { compile } from "../../compiler/index.ts";
import { lookupCode } from "../../compiler/diagnostics/index.ts";

const HEAD = `import { type SkLookup, type Verdict, SK_PASS, SK_DROP, SockMap, ArrayMap, HashMap, ip4, ip6, cidr4, type u8, type u16, type u32, type u64, type i32 } from "tsbpf";
export const sockets = new SockMap({ maxEntries: 8 });
export const hits = new ArrayMap<u64>({ maxEntries: 8 });
`;
const prog = (body: string) => `${HEAD}export function p(ctx: SkLookup): Verdict {\n${body}\n}\n`;

/** [name, source, expected first code or "ok"]. */
const INPUTS: [string, string, string][] = [
  ["empty file", "", "TSBPF0004"],
  ["only a map", HEAD, "TSBPF0004"],
  ["syntax error", prog("  return SK_PASS +;"), "TSBPF0001"],
  ["unknown ctx field", prog("  return ctx.foo === 1 ? SK_PASS : SK_DROP;"), "TSBPF0001"],
  ["missing return", `${HEAD}export function p(ctx: SkLookup): Verdict {\n  if (ctx.localPort === 1) return SK_PASS;\n}\n`, "TSBPF0001"],
  ["no return type", `${HEAD}export function p(ctx: SkLookup) {\n  return SK_PASS;\n}\n`, "TSBPF2004"],
  ["two parameters", `${HEAD}export function p(ctx: SkLookup, x: u32): Verdict {\n  return SK_PASS;\n}\n`, "TSBPF2004"],
  ["returns 2", prog("  return 2;"), "TSBPF0001"],
  ["var", prog("  var x = 1;\n  return SK_PASS;"), "TSBPF1018"],
  ["module let", `${HEAD}let counter = 0;\n${prog("  return SK_PASS;").slice(HEAD.length)}`, "TSBPF2003"],
  ["import from elsewhere", `import { x } from "./elsewhere.ts";\n${prog("  return SK_PASS;")}`, "TSBPF0003"],
  ["destructuring", prog("  const { family } = ctx;\n  return family === 2 ? SK_PASS : SK_DROP;"), "ok"],
  ["rest element in destructuring", prog("  const { family, ...rest } = ctx;\n  return family === 2 ? SK_PASS : SK_DROP;"), "TSBPF1018"],
  ["spread", prog("  const a = [1, 2] as const;\n  const b = [...a];\n  return SK_PASS;"), "TSBPF1018"],
  ["loop too long", prog("  let s: u32 = 0;\n  for (let i = 0; i < 100000; i++) s += i;\n  return s === 0 ? SK_PASS : SK_DROP;"), "TSBPF1008"],
  ["exponent", prog("  return ctx.localPort ** 2 === 4 ? SK_PASS : SK_DROP;"), "TSBPF1018"],
  ["map as a value", prog("  const m = sockets;\n  const sk = m.lookup(0);\n  if (sk === null) return SK_PASS;\n  return ctx.assign(sk) === 0 ? SK_PASS : SK_DROP;"), "ok"],
  ["dynamic map key", prog("  const sk = sockets.lookup(ctx.localPort & 7);\n  if (!sk) return SK_PASS;\n  return ctx.assign(sk) === 0 ? SK_PASS : SK_DROP;"), "ok"],
  ["increment by", prog("  hits.increment(ctx.protocol & 7, 5n);\n  return SK_PASS;"), "ok"],
  ["nested ternary return", prog("  return ctx.localPort === 1 ? SK_PASS : ctx.localPort === 2 ? SK_DROP : SK_PASS;"), "ok"],
  ["inclusive loop with step", prog("  let s: u32 = 0;\n  for (let i = 0; i <= 6; i += 2) s += i;\n  return s === 12 ? SK_PASS : SK_DROP;"), "ok"],
  ["switch fallthrough", prog("  let r: u32 = 0;\n  switch (ctx.protocol) {\n    case 6:\n    case 17:\n      r = 1;\n      break;\n    default:\n      r = 2;\n  }\n  return r === 1 ? SK_PASS : SK_DROP;"), "ok"],
  ["ip6 === compares the 16 bytes", prog('  return ctx.localIp6 === ip6("::1") ? SK_PASS : SK_DROP;'), "ok"],
  ["constant division by zero", prog("  const x: u32 = ctx.localPort / 0;\n  return x === 0 ? SK_PASS : SK_DROP;"), "ok"],
  ["huge shift", prog("  const x: u32 = ctx.localPort << 40;\n  return x === 0 ? SK_PASS : SK_DROP;"), "ok"],
  ["bool locals", prog("  let ok = ctx.family === 2;\n  ok = ok && ctx.localPort > 10;\n  return ok ? SK_PASS : SK_DROP;"), "ok"],
  ["string compare", prog('  return ctx.family === "inet" ? SK_PASS : SK_DROP;'), "TSBPF0001"],
  ["object literal of constants (a constant object)", prog("  const o = { a: 1 };\n  return o.a === 1 ? SK_PASS : SK_DROP;"), "ok"],
  ["object literal of run-time values without a struct type", prog("  const o = { a: ctx.localPort };\n  return SK_PASS;"), "TSBPF1018"],
  ["array variable", prog("  const a: u32[] = [1, 2];\n  return SK_PASS;"), "TSBPF2001"],
  ["sock passed to helper fn", `${HEAD}import type { Sock } from "tsbpf";\nfunction f(s: Sock): u32 { return s.family; }\n${prog("  const s = ctx.sk;\n  if (s === null) return SK_PASS;\n  return f(s) === 2 ? SK_PASS : SK_DROP;").slice(HEAD.length)}`, "ok"],
  ["struct parameter", `${HEAD}interface P { a: u32 }\nfunction f(p: P): u32 { return p.a; }\n${prog("  return f({ a: 1 }) === 1 ? SK_PASS : SK_DROP;").slice(HEAD.length)}`, "ok"],
  ["struct parameter typed number field", `${HEAD}interface P { a: number }\nfunction f(p: P): u32 { return 1; }\n${prog("  return SK_PASS;").slice(HEAD.length)}`, "TSBPF2001"],
];

describe("compile() never crashes", () => {
  for (const [name, source, want] of INPUTS) {
    test(name, () => {
      const r = compile({ fileName: "odd.ts", source });
      const codes = r.diagnostics.map((d) => d.code);
      for (const c of codes) expect(lookupCode(c), `${c} is catalogued`).toBeDefined();
      expect(codes).not.toContain("TSBPF9001");
      expect(codes).not.toContain("TSBPF3001");
      if (want === "ok") {
        expect(r.diagnostics.map((d) => `${d.line}:${d.column} ${d.code} ${d.message}`)).toEqual([]);
        expect(r.object).toBeInstanceOf(Uint8Array);
      } else {
        expect(codes[0], r.diagnostics.map((d) => `${d.line}:${d.column} ${d.code} ${d.message}`).join("\n")).toBe(want);
        expect(r.object).toBeUndefined();
      }
    });
  }
});

test("TSBPF0003 quotes the module name once", () => {
  const r = compile({ fileName: "odd.ts", source: `import { readFileSync } from "node:fs";\n${prog("  return SK_PASS;")}` });
  expect(r.diagnostics.map((d) => `${d.line}:${d.column} ${d.code} ${d.message}`)[0]).toBe(
    `1:30 TSBPF0003 imports from 'node:fs' are not supported; import only from "tsbpf"`,
  );
});
