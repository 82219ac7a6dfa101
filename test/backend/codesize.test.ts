/**
 * The code-size rewrites of issue 12: cross-jumping (one copy of equivalent regions), unsigned division and remainder
 * by powers of two, two verdict exits sharing one `exit`, and counted loops that stay loops when unrolling would
 * multiply the body. Each rewrite is checked for what it saves and, on the IR interpreter, for keeping the meaning.
 */
import { describe, expect, it } from "vitest";
import { MapType } from "../../compiler/abi/maps.ts";
import { disassembleEmitted, generate } from "../../compiler/backend/index.ts";
import { compile } from "../../compiler/index.ts";
import type { Function } from "../../compiler/ir/ir.ts";
import { simplify } from "../../compiler/ir/passes/simplify.ts";
import { cloneFunction } from "../../compiler/ir/passes/util.ts";
import { printFunction } from "../../compiler/ir/print.ts";
import { interpret, type ArrayMaps } from "./interp.ts";
import { FnBuilder, k, map, module, v } from "./ir-builder.ts";

const MAPS = [map("m", MapType.ARRAY, 4, 8, 4)];
const asm = (fn: Function) => disassembleEmitted(generate(fn, module([fn], MAPS)).insns).map((l) => l.split("\t")[1]!);

/** A context whose localPort (offset 60) is `port` and remotePort bytes (offset 36) hold `remote`. */
function ctxWith(port: number, remote = 0): Uint8Array {
  const c = new Uint8Array(72);
  const dv = new DataView(c.buffer);
  dv.setUint32(60, port, true);
  dv.setUint32(36, remote, true);
  return c;
}
const arrayMaps = (): ArrayMaps => new Map([["m", [0, 1, 2, 3].map((i) => Uint8Array.of(i * 3 + 1, 0, 0, 0, 0, 0, 0, 0))]]);

/** Runs `fn` before and after `simplify` on every port; both must return the same. Returns the simplified copy. */
function simplifiedAlike(fn: Function, ports: number[]): Function {
  const after = cloneFunction(fn);
  simplify(after, after.params[0]);
  for (const port of ports) {
    expect(interpret(after, ctxWith(port, port * 7), arrayMaps()), `port ${port}`).toBe(interpret(fn, ctxWith(port, port * 7), arrayMaps()));
  }
  return after;
}

/**
 * `for (const p of PORTS) if (port === p) { v = m.lookup(key(p)); return v === null ? 1 : (*v & 1) ^ extra }`, unrolled
 * by hand with fresh vregs per copy (as the frontend does).
 */
function tableTest(keys: number[], extraOf: (b: FnBuilder, i: number) => ReturnType<typeof v> = () => k(0)): Function {
  const b = new FnBuilder("table");
  const port = b.ctxLoad(60, 4);
  const slot = b.slot(4, 4, "key"); // one key slot for every copy, as the frontend reuses it
  const miss = b.block();
  b.at(miss).ret(k(1));
  let test = b.block();
  b.at(b.fn.blocks[0]!).br(test);
  keys.forEach((key, i) => {
    const body = b.block();
    const next = i === keys.length - 1 ? miss : b.block();
    b.at(test).cbr("eq", v(port), k([22, 80, 443, 7007][i]!), body, next, 32);
    b.at(body);
    const extra = extraOf(b, i);
    b.slotStore(slot, 0, 4, k(key));
    const p = b.call(1, [v(b.mapRef("m")), v(b.slotAddr(slot))], "map_value_or_null");
    const isNull = b.block();
    const found = b.block();
    b.cbr("eq", v(p), k(0), isNull, found);
    b.at(isNull).ret(k(1));
    b.at(found);
    const bit = b.bin("and", v(b.load(p, 0, 8)), k(1));
    b.ret(v(b.bin("xor", v(bit), extra)));
    test = next;
  });
  return b.fn;
}

const lookups = (fn: Function) => printFunction(fn).split("\n").filter((l) => l.includes("call helper#1(")).length;

describe("cross-jumping", () => {
  it("keeps one copy of a body an unrolled constant-table test repeats, reached by a compare chain", () => {
    const after = simplifiedAlike(tableTest([1, 1, 1, 1]), [0, 22, 80, 443, 7007, 7008]);
    expect(lookups(after)).toBe(1);
    const text = asm(after);
    expect(text.filter((l) => l.startsWith("call"))).toEqual(["call 0x1"]);
    expect(text.filter((l) => /^if w\d (==|!=) 0x(16|50|1bb|1b5f) /.test(l))).toHaveLength(4);
  });

  it("keeps copies that differ in a constant or in a value read from before the region", () => {
    expect(lookups(simplifiedAlike(tableTest([1, 2, 1, 2]), [22, 80, 443, 7007, 1]))).toBe(2);
    // Each copy xors with its own earlier value: the copies read different live-in vregs.
    const fn = tableTest([1, 1, 1, 1], (b, i) => v(b.bin("add", v(b.ctxLoad(36, 4)), k(i))));
    expect(lookups(simplifiedAlike(fn, [22, 80, 443, 7007, 1]))).toBe(4);
  });

  it("does not merge regions whose renamed vreg is read where they join", () => {
    // t = 5; if port == 22 { t = port + 1 } else if port == 80 { u = port + 1 }; return t — the regions look alike
    // (t ↔ u) but the join reads t, which only one of them sets.
    const b = new FnBuilder("join");
    const port = b.ctxLoad(60, 4);
    const t = b.mov(k(5));
    const [A, n1, B, J] = [b.block(), b.block(), b.block(), b.block()];
    b.cbr("eq", v(port), k(22), A, n1, 32);
    b.at(n1).cbr("eq", v(port), k(80), B, J, 32);
    b.at(A).emit({ op: "bin", dst: t, kind: "add", width: 32, a: v(port), b: k(1) }).br(J);
    b.at(B);
    b.bin("add", v(port), k(1), 32);
    b.br(J);
    b.at(J).ret(v(t));
    const after = simplifiedAlike(b.fn, [22, 80, 81]);
    expect(interpret(after, ctxWith(80), arrayMaps())).toBe(5n);
    expect(interpret(after, ctxWith(22), arrayMaps())).toBe(23n);
  });

  it("does not merge regions that set a vreg on one path only (its old value is read on the other)", () => {
    // t = 5; u = 9; port 22: { if (remote) t = 7; return t }; port 80: { if (remote) u = 7; return u }
    const b = new FnBuilder("partial");
    const port = b.ctxLoad(60, 4);
    const remote = b.ctxLoad(36, 4);
    const t = b.mov(k(5));
    const u = b.mov(k(9));
    const [A, n1, B, miss] = [b.block(), b.block(), b.block(), b.block()];
    b.cbr("eq", v(port), k(22), A, n1, 32);
    b.at(n1).cbr("eq", v(port), k(80), B, miss, 32);
    b.at(miss).ret(k(0));
    for (const [head, x] of [[A, t], [B, u]] as const) {
      const [set, out] = [b.block(), b.block()];
      b.at(head).cbr("ne", v(remote), k(0), set, out, 32);
      b.at(set).mov(k(7), x);
      b.br(out);
      b.at(out).ret(v(x));
    }
    const after = simplifiedAlike(b.fn, [22, 80, 81]);
    expect(interpret(after, ctxWith(80, 0), arrayMaps())).toBe(9n);
    expect(interpret(after, ctxWith(22, 0), arrayMaps())).toBe(5n);
  });
});

describe("unsigned division and remainder by a power of two", () => {
  it("become a mask and a shift; other divisors and signed operations stay", () => {
    const b = new FnBuilder("divs");
    const x = b.ctxLoad(36, 4);
    const r = b.bin("umod", v(x), k(4), 32);
    const q = b.bin("udiv", v(x), k(16), 64);
    const s = b.bin("umod", v(x), k(6), 32);
    b.ret(v(b.bin("add", v(b.bin("add", v(r), v(q))), v(s))));
    const after = simplifiedAlike(b.fn, [0, 1, 3, 5, 4096, 65535]);
    const text = printFunction(after);
    expect(text).toContain("and.32 v1, 3");
    expect(text).toContain("lshr.64 v1, 4");
    expect(text).toContain("umod.32 v1, 6");
    expect(asm(after)).toContain("w2 &= 0x3");
  });
});

describe("two verdict exits", () => {
  it("share one exit: the first verdict is set before the test that skips the second (clang's layout)", () => {
    // if (family === 2 && protocol === 6) return 1; return 0
    const b = new FnBuilder("two");
    const fam = b.ctxLoad(8, 4);
    const [next, yes, no] = [b.block(), b.block(), b.block()];
    b.cbr("eq", v(fam), k(2), next, no, 32);
    b.at(next).cbr("eq", v(b.ctxLoad(12, 4)), k(6), yes, no, 32);
    b.at(yes).ret(k(1));
    b.at(no).ret(k(0));
    expect(asm(b.fn)).toEqual([
      "r2 = *(u32 *)(r1 + 0x8)",
      "if w2 != 0x2 goto +0x3",
      "r1 = *(u32 *)(r1 + 0xc)",
      "r0 = 0x1",
      "if w1 == 0x6 goto +0x1",
      "r0 = 0x0",
      "exit",
    ]);
  });

  it("are left apart when more jumps lead to the second verdict (the kernel verifier would walk it once per jump)", () => {
    const b = new FnBuilder("many");
    const fam = b.ctxLoad(8, 4);
    const [t1, t2, yes, no] = [b.block(), b.block(), b.block(), b.block()];
    b.cbr("eq", v(fam), k(2), t1, no, 32);
    b.at(t1).cbr("eq", v(b.ctxLoad(12, 4)), k(6), t2, no, 32);
    b.at(t2).cbr("eq", v(b.ctxLoad(60, 4)), k(80), yes, no, 32);
    b.at(yes).ret(k(1));
    b.at(no).ret(k(0));
    expect(asm(b.fn).slice(-4)).toEqual(["r0 = 0x1", "exit", "r0 = 0x0", "exit"]);
  });
});

describe("32-bit equality as a value", () => {
  it("is computed without a branch when the operand dies there, and with one when it lives on", () => {
    for (const [cmp, port, want] of [["eq", 10, 1n], ["eq", 11, 0n], ["ne", 10, 0n], ["ne", 0, 1n]] as const) {
      const b = new FnBuilder("flag");
      b.ret(v(b.setcc(cmp, v(b.ctxLoad(60, 4)), k(10), 32)));
      expect(interpret(b.fn, ctxWith(port), arrayMaps())).toBe(want);
      expect(asm(b.fn)).toEqual(["r0 = *(u32 *)(r1 + 0x3c)", "w0 ^= 0xa", cmp === "eq" ? "r0 += -0x1" : "r0 = -r0", "r0 >>= 0x3f", "exit"]);
    }
    const b = new FnBuilder("both");
    const x = b.ctxLoad(60, 4);
    b.ret(v(b.bin("add", v(b.setcc("eq", v(x), k(10), 32)), v(x))));
    expect(asm(b.fn).some((l) => l.startsWith("if "))).toBe(true);
  });
});

describe("counted loops", () => {
  const program = (loop: string) => `
import { type SkLookup, type Verdict, SK_PASS, SK_DROP, HashMap, type u32 } from "tsbpf";
interface Key { len: u32; addr: u32 }
export const routes = new HashMap<Key, u32>({ maxEntries: 64 });
const LENS = [${Array.from({ length: 40 }, (_, i) => 40 - i).join(", ")}] as const;
export function walk(ctx: SkLookup): Verdict {
  let mask: u32 = 0xffffffff;
  ${loop}
  return SK_PASS;
}`;
  const body = "{ if (routes.lookup({ len: i, addr: ctx.localIp4 & mask }) !== null) return SK_DROP; mask = mask << 1; }";
  const lookupsIn = (loop: string) => {
    const r = compile({ fileName: "/tmp/walk.ts", source: program(loop) }, { dump: ["asm"] });
    expect(r.diagnostics).toEqual([]);
    return (r.dumps.asm ?? "").split("\n").filter((l) => l.includes("call 0x1")).length;
  };

  it("stay loops when the unrolled copies would multiply a large body", () => {
    expect(lookupsIn(`for (let i = 0; i <= 32; i++) ${body}`)).toBe(1);
  });

  it("are unrolled when the body changes an outer variable on some paths only (a loop would double the verifier's paths per iteration)", () => {
    const r = compile({ fileName: "/tmp/count.ts", source: `
import { type SkLookup, type Verdict, SK_PASS, SK_DROP, type u32 } from "tsbpf";
export function count(ctx: SkLookup): Verdict {
  let n: u32 = 0;
  for (let i = 0; i < 32; i++) { if ((i & 7) === (ctx.localPort & 7)) n++; }
  let m: u32 = 0;
  for (let i = 0; i < 32; i++) { m = (i & 3) === (ctx.remotePort & 3) ? m + 2 : m; }
  return n + m > 8 ? SK_DROP : SK_PASS;
}` });
    expect(r.diagnostics).toEqual([]);
    // A loop would be a dozen instructions; 64 copies of a test are far more.
    expect(r.programs[0]!.insnCount).toBeGreaterThan(128);
  });

  it("are unrolled when short, or when the counter indexes a tuple", () => {
    expect(lookupsIn(`for (let i = 0; i < 3; i++) ${body}`)).toBe(3);
    expect(lookupsIn(`for (let i = 0; i < 40; i++) { if (routes.lookup({ len: LENS[i], addr: ctx.localIp4 & mask }) !== null) return SK_DROP; mask = mask << 1; }`)).toBe(40);
  });
});
