/**
 * Group 2 of issue 10: constructs TypeScript users reach for, each with its TypeScript meaning on the VM's
 * interpreter, its JIT and the kernel (BPF_PROG_TEST_RUN). Fallback sockets are run with every combination of
 * filled and empty slots, so each path's reference release is exercised (the VM fails a run that leaks one, the
 * kernel verifier refuses a program that could).
 */
import { afterAll, beforeAll, expect, test } from "vitest";
import { describeKernel } from "../support/kernel.ts";
import { TCP4, Tiers } from "./tiers.ts";

const HEAD = `import { type SkLookup, type Verdict, SK_PASS, SK_DROP, SockMap, HashMap, ArrayMap, TCP_LISTEN, IPPROTO_UDP,
  type u8, type u16, type u32, type u64 } from "tsbpf";
export const out = new ArrayMap<u64>({ maxEntries: 4 });
`;

const SOCKETS = HEAD + `
export const primary = new SockMap({ maxEntries: 2 });
export const backup = new SockMap({ maxEntries: 2 });
export function fallback(ctx: SkLookup): Verdict {
  let sk = primary.lookup(0);
  if (sk === null) sk = backup.lookup(0);
  if (sk === null) return SK_PASS;
  return ctx.assign(sk) === 0 ? SK_PASS : SK_DROP;
}
export function replaced(ctx: SkLookup): Verdict {
  let sk = primary.lookup(0);
  if (ctx.localPort === 7007) sk = backup.lookup(1);      // a held reference is replaced: released first
  if (sk === null) return SK_PASS;
  return ctx.assign(sk) === 0 ? SK_PASS : SK_DROP;
}
export function ternary(ctx: SkLookup): Verdict {
  const sk = ctx.protocol === IPPROTO_UDP ? primary.lookup(0) : backup.lookup(0);
  if (sk === null) return SK_PASS;
  return ctx.assign(sk) === 0 ? SK_PASS : SK_DROP;
}
export function coalesce(ctx: SkLookup): Verdict {
  const sk = primary.lookup(ctx.localPort % 2) ?? backup.lookup(0);
  if (!sk) return SK_PASS;
  return ctx.assign(sk) === 0 ? SK_PASS : SK_DROP;
}
export const pool = new SockMap({ maxEntries: 128 });
export function firstInLoop(ctx: SkLookup): Verdict {
  let sk = pool.lookup(0);
  for (let i = 1; i < 100; i++) {               // stays a loop: the variable's register carries the reference
    if (sk !== null) break;
    sk = pool.lookup(i);
  }
  if (sk === null) return SK_PASS;
  return ctx.assign(sk) === 0 ? SK_PASS : SK_DROP;
}
export function firstUnrolled(ctx: SkLookup): Verdict {
  let sk = pool.lookup(0);
  for (let i = 1; i < 8; i++) {
    if (sk === null) sk = pool.lookup(i);
  }
  if (sk === null) return SK_PASS;
  return ctx.assign(sk) === 0 ? SK_PASS : SK_DROP;
}
export function borrowed(ctx: SkLookup): Verdict {
  let { sk } = ctx;                              // ctx.sk: not a reference, never released
  out.update(0, sk === null ? 1n : 0n);
  return SK_PASS;
}
export function optional(ctx: SkLookup): Verdict {
  out.update(0, BigInt(primary.lookup(0)?.state ?? 99));
  out.update(1, ctx.sk?.state === TCP_LISTEN ? 1n : 0n);
  return SK_PASS;
}
`;

describeKernel("fallback sockets: one reference, released once on every path", () => {
  let t: Tiers;
  beforeAll(async () => void (t = await new Tiers(SOCKETS, "sockets.ts").start()));
  afterAll(() => t.stop());

  test("let sk = a.lookup(0); if (sk === null) sk = b.lookup(0)", () => {
    t.expect("fallback", {}, { verdict: "SK_PASS", selected: null });
    t.expect("fallback", { primary: [[0, "A"]] }, { verdict: "SK_PASS", selected: "A" });
    t.expect("fallback", { backup: [[0, "B"]] }, { verdict: "SK_PASS", selected: "B" });
    t.expect("fallback", { primary: [[0, "A"]], backup: [[0, "B"]] }, { verdict: "SK_PASS", selected: "A" });
  });
  test("a socket variable reassigned while it holds a reference", () => {
    t.expect("replaced", { primary: [[0, "A"]], backup: [[1, "B"]] }, { verdict: "SK_PASS", selected: "B" });
    t.expect("replaced", { primary: [[0, "A"]] }, { verdict: "SK_PASS", selected: null });
    t.expect("replaced", { primary: [[0, "A"]], backup: [[1, "B"]] }, { verdict: "SK_PASS", selected: "A" }, { ...TCP4, localPort: 7008 });
  });
  test("cond ? a.lookup(0) : b.lookup(0)", () => {
    t.expect("ternary", { primary: [[0, "A"]], backup: [[0, "B"]] }, { verdict: "SK_PASS", selected: "B" });
    t.expect("ternary", { primary: [[0, "A"]] }, { verdict: "SK_PASS", selected: null });
  });
  test("a.lookup(i) ?? b.lookup(0): the right side only when the left is null", () => {
    t.expect("coalesce", { primary: [[1, "A"]], backup: [[0, "B"]] }, { verdict: "SK_PASS", selected: "A" }); // 7007 % 2 = 1
    t.expect("coalesce", { primary: [[0, "A"]], backup: [[0, "B"]] }, { verdict: "SK_PASS", selected: "B" });
    t.expect("coalesce", {}, { verdict: "SK_PASS", selected: null });
  });
  test("the first filled slot, found in a loop (99 iterations) and in an unrolled loop", () => {
    for (const prog of ["firstInLoop", "firstUnrolled"]) {
      t.expect(prog, {}, { verdict: "SK_PASS", selected: null });
      t.expect(prog, { pool: [[5, "A"]] }, { verdict: "SK_PASS", selected: "A" });
      t.expect(prog, { pool: [[3, "B"], [5, "A"]] }, { verdict: "SK_PASS", selected: "B" });
    }
    t.expect("firstInLoop", { pool: [[99, "A"]] }, { verdict: "SK_PASS", selected: "A" });
  });
  test("a let socket destructured from ctx is borrowed", () => {
    t.expect("borrowed", {}, { verdict: "SK_PASS", out: [1n] });
  });
  test("optional chaining on a socket lookup and on ctx.sk", () => {
    t.expect("optional", {}, { out: [99n, 0n] });
    t.expect("optional", { primary: [[0, "A"]] }, { out: [10n, 0n] }); // TCP_LISTEN
  });
});

const TABLES = HEAD + `
interface Key { protocol: u32; port: u16 }
interface Stat { hits: u32; on: boolean }
export const byKey = new HashMap<Key, u32>({ maxEntries: 4 });
export const stats = new HashMap<u32, Stat>({ maxEntries: 4 });
enum Proto { TCP = 6, UDP = 17 }
const enum Port { HTTP = 80, ALT = 7007 }
const P = { TCP: 6, UDP: 17 } as const;
const ROWS = [[80, 1], [7007, 2]] as const;
const SERVICES = [{ port: 53, slot: 5 }, { port: 7007, slot: 6 }] as const;
const PORTS: readonly u16[] = [22, 7007];
function isTcp(p: Proto): boolean { return p === Proto.TCP; }

export function consts(ctx: SkLookup): Verdict {
  let slot = 0;
  for (let i = 0; i < ROWS.length; i++) if (ROWS[i][0] === ctx.localPort) slot = ROWS[i][1];
  let svc = 0;
  for (const s of SERVICES) if (s.port === ctx.localPort) svc = s.slot;
  out.update(0, BigInt(slot));
  out.update(1, BigInt(svc));
  out.update(2, PORTS.includes(ctx.localPort) ? 1n : 0n);
  out.update(3, BigInt(Port.ALT + P.UDP));
  return isTcp(ctx.protocol) && ctx.protocol === P.TCP ? SK_PASS : SK_DROP;
}
export function shorthand(ctx: SkLookup): Verdict {
  const protocol = ctx.protocol;
  const port = ctx.localPort;
  byKey.update({ protocol, port }, 5);
  out.update(0, BigInt(byKey.lookup({ protocol: 6, port: 7007 }) ?? 0));
  return SK_PASS;
}
export function labels(ctx: SkLookup): Verdict {
  let n = 0;
  outer: for (let i = 0; i < 4; i++) {
    for (let j = 0; j < 4; j++) {
      if (j > i) continue outer;
      if (i === 3) break outer;
      n += 1;
    }
  }
  out.update(0, BigInt(n));                      // 1 + 2 + 3
  return SK_PASS;
}
export function optionalField(ctx: SkLookup): Verdict {
  out.update(0, BigInt(stats.lookup(1)?.hits ?? 7));
  out.update(1, stats.lookup(1)?.on ? 1n : 0n);
  return SK_PASS;
}
`;

describeKernel("enums, constant objects, tables, shorthand, labels, optional fields", () => {
  let t: Tiers;
  beforeAll(async () => void (t = await new Tiers(TABLES, "tables.ts").start()));
  afterAll(() => t.stop());

  test("enum, const enum, as const objects, tuples of tuples and of objects, includes", () => {
    t.expect("consts", {}, { verdict: "SK_PASS", out: [2n, 6n, 1n, 7024n] });
    t.expect("consts", {}, { verdict: "SK_DROP", out: [1n, 0n, 0n, 7024n] }, { ...TCP4, protocol: "udp", localPort: 80 });
  });
  test("shorthand properties build the key from variables", () => {
    t.expect("shorthand", {}, { out: [5n] });
  });
  test("labeled break and continue", () => {
    t.expect("labels", {}, { out: [6n] });
  });
  test("m.lookup(k)?.field ?? d and as a condition", () => {
    t.expect("optionalField", {}, { out: [7n, 0n] });
  });
});

const STRUCTS = HEAD + `
interface Key { protocol: u32; port: u16 }
interface Val { hits: u32; slot: u32 }
export const byKey = new HashMap<Key, u32>({ maxEntries: 4 });
export const vals = new HashMap<u32, Val>({ maxEntries: 4 });
const TABLE = [[80, 1], [7007, 2]] as const;
const OBJS = [{ port: 80, slot: 3 }, { port: 7007, slot: 4 }] as const;

function keyOf(ctx: SkLookup, bump: u16 = 0): Key {
  return { protocol: ctx.protocol, port: ctx.localPort + bump };
}
function weight(k: Key, scale: u32 = 2): u32 {
  return k.port * scale;
}
function packed({ protocol, port }: Key): u32 {
  return protocol * 100000 + port;
}
function bumpPort(k: Key): void {
  k.port += 1;                                   // objects are passed by reference: the caller's struct changes
}

export function destructure(ctx: SkLookup): Verdict {
  const { localPort, protocol: proto } = ctx;
  const key: Key = { protocol: proto, port: localPort };
  const { port } = key;
  let a = 0, b = 0;
  for (const [p, slot] of TABLE) if (p === port) a = slot;
  for (const { port: q, slot } of OBJS) if (q === port) b = slot;
  out.update(0, BigInt(a));
  out.update(1, BigInt(b));
  vals.update(1, { hits: 5, slot: 10 });
  const v = vals.lookup(1);
  if (v !== null) {
    let { hits, slot } = v;                      // copies: the map value is not changed
    hits += 1;
    out.update(2, BigInt(hits + slot));
    out.update(3, BigInt(v.hits));
  }
  return SK_PASS;
}

export function structFns(ctx: SkLookup): Verdict {
  const k = keyOf(ctx);
  out.update(0, BigInt(weight(k)));
  out.update(1, BigInt(packed(keyOf(ctx, 1))));
  const k2: Key = keyOf(ctx, 2);
  bumpPort(k2);
  out.update(2, BigInt(k2.port));
  byKey.update(keyOf(ctx), 9);
  out.update(3, BigInt(byKey.lookup(k) ?? 0));
  return SK_PASS;
}
`;

describeKernel("destructuring, struct parameters and results, default parameters", () => {
  let t: Tiers;
  beforeAll(async () => void (t = await new Tiers(STRUCTS, "structs.ts").start()));
  afterAll(() => t.stop());

  test("destructuring ctx, a struct, for...of rows (tuples and objects), a map value", () => {
    t.expect("destructure", {}, { out: [2n, 4n, 16n, 5n] });
  });
  test("struct results, struct parameters by reference, destructured parameters, defaults", () => {
    t.expect("structFns", {}, { out: [14014n, 607008n, 7010n, 9n] });
  });
});

const DISPATCHER = `import { type SkLookup, type Verdict, type Sock, SK_PASS, SK_DROP, SockMap, SockHash, HashMap, ArrayMap,
  IPPROTO_TCP, TCP_LISTEN, type u16, type u32, type u64 } from "tsbpf";
export const out = new ArrayMap<u64>({ maxEntries: 4 });
interface Svc { proto: u32; port: u16 }
export const services = new SockHash<Svc>({ maxEntries: 64 });
export const pool = new SockMap({ maxEntries: 4 });
export const hits = new HashMap<Svc, u64>({ maxEntries: 64 });
const ROUTES = [{ port: 80, slot: 0 }, { port: 443, slot: 1 }, { port: 7007, slot: 2 }] as const;

function svcOf({ protocol, localPort }: SkLookup): Svc {
  return { proto: protocol, port: localPort };
}
function serve(ctx: SkLookup, sk: Sock | null): Verdict {
  if (sk === null) return SK_PASS;
  if (sk.protocol === IPPROTO_TCP && sk.state !== TCP_LISTEN) return SK_PASS;
  return ctx.assign(sk) === 0 ? SK_PASS : SK_DROP;
}
export function dispatch(ctx: SkLookup): Verdict {
  const key = svcOf(ctx);
  hits.increment(key);
  out.update(0, hits.lookup(key) ?? 0n);
  let sk = services.lookup(key);
  if (sk === null) {
    for (const { port, slot } of ROUTES) {
      if (port === ctx.localPort) { sk = pool.lookup(slot); break; }
    }
  }
  sk ??= pool.lookup(3);
  return serve(ctx, sk);
}
`;

describeKernel("a dispatcher written the way TypeScript users write it", () => {
  let t: Tiers;
  beforeAll(async () => void (t = await new Tiers(DISPATCHER, "dispatcher.ts").start()));
  afterAll(() => t.stop());
  // struct Svc { __u32 proto; __u16 port; /* 2 bytes padding */ } for TCP port 7007
  const svc = new Uint8Array([6, 0, 0, 0, 0x5f, 0x1b, 0, 0]);

  test("exact service first, then the route table's slot, then the last resort (??=)", () => {
    t.expect("dispatch", { services: [[svc, "A"]], pool: [[2, "B"]] }, { verdict: "SK_PASS", selected: "A", out: [1n] });
    t.expect("dispatch", { pool: [[2, "B"], [3, "A"]] }, { verdict: "SK_PASS", selected: "B" });
    t.expect("dispatch", { pool: [[3, "A"]] }, { verdict: "SK_PASS", selected: "A" });
    t.expect("dispatch", {}, { verdict: "SK_PASS", selected: null });
  });
});
