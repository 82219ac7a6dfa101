/**
 * The TypeScript forms of the issue-10 follow-up (optional element access and calls, `&&`/`||` between sockets, one
 * variable holding a lookup or `ctx.sk`, rest elements, optional parameters, mixed-sign 64-bit comparisons), each
 * next to the spelling users had to write before. tsforms.test.ts runs both on every tier and prints the instruction
 * counts (the report's before/after table).
 */
import type { Form } from "./forms.ts";

/** Imports and maps every form may use. */
export const TSFORMS_HEAD = `import { type SkLookup, type Verdict, SK_PASS, SK_DROP, SockMap, HashMap, ArrayMap, ASSIGN_REPLACE,
  type u16, type u32, type u64, type i64 } from "tsbpf";
export const out = new ArrayMap<u64>({ maxEntries: 4 });
export const counts = new HashMap<u32, u32>({ maxEntries: 8 });
export const ranges = new HashMap<u32, [u16, u16]>({ maxEntries: 8 });
export const primary = new SockMap({ maxEntries: 2 });
export const backup = new SockMap({ maxEntries: 2 });
interface Flow { protocol: u32; port: u16; hits: u32; weight: u32 }
`;

/** Makes ctx.sk the socket in primary[1] (when there is one), so that a program can read a borrowed socket. */
const SELECT_FIRST = `const first = primary.lookup(1);
  if (first !== null) ctx.assign(first);`;

export const TSFORMS: Form[] = [
  {
    construct: "`a.lookup(0) && b.lookup(0)` (value)",
    before: `const a = primary.lookup(0);
  if (a === null) return SK_PASS;
  const b = backup.lookup(0);
  if (b === null) return SK_PASS;
  return ctx.assign(b) === 0 ? SK_PASS : SK_DROP;`,
    after: `const sk = primary.lookup(0) && backup.lookup(0);
  if (sk === null) return SK_PASS;
  return ctx.assign(sk) === 0 ? SK_PASS : SK_DROP;`,
  },
  {
    construct: "`a.lookup(0) || b.lookup(0)` (value)",
    before: `const a = primary.lookup(0);
  if (a !== null) return ctx.assign(a) === 0 ? SK_PASS : SK_DROP;
  const b = backup.lookup(0);
  if (b === null) return SK_PASS;
  return ctx.assign(b) === 0 ? SK_PASS : SK_DROP;`,
    after: `const sk = primary.lookup(0) || backup.lookup(0);
  if (!sk) return SK_PASS;
  return ctx.assign(sk) === 0 ? SK_PASS : SK_DROP;`,
  },
  {
    construct: "`if (sk1 && sk2)` (condition)",
    before: `const a = primary.lookup(0);
  if (a === null) return SK_PASS;
  const b = backup.lookup(0);
  return b !== null ? SK_DROP : SK_PASS;`,
    after: `const a = primary.lookup(0), b = backup.lookup(0);
  return a && b ? SK_DROP : SK_PASS;`,
  },
  {
    construct: "one variable: a lookup or `ctx.sk`",
    before: `${SELECT_FIRST}
  const b = backup.lookup(0);
  if (b !== null) return ctx.assign(b, ASSIGN_REPLACE) === 0 ? SK_PASS : SK_DROP;
  const cur = ctx.sk;
  if (cur === null) return SK_PASS;
  return ctx.assign(cur, ASSIGN_REPLACE) === 0 ? SK_PASS : SK_DROP;`,
    after: `${SELECT_FIRST}
  let sk = backup.lookup(0);
  if (sk === null) sk = ctx.sk;
  if (sk === null) return SK_PASS;
  return ctx.assign(sk, ASSIGN_REPLACE) === 0 ? SK_PASS : SK_DROP;`,
  },
  {
    construct: "`ctx.sk ?? m.lookup(0)`",
    before: `${SELECT_FIRST}
  const cur = ctx.sk;
  if (cur !== null) return ctx.assign(cur, ASSIGN_REPLACE) === 0 ? SK_PASS : SK_DROP;
  const b = backup.lookup(0);
  if (b === null) return SK_PASS;
  return ctx.assign(b, ASSIGN_REPLACE) === 0 ? SK_PASS : SK_DROP;`,
    after: `${SELECT_FIRST}
  const sk = ctx.sk ?? backup.lookup(0);
  if (sk === null) return SK_PASS;
  return ctx.assign(sk, ASSIGN_REPLACE) === 0 ? SK_PASS : SK_DROP;`,
  },
  {
    construct: "`const [first, ...rest] = TABLE`",
    decls: `const PORTS = [7007, 80, 443, 7004] as const;`,
    before: `let other = false;
  for (let i = 1; i < 4; i++) if (PORTS[i] === ctx.localPort) other = true;
  out.update(0, BigInt(ctx.localPort === PORTS[0] ? 1 : other ? 2 : 3));
  return SK_PASS;`,
    after: `const [main, ...others] = PORTS;
  let other = false;
  for (const p of others) if (p === ctx.localPort) other = true;
  out.update(0, BigInt(ctx.localPort === main ? 1 : other ? 2 : 3));
  return SK_PASS;`,
  },
  {
    construct: "`const { hits, ...rest } = flow` (struct)",
    before: `const f: Flow = { protocol: ctx.protocol, port: ctx.localPort, hits: 3, weight: 5 };
  const hits = f.hits;
  const protocol = f.protocol, port = f.port, weight = f.weight;
  f.weight = 0;
  out.update(0, BigInt(hits + protocol * 10 + port * 1000 + weight * 100000000));
  return SK_PASS;`,
    after: `const f: Flow = { protocol: ctx.protocol, port: ctx.localPort, hits: 3, weight: 5 };
  const { hits, ...rest } = f;
  f.weight = 0;
  out.update(0, BigInt(hits + rest.protocol * 10 + rest.port * 1000 + rest.weight * 100000000));
  return SK_PASS;`,
  },
  {
    construct: "optional parameter `by?: u32` with `=== undefined`",
    decls: `function scaledBy(x: u32, by: u32, given: boolean): u32 { return given ? x * by : x * 2; }
function scaled(x: u32, by?: u32): u32 { return by === undefined ? x * 2 : x * by; }`,
    before: `out.update(0, BigInt(scaledBy(ctx.localPort, 0, false) + scaledBy(ctx.localPort, 3, true)));
  return SK_PASS;`,
    after: `out.update(0, BigInt(scaled(ctx.localPort) + scaled(ctx.localPort, 3)));
  return SK_PASS;`,
  },
  {
    construct: "optional parameter `x ?? 5`",
    decls: `function orFiveGiven(x: u32, given: boolean): u32 { return given ? x : 5; }
function orFive(x?: u32): u32 { return x ?? 5; }`,
    before: `out.update(0, BigInt(orFiveGiven(0, false) * 100000 + orFiveGiven(ctx.localPort, ctx.localPort !== 7007)));
  return SK_PASS;`,
    after: `out.update(0, BigInt(orFive() * 100000 + orFive(ctx.localPort === 7007 ? undefined : ctx.localPort)));
  return SK_PASS;`,
  },
  {
    construct: "`u64 > i64` (mixed sign)",
    before: `const big: u64 = BigInt(ctx.localPort) - 7005n;
  const neg: i64 = BigInt(ctx.localPort) - 7005n;
  out.update(0, neg < 0n || big > (neg as u64) ? 1n : 0n);
  out.update(1, neg >= 0n && big === (neg as u64) ? 1n : 0n);
  return SK_PASS;`,
    after: `const big: u64 = BigInt(ctx.localPort) - 7005n;
  const neg: i64 = BigInt(ctx.localPort) - 7005n;
  out.update(0, big > neg ? 1n : 0n);
  out.update(1, big === neg ? 1n : 0n);
  return SK_PASS;`,
  },
  {
    construct: "`ranges.lookup(k)?.[1] ?? 0`",
    before: `if (ctx.localPort === 7007) ranges.update(1, [3, 4]);
  const r = ranges.lookup(1);
  out.update(0, BigInt(r !== null ? r[1] : 0));
  return SK_PASS;`,
    after: `if (ctx.localPort === 7007) ranges.update(1, [3, 4]);
  out.update(0, BigInt(ranges.lookup(1)?.[1] ?? 0));
  return SK_PASS;`,
  },
  {
    construct: "`f?.(x)` of a declared function",
    decls: `function twice(x: u32): u32 { return x * 2; }`,
    before: `out.update(0, BigInt(twice(ctx.localPort)));
  return SK_PASS;`,
    after: `out.update(0, BigInt(twice?.(ctx.localPort)));
  return SK_PASS;`,
  },
];

/** The whole file of one form: `before` and `after` as the programs `before` and `after`. */
export function tsformSource(f: Form): string {
  return `${TSFORMS_HEAD}${f.decls ?? ""}
export function before(ctx: SkLookup): Verdict {
  ${f.before}
}
export function after(ctx: SkLookup): Verdict {
  ${f.after}
}
`;
}
