/**
 * Less common DSL features, each compiled, loaded into the kernel and run with BPF_PROG_TEST_RUN: struct keys and
 * values (nested structs, arrays, signed fields), SOCKHASH with struct keys, an IPv6 LPM trie, map update/delete from
 * BPF, socket fields, NULL+REPLACE assign, local functions taking the context, break/continue, trace.
 */
import { once } from "node:events";
import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, expect, test } from "vitest";
import { compile, formatDiagnostics } from "../../compiler/index.ts";
import { openKernel } from "../../runtime/kernel/open.ts";
import type { LoadedObject } from "../../runtime/kernel/load.ts";
import { describeKernel } from "../support/kernel.ts";

const HEAD = `import { type SkLookup, type Verdict, type Sock, SK_PASS, SK_DROP, SockMap, SockHash, HashMap, ArrayMap, LpmTrie, type Ip6,
  ip4, ip6, cidr6, trace, AF_INET, AF_INET6, IPPROTO_TCP, TCP_LISTEN, ASSIGN_REPLACE,
  type u8, type u16, type u32, type u64, type i8, type i16, type i32 } from "tsbpf";
export const out = new ArrayMap<u64>({ maxEntries: 16 });
`;

function load(name: string, body: string): LoadedObject {
  const source = HEAD + body;
  const r = compile({ fileName: `${name}.ts`, source });
  if (r.diagnostics.length) throw new Error(formatDiagnostics(r.diagnostics, new Map([[`${name}.ts`, source]])));
  return openKernel().load(r.object!);
}

const tcp4 = { family: "inet", protocol: "tcp", localIp: "192.0.2.1", localPort: 7007, remoteIp: "127.0.0.2", remotePort: 40000 } as const;
const tcp6 = { family: "inet6", protocol: "tcp", localIp: "fd00:1::5", localPort: 443, remoteIp: "fd00:9::1", remotePort: 40000 } as const;

describeKernel("DSL features on the kernel", () => {
  const objs: LoadedObject[] = [];
  let server: Server;
  const cookie = () => openKernel().socketCookie(server);
  beforeAll(async () => {
    server = createServer().listen(0, "::");
    await once(server, "listening");
  });
  afterAll(() => {
    for (const o of objs) o.close();
    server.close();
  });
  const open = (name: string, body: string) => {
    const o = load(name, body);
    objs.push(o);
    return o;
  };
  const outs = (o: LoadedObject, n: number) => Array.from({ length: n }, (_, i) => o.map("out").lookupInt(i));

  test("struct values: nested structs, arrays and signed fields round-trip through a hash map", () => {
    const o = open("structs", `
interface Inner { lo: i8; hi: i16 }
interface Rec { tag: u8; inner: Inner; ports: [u16, u16, u16]; total: u64 }
export const recs = new HashMap<u32, Rec>({ maxEntries: 4 });
export function structs(ctx: SkLookup): Verdict {
  const r: Rec = { tag: 7, inner: { lo: ctx.localPort - 7107, hi: ctx.localPort - 40000 }, ports: [ctx.localPort, 2, 3], total: 5n };
  recs.update(1, r);
  const v = recs.lookup(1);
  if (v === null) return SK_DROP;
  v.total += BigInt(v.inner.lo);
  out.update(0, BigInt(v.inner.lo));
  out.update(1, BigInt(v.inner.hi));
  out.update(2, BigInt(v.ports[0] + v.ports[2]));
  out.update(3, v.total);
  out.update(4, BigInt(v.tag));
  recs.delete(1);
  out.update(5, recs.lookup(1) === null ? 1n : 0n);
  return SK_PASS;
}`);
    expect(o.program("structs").testRun(tcp4).verdict).toBe("SK_PASS");
    const u64 = (n: number) => BigInt.asUintN(64, BigInt(n));
    expect(outs(o, 6)).toEqual([u64(-100), u64(Number(BigInt.asIntN(16, BigInt(7007 - 40000)))), 7010n, u64(5 - 100), 7n, 1n]);
  });

  test("SOCKHASH with a struct key, sock fields, and REPLACE", () => {
    const o = open("sockhash", `
interface Svc { proto: u32; port: u16 }
export const svcs = new SockHash<Svc>({ maxEntries: 8 });
export function sockhash(ctx: SkLookup): Verdict {
  const sk = svcs.lookup({ proto: ctx.protocol, port: ctx.localPort });
  if (sk === null) return SK_PASS;
  out.update(0, BigInt(sk.protocol));
  out.update(1, BigInt(sk.state));
  out.update(2, BigInt(sk.family));
  if (sk.state !== TCP_LISTEN) return SK_DROP;
  if (ctx.assign(null, ASSIGN_REPLACE) !== 0) return SK_DROP;
  const err = ctx.assign(sk, ASSIGN_REPLACE);
  const cur = ctx.sk;
  out.update(3, cur !== null && cur.srcPort === sk.srcPort ? 1n : 0n);
  return err === 0 ? SK_PASS : SK_DROP;
}`);
    const key = new Uint8Array(8);
    new DataView(key.buffer).setUint32(0, 6, true);
    new DataView(key.buffer).setUint16(4, 7007, true);
    o.map("svcs").setSocket(key, server);
    expect(o.program("sockhash").testRun(tcp4)).toMatchObject({ verdict: "SK_PASS", cookie: cookie() });
    expect(outs(o, 4)).toEqual([6n, 10n, 10n, 1n]);
    expect(o.program("sockhash").testRun({ ...tcp4, localPort: 80 })).toMatchObject({ verdict: "SK_PASS", cookie: 0n });
  });

  test("IPv6 LPM trie keyed by an Ip6 prefix, with remote-address checks and a local helper taking ctx", () => {
    const o = open("lpm6", `
interface Key6 { prefixLen: u32; addr: Ip6 }
export const nets = new LpmTrie<Key6, u32>({ maxEntries: 16 });
export const socks = new SockMap({ maxEntries: 4 });
const TRUSTED = cidr6("fd00:9::/32");
function choose(ctx: SkLookup, sk: Sock | null): Verdict {
  if (sk === null || sk.state !== TCP_LISTEN) return SK_PASS;
  return ctx.assign(sk) === 0 ? SK_PASS : SK_DROP;
}
function pick(ctx: SkLookup, slot: u32): Verdict {
  return choose(ctx, socks.lookup(slot));
}
export function lpm6(ctx: SkLookup): Verdict {
  if (ctx.family !== AF_INET6) return SK_PASS;
  if (!TRUSTED.has(ctx.remoteIp6)) return SK_DROP;
  const slot = nets.lookup({ prefixLen: 128, addr: ctx.localIp6 });
  if (slot === null) return SK_PASS;
  const peer: Ip6 = ctx.remoteIp6;
  out.update(0, peer.equals(ip6("fd00:9::1")) ? 1n : 0n);
  return pick(ctx, slot);
}`);
    const key = new Uint8Array(20);
    new DataView(key.buffer).setUint32(0, 48, true);
    key.set([0xfd, 0x00, 0x00, 0x01, 0x00, 0x00], 4); // fd00:1::/48
    o.map("nets").update(key, 2);
    o.map("socks").setSocket(2, server);
    const p = o.program("lpm6");
    expect(p.testRun(tcp6)).toMatchObject({ verdict: "SK_PASS", cookie: cookie() });
    expect(outs(o, 1)).toEqual([1n]);
    expect(p.testRun({ ...tcp6, localIp: "fd00:2::5" })).toMatchObject({ verdict: "SK_PASS", cookie: 0n });
    expect(p.testRun({ ...tcp6, remoteIp: "fd01::1" })).toMatchObject({ verdict: "SK_DROP", cookie: 0n });
    expect(p.testRun(tcp4)).toMatchObject({ verdict: "SK_PASS", cookie: 0n });
  });

  test("SOCKMAP update and delete from BPF, break/continue, trace", () => {
    const o = open("sockops", `
export const socks = new SockMap({ maxEntries: 4 });
const SLOTS = [0, 1, 2, 3] as const;
export function sockops(ctx: SkLookup): Verdict {
  let found: u32 = 99;
  let visited: u32 = 0;
  for (const i of SLOTS) {
    visited++;
    if (i === 1) continue;
    const sk = socks.lookup(i);
    if (sk === null) continue;
    found = i;
    out.update(1, BigInt(socks.update(3, sk)));
    break;
  }
  out.update(0, BigInt(found));
  out.update(2, BigInt(visited));
  out.update(3, BigInt(socks.delete(0)));
  trace("sockops: found %u visited %u", found, visited);
  return SK_PASS;
}`);
    o.map("socks").setSocket(0, server);
    expect(o.program("sockops").testRun(tcp4).verdict).toBe("SK_PASS");
    expect(outs(o, 4)).toEqual([0n, 0n, 1n, 0n]);
    expect(o.map("socks").lookupInt(3)).toBe(cookie());
    expect(o.map("socks").lookupInt(0)).toBeNull();
  });

  test("counted loops longer than the unroll limit stay loops the kernel verifier accepts", () => {
    const o = open("loops", `
export const table = new ArrayMap<u32>({ maxEntries: 1000 });
export function loops(ctx: SkLookup): Verdict {
  let sum: u32 = 0;
  for (let i = 0; i < 200; i++) sum += i * ctx.family;
  out.update(0, BigInt(sum));
  let found: u32 = 0;
  for (let i: u32 = 0; i < 100; i++) {
    const v = table.lookup(i);
    if (v === null) continue;
    if (v === ctx.localPort) {
      found = i;
      break;
    }
  }
  out.update(1, BigInt(found));
  let odd: u64 = 0n;
  for (let i = 1; i <= 299; i += 2) odd += BigInt(i);
  out.update(2, odd);
  return SK_PASS;
}`);
    o.map("table").update(77, 7007);
    o.map("table").update(90, 7007);
    expect(o.program("loops").testRun(tcp4).verdict).toBe("SK_PASS");
    expect(outs(o, 3)).toEqual([2n * 19900n, 77n, 22500n]);
  });
  test("a null test on ctx.sk narrows later reads of ctx.sk until the next assign, as TypeScript's narrowing says", () => {
    const o = open("narrowing", `
export const socks = new SockMap({ maxEntries: 2 });
export function narrowing(ctx: SkLookup): Verdict {
  out.update(3, ctx.sk !== null && ctx.sk.protocol === IPPROTO_TCP ? 1n : 0n);
  const s = socks.lookup(0);
  if (s === null) return SK_DROP;
  if (ctx.assign(s) !== 0) return SK_DROP;
  if (ctx.sk !== null && ctx.sk.protocol === IPPROTO_TCP) {
    out.update(4, BigInt(ctx.sk.srcPort));
    out.update(5, BigInt(ctx.sk.family));
  }
  return SK_PASS;
}`);
    o.map("socks").setSocket(0, server);
    const r = o.program("narrowing").testRun(tcp6);
    expect(r.verdict).toBe("SK_PASS");
    expect(r.cookie).toBe(cookie());
    const port = (server.address() as { port: number }).port;
    expect(outs(o, 6).slice(3)).toEqual([0n, BigInt(port), 10n]);
  });
});
