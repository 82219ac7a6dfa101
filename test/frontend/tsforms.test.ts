/**
 * The issue-10 follow-up forms (test/frontend/tsforms.ts): each new spelling gives what the old one gave on the VM's
 * interpreter, its JIT and the kernel (BPF_PROG_TEST_RUN), for empty and filled maps and two lookups; the
 * instruction counts are printed as the report's table. Then each construct against the value TypeScript gives it,
 * stated once and checked on every tier, and the exact diagnostics of what stays out.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { formatObject } from "../../compiler/cli/objdump.ts";
import { readObject } from "../../compiler/elf/index.ts";
import { compile } from "../../compiler/index.ts";
import { describeKernel } from "../support/kernel.ts";
import { TSFORMS, tsformSource } from "./tsforms.ts";
import { TCP4, Tiers, testFormPairs, type Fill } from "./tiers.ts";

const FILLS: Fill[] = [
  {},
  { counts: [[1, 3]], primary: [[0, "A"], [1, "A"]], backup: [[0, "B"]] },
  { primary: [[1, "A"]] },
  { primary: [[0, "A"]] },
  { backup: [[0, "B"]] },
];
const UDP = { ...TCP4, protocol: "udp" as const, localPort: 7004 };
const CTXS = [TCP4, UDP];

describeKernel("new forms mean what the old spellings meant (interp, JIT, kernel)", () => {
  // Some new forms cost a few instructions more than their workaround (the report's table says which): no length check.
  testFormPairs(TSFORMS, tsformSource, "tsform.ts", FILLS, CTXS, 2, false);
});

const HEAD = `import { type SkLookup, type Verdict, type Sock, SK_PASS, SK_DROP, SockMap, HashMap, ArrayMap, ASSIGN_REPLACE,
  type u16, type u32, type u64, type i64, type i32 } from "tsbpf";
export const out = new ArrayMap<u64>({ maxEntries: 4 });
export const primary = new SockMap({ maxEntries: 2 });
export const backup = new SockMap({ maxEntries: 2 });
`;

const COMPARE = HEAD + `
export function compare(ctx: SkLookup): Verdict {
  const d = ctx.localPort - 7007;
  const big: u64 = 0xffffffffffffffffn + BigInt(d);
  const neg: i64 = -1n + BigInt(d);
  const n: number = -1 + d;
  const s: i32 = -1 + d;
  let r = 0n;
  if (big > neg) r |= 1n;
  if (neg < big) r |= 2n;
  if (big !== neg) r |= 4n;
  if (big > -1n) r |= 8n;
  if (neg < 0xffffffffffffffffn) r |= 16n;
  if (big > n) r |= 32n;
  if (n < big) r |= 64n;
  if (s < 3000000000) r |= 128n;
  if (big >= s) r |= 256n;
  if (neg === 0xffffffffffffffffn) r |= 512n;
  if (BigInt(d) - 1n === big) r |= 1024n;
  out.update(0, r);
  out.update(1, big <= neg ? 1n : 0n);
  return SK_PASS;
}
export function cases(ctx: SkLookup): Verdict {
  const big: u64 = BigInt(ctx.localPort) - 7008n;
  let r = 0n;
  switch (big) { case -1n: r = 1n; break; case 0xffffffffffffffffn: r = 2n; break; }
  switch (ctx.localPort) { case 7007 + 65536: r += 10n; break; case 7007: r += 20n; break; }
  out.update(0, r);
  return SK_PASS;
}
`;

/** What TypeScript computes for COMPARE at a local port: the same expressions on exact bigints. */
function compareExpected(port: number): bigint[] {
  const d = BigInt(port - 7007);
  const big = BigInt.asUintN(64, (1n << 64n) - 1n + d);
  const neg = BigInt.asIntN(64, -1n + d);
  const n = -1n + d, s = BigInt.asIntN(32, -1n + d);
  const bits = [big > neg, neg < big, big !== neg, big > -1n, neg < (1n << 64n) - 1n, big > n, n < big, s < 3000000000n,
    big >= s, neg === (1n << 64n) - 1n, d - 1n === big];
  return [bits.reduce((r, b, i) => (b ? r | (1n << BigInt(i)) : r), 0n), big <= neg ? 1n : 0n];
}

const OPTIONAL = HEAD + `
interface Key { protocol: u32; port: u16 }
function f(x?: u32): u32 { if (x === undefined) return 1; return x + 1; }
function g(x?: u32): u32 { return x ?? 5; }
function gg(x?: u32): u32 { return g(x); }
function h(on?: boolean): u32 { return on ? 10 : 20; }
function k(key?: Key): u32 { return key?.port ?? 9; }
function kinds(x?: u32): u32 { let r: u32 = 0; if (x === null) r |= 1; if (x === undefined) r |= 2; if (x == null) r |= 4; if (x !== null) r |= 8; return r; }
function firstOf(a?: [u16, u16, u16]): u32 { return a?.[0] ?? 77; }
export function optional(ctx: SkLookup): Verdict {
  out.update(0, BigInt(f() + f(3) * 10 + g() * 100 + g(7) * 1000));
  out.update(1, BigInt(h() + h(true) * 100 + gg(ctx.localPort === 7007 ? undefined : 4) + gg(3) * 10 + gg() * 1000));
  out.update(2, BigInt(k() + k({ protocol: 6, port: ctx.localPort }) * 10));
  const row: [u16, u16, u16] = [ctx.localPort, 2, 3];
  out.update(3, BigInt(kinds() + kinds(1) * 16 + firstOf() * 1000 + firstOf(row) * 100000));
  return SK_PASS;
}
function bump(x?: u32): u32 {
  let r: u32 = 0;
  for (let i = 0; i < 3; i++) {
    if (x === undefined) x = 1;
    else x += 1;
    r += x;
  }
  return r;
}
function orFive(x?: u32): u32 { x ??= 5; return x; }
export function assigned(ctx: SkLookup): Verdict {
  const v: u32 = ctx.localPort;
  out.update(0, BigInt(bump() + bump(v) * 100));
  out.update(1, BigInt(v));                       // the caller's value is a copy: unchanged
  out.update(2, BigInt(orFive() + orFive(2) * 10));
  return SK_PASS;
}
`;

const SOCKETS = HEAD + `
export function andValue(ctx: SkLookup): Verdict {
  const sk = primary.lookup(0) && backup.lookup(0);
  if (sk === null) return SK_PASS;
  return ctx.assign(sk) === 0 ? SK_PASS : SK_DROP;
}
export function orValue(ctx: SkLookup): Verdict {
  const sk = primary.lookup(0) || backup.lookup(0);
  if (!sk) return SK_PASS;
  return ctx.assign(sk) === 0 ? SK_PASS : SK_DROP;
}
export function conditions(ctx: SkLookup): Verdict {
  const a = primary.lookup(0), b = backup.lookup(0);
  out.update(0, a && b ? 1n : 0n);
  out.update(1, a || b ? 1n : 0n);
  if (primary.lookup(0) && !backup.lookup(0)) return SK_DROP;
  return SK_PASS;
}
export function lookupOrCurrent(ctx: SkLookup): Verdict {
  const first = primary.lookup(1);
  if (first !== null) ctx.assign(first);          // ctx.sk is now A
  let sk = backup.lookup(0);
  if (sk === null) sk = ctx.sk;                   // a borrowed socket: never released
  out.update(0, sk === null ? 0n : 1n);
  if (sk === null) return SK_PASS;
  return ctx.assign(sk, ASSIGN_REPLACE) === 0 ? SK_PASS : SK_DROP;
}
export function currentOrLookup(ctx: SkLookup): Verdict {
  const first = primary.lookup(1);
  if (first !== null) ctx.assign(first);
  let { sk } = ctx;
  for (let i = 0; i < 2; i++) {
    if (sk !== null) break;
    sk = backup.lookup(i);                        // a reference, in the variable that held ctx.sk
  }
  if (sk === null) return SK_PASS;
  return ctx.assign(sk, ASSIGN_REPLACE) === 0 ? SK_PASS : SK_DROP;
}
function serve(ctx: SkLookup, sk: Sock | null): Verdict {
  if (sk === null) return SK_PASS;
  return ctx.assign(sk, ASSIGN_REPLACE) === 0 ? SK_PASS : SK_DROP;
}
export function fillIn(ctx: SkLookup): Verdict {
  const first = primary.lookup(1);
  if (first !== null) ctx.assign(first);
  let sk = ctx.sk;
  sk ??= backup.lookup(0);                        // a reference only when ctx.sk was null
  return serve(ctx, sk);
}
export function reassigned(ctx: SkLookup): Verdict {
  let sk = primary.lookup(0);
  if (ctx.localPort === 7007) sk = ctx.sk;        // releases primary[0] first (the block starts with it)
  if (ctx.protocol === 6) sk = backup.lookup(0);
  if (sk === null) return SK_PASS;
  return ctx.assign(sk) === 0 ? SK_PASS : SK_DROP;
}
`;

const REST = HEAD + `
interface Flow { protocol: u32; port: u16; ports: [u16, u16, u16]; weight: u32 }
const TABLE = [[80, 1], [443, 2], [7007, 3], [7004, 4]] as const;
const P = { TCP: 6, UDP: 17, SCTP: 132 } as const;
export function rest(ctx: SkLookup): Verdict {
  const [head, ...tail] = TABLE;
  let slot = 0;
  for (const [port, s] of tail) if (port === ctx.localPort) slot = s;
  const { TCP, ...others } = P;
  out.update(0, BigInt(head[0] + slot * 1000 + tail.length * 10000 + tail[2][1] * 100000 + others.SCTP * 1000000 + TCP));
  const f: Flow = { protocol: ctx.protocol, port: ctx.localPort, ports: [1, 2, 3], weight: 5 };
  const { port, ports: [p0, ...more], ...meta } = f;
  const { ports, ...scalars } = f;
  f.weight = 9;                                   // the rest objects are copies
  f.ports[1] = 7;
  out.update(1, BigInt(port + meta.protocol * 10000 + meta.weight * 1000000));
  out.update(2, BigInt(p0 + more[0] * 10 + more[1] * 100 + more.length * 1000 + ports[1] * 10000 + scalars.weight * 100000));
  return SK_PASS;
}
`;

describeKernel("each construct means what TypeScript means (interp, JIT, kernel)", () => {
  const tiers: Tiers[] = [];
  const make = async (src: string, name: string) => {
    const t = await new Tiers(src, name).start();
    tiers.push(t);
    return t;
  };
  afterAll(() => tiers.forEach((t) => t.stop()));

  test("u64 against i64, number, i32 and constants compares values, never bit patterns", async () => {
    const t = await make(COMPARE, "compare.ts");
    for (const ctx of CTXS) t.expect("compare", {}, { verdict: "SK_PASS", out: compareExpected(ctx.localPort) }, ctx);
    // Every comparison but the 1024 one holds at 7007; the old lowering gave 768 (the bit patterns' answers).
    expect(compareExpected(7007)[0]).toBe(511n);
    // case labels are compared by value too: -1n is no u64, 7007 + 65536 no u16 (the old lowering matched both: 11n).
    t.expect("cases", {}, { verdict: "SK_PASS", out: [22n] });
    t.expect("cases", {}, { verdict: "SK_PASS", out: [0n] }, UDP);
  });

  test("optional parameters: undefined when omitted, === undefined, ??, truthiness, ?.f, ?.[i], passed on", async () => {
    const t = await make(OPTIONAL, "optional.ts");
    for (const ctx of CTXS) {
      const port = BigInt(ctx.localPort);
      t.expect("optional", {}, {
        verdict: "SK_PASS",
        // kinds() = 2|4|8 (undefined is not null under ===), kinds(1) = 8; firstOf() = 77, firstOf(row) = port
        out: [7541n, 20n + 1000n + (port === 7007n ? 5n : 4n) + 30n + 5000n, 9n + port * 10n, 14n + 8n * 16n + 77n * 1000n + port * 100000n],
      }, ctx);
    }
  });

  test("an optional parameter can be assigned (x ??= 5, x += 1) without writing the caller's value", async () => {
    const t = await make(OPTIONAL, "optional.ts");
    for (const ctx of CTXS) {
      const v = BigInt(ctx.localPort);
      t.expect("assigned", {}, { verdict: "SK_PASS", out: [6n + (3n * v + 6n) * 100n, v, 25n] }, ctx);
    }
  });

  test("&& and || between sockets, as values and as conditions", async () => {
    const t = await make(SOCKETS, "sockets.ts");
    t.expect("andValue", {}, { verdict: "SK_PASS", selected: null });
    t.expect("andValue", { primary: [[0, "A"]] }, { verdict: "SK_PASS", selected: null });
    t.expect("andValue", { backup: [[0, "B"]] }, { verdict: "SK_PASS", selected: null });
    t.expect("andValue", { primary: [[0, "A"]], backup: [[0, "B"]] }, { verdict: "SK_PASS", selected: "B" });
    t.expect("orValue", { backup: [[0, "B"]] }, { verdict: "SK_PASS", selected: "B" });
    t.expect("orValue", { primary: [[0, "A"]], backup: [[0, "B"]] }, { verdict: "SK_PASS", selected: "A" });
    t.expect("conditions", {}, { verdict: "SK_PASS", out: [0n, 0n] });
    t.expect("conditions", { backup: [[0, "B"]] }, { verdict: "SK_PASS", out: [0n, 1n] });
    t.expect("conditions", { primary: [[0, "A"]] }, { verdict: "SK_DROP", out: [0n, 1n] });
    t.expect("conditions", { primary: [[0, "A"]], backup: [[0, "B"]] }, { verdict: "SK_PASS", out: [1n, 1n] });
  });

  test("one variable holding a lookup result or ctx.sk: only the lookup's reference is released", async () => {
    const t = await make(SOCKETS, "sockets.ts");
    for (const program of ["lookupOrCurrent", "currentOrLookup"]) {
      t.expect(program, {}, { verdict: "SK_PASS", selected: null });
      t.expect(program, { primary: [[1, "A"]] }, { verdict: "SK_PASS", selected: "A" });
      t.expect(program, { backup: [[0, "B"]] }, { verdict: "SK_PASS", selected: "B" });
    }
    t.expect("lookupOrCurrent", { primary: [[1, "A"]], backup: [[0, "B"]] }, { verdict: "SK_PASS", selected: "B", out: [1n] });
    // ctx.sk (A) is kept: the loop never looks up.
    t.expect("currentOrLookup", { primary: [[1, "A"]], backup: [[0, "B"]] }, { verdict: "SK_PASS", selected: "A" });
    t.expect("currentOrLookup", { backup: [[1, "B"]] }, { verdict: "SK_PASS", selected: "B" });
    t.expect("fillIn", { backup: [[0, "B"]] }, { verdict: "SK_PASS", selected: "B" });
    t.expect("fillIn", { primary: [[1, "A"]], backup: [[0, "B"]] }, { verdict: "SK_PASS", selected: "A" });
    for (const ctx of CTXS) {
      const tcp = ctx.protocol === "tcp";
      t.expect("reassigned", {}, { verdict: "SK_PASS", selected: null }, ctx);
      // A UDP lookup keeps primary[0], a TCP listener: assign refuses it (-EPROTOTYPE), so SK_DROP.
      const keptA = { verdict: "SK_DROP" as const, selected: null };
      t.expect("reassigned", { primary: [[0, "A"]] }, tcp ? { verdict: "SK_PASS", selected: null } : keptA, ctx);
      t.expect("reassigned", { primary: [[0, "A"]], backup: [[0, "B"]] }, tcp ? { verdict: "SK_PASS", selected: "B" } : keptA, ctx);
    }
  });

  test("rest elements: constant tuples and objects, struct and array copies", async () => {
    const t = await make(REST, "rest.ts");
    for (const ctx of CTXS) {
      const port = BigInt(ctx.localPort), protocol = ctx.protocol === "tcp" ? 6n : 17n;
      const slot = port === 7007n ? 3n : 4n;
      t.expect("rest", {}, {
        verdict: "SK_PASS",
        out: [80n + slot * 1000n + 3n * 10000n + 4n * 100000n + 132n * 1000000n + 6n, port + protocol * 10000n + 5n * 1000000n,
          1n + 20n + 300n + 2000n + 7n * 10000n + 5n * 100000n],
      }, ctx);
    }
  });
});

describe("golden disassembly of the new forms (5.10 target, source lines interleaved)", () => {
  TSFORMS.forEach((f, i) => {
    // Numbered: constructs that differ only in their operators (`&&`, `||`) would otherwise share a file.
    const name = `${String(i + 1).padStart(2, "0")}_${f.construct.replace(/[^A-Za-z0-9]+/g, "_").replace(/^_|_$/g, "")}`;
    test(f.construct, async () => {
      const r = compile({ fileName: "tsform.ts", source: tsformSource(f) });
      expect(r.diagnostics).toEqual([]);
      await expect(formatObject(readObject(r.object!), "tsform.o")).toMatchFileSnapshot(`./golden/tsforms/${name}.txt`);
    });
  });
});

/** Compiles one file and returns its headlines (`LINE:COL - error CODE: message`). */
function errors(source: string): string[] {
  const r = compile({ fileName: "x.ts", source });
  return r.diagnostics.map((d) => `${d.line}:${d.column} - error ${d.code}: ${d.message}`);
}

describe("what stays out: one precise diagnostic, with the spelling to use", () => {
  test("a function that may be undefined is a function value, reported where it is made (no error at f?.())", () => {
    expect(errors(`${HEAD}
function twice(x: u32): u32 { return x * 2; }
export function p(ctx: SkLookup): Verdict {
  const f = ctx.localPort === 1 ? twice : undefined;
  out.update(0, BigInt(f?.(3) ?? 0));
  return SK_PASS;
}`)).toEqual(["9:35 - error TSBPF1003: 'twice' is used as a function value; functions can only be called (to call it only sometimes, test the condition: `if (c) twice(x)`)"]);
  });

  test("an optional parameter of function type", () => {
    expect(errors(`${HEAD}
function apply(x: u32, f?: (v: u32) => u32): u32 { return f?.(x) ?? x; }
export function p(ctx: SkLookup): Verdict { return apply(ctx.localPort) === 1 ? SK_DROP : SK_PASS; }`))
      .toEqual(["7:28 - error TSBPF2001: a function type has no BPF layout: BPF has no function values; call a top-level function by name (if it may be absent, pass a boolean and test it: `if (on) f(x)`)"]);
  });

  test("rest of the context, and a struct rest that would share a nested array", () => {
    expect(errors(`${HEAD}
export function p(ctx: SkLookup): Verdict {
  const { localPort, ...others } = ctx;
  return localPort === others.remotePort ? SK_DROP : SK_PASS;
}`)).toEqual(["8:22 - error TSBPF1018: a rest element of the context is not supported (it would copy fields the kernel fills in later); read the fields you need (`ctx.protocol`)"]);
    expect(errors(`${HEAD}
interface Flow { port: u16; ports: [u16, u16] }
export function p(ctx: SkLookup): Verdict {
  const f: Flow = { port: ctx.localPort, ports: [1, 2] };
  const { port, ...others } = f;
  return port === others.ports[0] ? SK_DROP : SK_PASS;
}`)).toEqual(["10:17 - error TSBPF1018: '...others' would share the struct field 'ports' with the original (JavaScript copies one level); destructure 'ports' by name"]);
  });

  test("an optional Ip6 parameter, and an optional socket that may also be null", () => {
    expect(errors(`${HEAD}
import { type Ip6 } from "tsbpf";
function isSet(a?: Ip6): boolean { return a !== undefined; }
export function p(ctx: SkLookup): Verdict { return isSet(ctx.localIp6) ? SK_DROP : SK_PASS; }`))
      .toEqual(["8:17 - error TSBPF1018: optional parameters must be integers, booleans or structs; give it a default value (`addr: Ip6 = ip6(\"::\")`)"]);
    expect(errors(`${HEAD}

function has(sk?: Sock | null): boolean { return sk !== undefined; }
export function p(ctx: SkLookup): Verdict { return has(ctx.sk) ? SK_DROP : SK_PASS; }`))
      .toEqual(["8:16 - error TSBPF1018: an optional socket parameter cannot also be null; write `sk: Sock | null` and pass null"]);
  });
});
