/**
 * Representative IR programs, written as the frontend would lower them, with test_run cases for the kernel test.
 * Helper ids: map_lookup_elem 1, ktime_get_ns 5, sk_release 86, sk_assign 124.
 */
import { MapType } from "../../compiler/abi/maps.ts";
import type { Function, Module } from "../../compiler/ir/ir.ts";
import type { CtxSpec } from "../../runtime/kernel/ctx.ts";
import { FnBuilder, k, map, module, v } from "./ir-builder.ts";

/** A kernel test_run expectation: `selects` names the listener whose cookie must be selected (or null). */
export interface RunCase {
  ctx: CtxSpec;
  verdict: "SK_PASS" | "SK_DROP";
  selects?: "A" | "B" | null;
  /** Expected retval when it is computed (not just a verdict). */
  retval?: number;
}

/** One backend test program. */
export interface Case {
  name: string;
  module: Module;
  fn: Function;
  runs: RunCase[];
  /** Map entries to fill before running: map name → [u32 key, u32/u64 value or socket name]. */
  fill?: Record<string, Array<[number | Uint8Array, number | bigint | Uint8Array | "A" | "B"]>>;
}

const LOOKUP = 1;
const KTIME = 5;
const RELEASE = 86;
const ASSIGN = 124;

const sockets = map("sockets", MapType.SOCKMAP, 4, 8, 4);
const tcp4 = (localIp: string, localPort: number): CtxSpec => ({
  family: "inet",
  protocol: "tcp",
  remoteIp: "10.0.0.9",
  remotePort: 40001,
  localIp,
  localPort,
});
const tcp6 = (localIp: string, localPort: number): CtxSpec => ({
  family: "inet6",
  protocol: "tcp",
  remoteIp: "fd00::9",
  remotePort: 40001,
  localIp,
  localPort,
});

/**
 * Emits `sk = sockets.lookup(slotKey); if (!sk) return onNull; r = ctx.assign(sk, flags); release; return r == 0 ?
 * SK_PASS : SK_DROP` starting in the builder's current block, the way the frontend lowers the spec's sample.
 */
function assignFrom(b: FnBuilder, key: number, onNull: number, flags = 0, ternary = true): void {
  const sk = b.lookupU32("sockets", k(key));
  const some = b.block();
  const none = b.block();
  b.cbr("eq", v(sk), k(0), none, some);
  b.at(none).ret(k(onNull));
  b.at(some);
  const r = b.call(ASSIGN, [v(b.ctx), v(sk), k(flags)]);
  if (ternary) {
    const verdict = b.setcc("eq", v(r), k(0), 32);
    b.callVoid(RELEASE, [v(sk)]);
    b.ret(v(verdict));
  } else {
    const ok = b.block();
    const bad = b.block();
    b.cbr("eq", v(r), k(0), ok, bad, 32);
    b.at(ok).callVoid(RELEASE, [v(sk)]).ret(k(1));
    b.at(bad).callVoid(RELEASE, [v(sk)]).ret(k(0));
  }
}

/** The spec's sample: local port 7007 → sockets[0]. */
function redirPort(): Case {
  const b = new FnBuilder("redir_port");
  const port = b.ctxLoad(60, 4);
  const pass = b.block();
  const go = b.block();
  b.cbr("ne", v(port), k(7007), pass, go, 32);
  b.at(pass).ret(k(1));
  b.at(go);
  assignFrom(b, 0, 1);
  return {
    name: "redir_port",
    fn: b.fn,
    module: module([b.fn], [sockets]),
    runs: [
      { ctx: tcp4("127.0.0.1", 7007), verdict: "SK_PASS", selects: "A" },
      { ctx: tcp4("127.0.0.1", 7008), verdict: "SK_PASS", selects: null },
      { ctx: { ...tcp4("127.0.0.1", 7007), protocol: "udp" }, verdict: "SK_DROP", selects: null },
    ],
    fill: { sockets: [[0, "A"]] },
  };
}

/** IPv4 TCP to any port of 192.0.2.0/24 → sockets[0]: network-order mask and constant, no run-time swap. */
function cidrAllPorts(): Case {
  const b = new FnBuilder("serve_range");
  const pass = b.block();
  const fam = b.ctxLoad(8, 4);
  const c1 = b.block();
  b.cbr("ne", v(fam), k(2), pass, c1, 32);
  b.at(c1);
  const proto = b.ctxLoad(12, 4);
  const c2 = b.block();
  b.cbr("ne", v(proto), k(6), pass, c2, 32);
  b.at(c2);
  const ip = b.ctxLoad(40, 4);
  // 192.0.2.0/24 in network order read as a little-endian u32: mask 0x00ffffff, net 0x000200c0.
  const masked = b.bin("and", v(ip), k(0x00ffffff), 32);
  const go = b.block();
  b.cbr("ne", v(masked), k(0x000200c0), pass, go, 32);
  b.at(pass).ret(k(1));
  b.at(go);
  assignFrom(b, 0, 1, 0, false);
  return {
    name: "serve_range",
    fn: b.fn,
    module: module([b.fn], [sockets]),
    runs: [
      { ctx: tcp4("192.0.2.77", 80), verdict: "SK_PASS", selects: "A" },
      { ctx: tcp4("192.0.2.1", 65535), verdict: "SK_PASS", selects: "A" },
      { ctx: tcp4("192.0.3.1", 80), verdict: "SK_PASS", selects: null },
      { ctx: { ...tcp4("192.0.2.77", 80), protocol: "udp" }, verdict: "SK_PASS", selects: null },
    ],
    fill: { sockets: [[0, "A"]] },
  };
}

/** IPv6: fd00::1 port 7007 → sockets[0]; four 32-bit word compares against network-order constants. */
function redirIp6(): Case {
  const b = new FnBuilder("redir_ip6");
  const pass = b.block();
  const fam = b.ctxLoad(8, 4);
  let next = b.block();
  b.cbr("ne", v(fam), k(10), pass, next, 32);
  // fd00::1 → words (LE loads of network bytes): 0x000000fd, 0, 0, 0x01000000.
  const words = [0x000000fd, 0, 0, 0x01000000];
  words.forEach((w, i) => {
    b.at(next);
    const x = b.ctxLoad(44 + 4 * i, 4);
    next = b.block();
    b.cbr("ne", v(x), k(w), pass, next, 32);
  });
  b.at(next);
  const port = b.ctxLoad(60, 4);
  const go = b.block();
  b.cbr("ne", v(port), k(7007), pass, go, 32);
  b.at(pass).ret(k(1));
  b.at(go);
  assignFrom(b, 0, 1);
  return {
    name: "redir_ip6",
    fn: b.fn,
    module: module([b.fn], [sockets]),
    runs: [
      { ctx: tcp6("fd00::1", 7007), verdict: "SK_PASS", selects: "B" },
      { ctx: tcp6("fd00::2", 7007), verdict: "SK_PASS", selects: null },
      { ctx: tcp6("fd00:0:0:1::1", 7007), verdict: "SK_PASS", selects: null },
      { ctx: tcp6("fd00::1", 7008), verdict: "SK_PASS", selects: null },
    ],
    fill: { sockets: [[0, "B"]] },
  };
}

/**
 * Hash map with a struct key {protocol: u32, port: u32} built in a stack slot, null check, field read (a label),
 * label → SOCKMAP, per-label hit counter (ArrayMap<u64> increment). Unknown destination: SK_PASS; empty label: SK_DROP.
 */
function dispatch(): Case {
  const b = new FnBuilder("dispatch");
  const key = b.slot(8, 4, "key");
  b.slotStore(key, 0, 4, v(b.ctxLoad(12, 4)));
  b.slotStore(key, 4, 4, v(b.ctxLoad(60, 4)));
  const m = b.mapRef("by_port");
  const kp = b.slotAddr(key);
  const val = b.call(LOOKUP, [v(m), v(kp)], "map_value_or_null");
  const miss = b.block();
  const hit = b.block();
  b.cbr("eq", v(val), k(0), miss, hit);
  b.at(miss).ret(k(1));
  b.at(hit);
  const label = b.load(val, 0, 4);
  const ctr = b.lookupU32("hits", v(label));
  const count = b.block();
  const counted = b.block();
  b.cbr("eq", v(ctr), k(0), counted, count);
  b.at(count);
  const one = b.mov(k(1));
  b.emit({ op: "atomic_add", ptr: ctr, offset: 0, size: 8, value: v(one) });
  b.br(counted);
  b.at(counted);
  const sk = b.lookupU32("sockets", v(label));
  const some = b.block();
  const none = b.block();
  b.cbr("eq", v(sk), k(0), none, some);
  b.at(none).ret(k(0));
  b.at(some);
  const r = b.call(ASSIGN, [v(b.ctx), v(sk), k(0)]);
  const verdict = b.boolDiamond("eq", v(r), k(0), 32);
  b.callVoid(RELEASE, [v(sk)]);
  b.ret(v(verdict));
  const key8 = (proto: number, port: number) => new Uint8Array(new Uint32Array([proto, port]).buffer);
  return {
    name: "dispatch",
    fn: b.fn,
    module: module([b.fn], [map("by_port", MapType.HASH, 8, 4, 64), map("hits", MapType.ARRAY, 4, 8, 4), sockets]),
    runs: [
      { ctx: tcp4("127.0.0.1", 7007), verdict: "SK_PASS", selects: "A" },
      { ctx: tcp4("127.0.0.1", 80), verdict: "SK_DROP", selects: null },
      { ctx: tcp4("127.0.0.1", 9999), verdict: "SK_PASS", selects: null },
    ],
    fill: {
      by_port: [
        [key8(6, 7007), 1],
        [key8(6, 80), 2],
      ],
      sockets: [[1, "A"]],
    },
  };
}

/**
 * Reads `ctx.sk` (sock_or_null, not a reference): keeps an earlier TCP selection; otherwise selects sockets[1] with
 * REPLACE and releases the reference on both the success and failure path.
 */
function keepOrReplace(): Case {
  const b = new FnBuilder("keep_or_replace");
  const cur = b.ctxLoad(0, 8, "sock_or_null");
  const has = b.block();
  const none = b.block();
  b.cbr("eq", v(cur), k(0), none, has);
  b.at(has);
  const proto = b.load(cur, 12, 4);
  const keep = b.block();
  b.cbr("eq", v(proto), k(6), keep, none, 32);
  b.at(keep).ret(k(1));
  b.at(none);
  assignFrom(b, 1, 0, 1, false);
  return {
    name: "keep_or_replace",
    fn: b.fn,
    module: module([b.fn], [sockets]),
    runs: [
      { ctx: tcp4("127.0.0.1", 1), verdict: "SK_PASS", selects: "A" },
      { ctx: { ...tcp4("127.0.0.1", 1), protocol: "udp" }, verdict: "SK_DROP", selects: null },
    ],
    fill: { sockets: [[1, "A"]] },
  };
}

/** A bounded loop: for (i = 0; i < 4; i++) hits.increment(i); the counter lives across the helper calls. */
function countLoop(): Case {
  const b = new FnBuilder("count_loop");
  const i = b.mov(k(0));
  const head = b.block();
  const body = b.block();
  const inc = b.block();
  const latch = b.block();
  const done = b.block();
  b.br(head);
  b.at(head).cbr("ult", v(i), k(4), body, done);
  b.at(body);
  const p = b.lookupU32("hits", v(i));
  b.cbr("eq", v(p), k(0), latch, inc);
  b.at(inc);
  const one = b.mov(k(1));
  b.emit({ op: "atomic_add", ptr: p, offset: 0, size: 8, value: v(one) });
  b.br(latch);
  b.at(latch);
  b.emit({ op: "bin", dst: i, kind: "add", width: 64, a: v(i), b: k(1) });
  b.br(head);
  b.at(done).ret(k(1));
  return {
    name: "count_loop",
    fn: b.fn,
    module: module([b.fn], [map("hits", MapType.ARRAY, 4, 8, 4)]),
    runs: [{ ctx: tcp4("127.0.0.1", 1), verdict: "SK_PASS" }],
  };
}

/**
 * Register pressure: 12 values derived from the context, all live across a helper call, then combined. Needs spills
 * (only r6-r9 survive calls). Returns the parity of the combination, so the kernel's retval checks the arithmetic.
 */
export function pressure(): Case {
  const b = new FnBuilder("pressure");
  const offs = [8, 12, 16, 40, 60, 36, 20, 44, 16, 40, 60, 12];
  const vals = offs.map((off, i) => b.bin("add", v(b.ctxLoad(off, off === 36 ? 2 : 4)), k(i * 3 + 1)));
  b.call(KTIME, []);
  let acc = vals[0]!;
  vals.slice(1).forEach((x, i) => {
    acc = b.bin(i % 3 === 0 ? "xor" : i % 3 === 1 ? "add" : "sub", v(acc), v(x));
  });
  const folded = b.bin("lshr", v(acc), k(3));
  const mixed = b.bin("xor", v(acc), v(folded));
  const bit = b.bin("and", v(mixed), k(1));
  b.ret(v(bit));
  return { name: "pressure", fn: b.fn, module: module([b.fn], []), runs: [] };
}

/**
 * A possibly-null map value pointer kept across helper calls under register pressure, so it is spilled (8 bytes,
 * aligned) and null-checked after reloading; the stored sum checks the other spilled values survived too.
 */
export function spilledPointer(): Case {
  const b = new FnBuilder("spilled_ptr");
  const p = b.lookupU32("hits", k(0));
  const vals = [8, 12, 60, 40, 16, 36].map((off, i) => b.bin("add", v(b.ctxLoad(off, off === 36 ? 2 : 4)), k(i + 1)));
  b.call(KTIME, []);
  b.call(7, []);
  const none = b.block();
  const some = b.block();
  b.cbr("eq", v(p), k(0), none, some);
  b.at(none).ret(k(0));
  b.at(some);
  let acc = vals[0]!;
  for (const x of vals.slice(1)) acc = b.bin("add", v(acc), v(x));
  b.emit({ op: "store", ptr: p, offset: 0, size: 8, value: v(acc) });
  b.ret(k(1));
  return { name: "spilled_ptr", fn: b.fn, module: module([b.fn], [map("hits", MapType.ARRAY, 4, 8, 4)]), runs: [] };
}

/** A local helper `inNet(ip) = (ip & mask) == net` called twice (local and remote address), inlined. */
function inlined(): Case {
  const h = new FnBuilder("in_net", false, 1);
  const masked = h.bin("and", v(0), k(0x0000ffff), 32);
  h.ret(v(h.setcc("eq", v(masked), k(0x0000000a), 32))); // 10.0.0.0/16 in network order
  const b = new FnBuilder("both_in_net");
  const pass = b.block();
  const drop = b.block();
  const r1 = b.vreg();
  b.emit({ op: "call_local", dst: r1, callee: "in_net", args: [v(b.ctxLoad(40, 4))] });
  const c2 = b.block();
  b.cbr("eq", v(r1), k(0), pass, c2);
  b.at(c2);
  const r2 = b.vreg();
  b.emit({ op: "call_local", dst: r2, callee: "in_net", args: [v(b.ctxLoad(16, 4))] });
  b.cbr("ne", v(r2), k(0), drop, pass);
  b.at(pass).ret(k(1));
  b.at(drop).ret(k(0));
  return {
    name: "both_in_net",
    fn: b.fn,
    module: module([b.fn, h.fn], []),
    runs: [
      { ctx: tcp4("10.0.3.4", 80), verdict: "SK_DROP" }, // remote 10.0.0.9 is in 10.0/16 too
      { ctx: tcp4("10.1.3.4", 80), verdict: "SK_PASS" },
      { ctx: { ...tcp4("10.0.3.4", 80), remoteIp: "192.168.0.1" }, verdict: "SK_PASS" },
    ],
  };
}

/** Every test program. */
export function cases(): Case[] {
  return [redirPort(), cidrAllPorts(), redirIp6(), dispatch(), keepOrReplace(), countLoop(), pressure(), spilledPointer(), inlined()];
}
