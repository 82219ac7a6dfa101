/**
 * BPF helpers by id, as the kernel implements them for sk_lookup programs. A helper takes its arguments r1..r5 as
 * (lo, hi) word pairs after (machine, pc), returns r0's low word and leaves the high word in `m.h`. Pointers are VM pointers
 * (runtime/vm/region.ts). Anything not listed faults with "helper N (name) is not supported".
 */
import { HELPER_NAMES, Helper, SkLookupFlag } from "../../compiler/asm/helpers.ts";
import { CtxOff, Errno } from "../../compiler/abi/sk-lookup.ts";
import type { VmMap } from "../maps/map.ts";
import { Socket } from "../net/socket.ts";
import type { Machine } from "../vm/machine.ts";
import { OFF_BIAS, Region, RegionKind, VmFault } from "../vm/region.ts";
import { formatWords } from "./printk.ts";

/** A helper implementation. */
export type HelperFn = (
  m: Machine,
  pc: number,
  l1: number,
  h1: number,
  l2: number,
  h2: number,
  l3: number,
  h3: number,
  l4: number,
  h4: number,
  l5: number,
  h5: number,
) => number;

/** Reads `len` bytes through a pointer argument (stack, map value or read-only memory); returns a view, not a copy. */
export function argBytes(m: Machine, lo: number, hi: number, len: number, pc: number, what: string): Uint8Array {
  const r = argRegion(m, lo, hi, len, pc, what);
  const o = (lo - OFF_BIAS) | 0;
  return r.bytes.subarray(o, o + len);
}

/** Exact-size scratch arrays by role (0 key, 1 value) and length, reused by argCopy. */
const SCRATCH = [new Map<number, Uint8Array>(), new Map<number, Uint8Array>()];

/**
 * The `len` bytes at a pointer argument, checked as argBytes checks them, copied into a reused array of exactly `len`
 * bytes (one per role and length), valid until the next call for that role and length. For helpers whose callee
 * copies what it keeps (map update and delete: the maps copy key words and value bytes), so that a run allocates no
 * view per call.
 */
export function argCopy(m: Machine, lo: number, hi: number, len: number, pc: number, what: string, role: 0 | 1): Uint8Array {
  const r = argRegion(m, lo, hi, len, pc, what);
  const o = (lo - OFF_BIAS) | 0;
  const cache = SCRATCH[role]!;
  let out = cache.get(len);
  if (out === undefined) cache.set(len, (out = new Uint8Array(len)));
  const src = r.bytes;
  for (let i = 0; i < len; i++) out[i] = src[o + i]!;
  return out;
}

/** Checks that `len` bytes at a pointer argument are readable memory and returns their region. */
export function argRegion(m: Machine, lo: number, hi: number, len: number, pc: number, what: string): Region {
  const r = m.region(lo, hi, pc, what, len);
  const o = (lo - OFF_BIAS) | 0;
  if (r.kind !== RegionKind.Stack && r.kind !== RegionKind.MapValue && r.kind !== RegionKind.ReadOnly) {
    throw new VmFault(`${what}: expected a pointer to stack or map memory, got ${r.label}`, pc);
  }
  if (o < 0 || o + len > r.bytes.length) {
    throw new VmFault(`${what}: ${len} bytes at offset ${o} of ${r.label} (size ${r.bytes.length}) are out of bounds`, pc);
  }
  return r;
}

/** The map behind a map-pointer argument. */
export function argMap(m: Machine, lo: number, hi: number, pc: number, what: string): VmMap {
  const r = m.region(lo, hi, pc, what);
  if (r.kind !== RegionKind.Map || ((lo - OFF_BIAS) | 0) !== 0) throw new VmFault(`${what}: expected a map pointer, got ${r.label}`, pc);
  return r.owner as VmMap;
}

/** The socket behind a socket-pointer argument (null for NULL). */
export function argSock(m: Machine, lo: number, hi: number, pc: number, what: string): Socket | null {
  if (lo === 0 && hi === 0) return null;
  const r = m.region(lo, hi, pc, what);
  if (r.kind !== RegionKind.Sock || ((lo - OFF_BIAS) | 0) !== 0) notSock(r, pc, what);
  return r.owner as Socket;
}

/** Cold path of argSock (kept out so that argSock stays inlinable). */
function notSock(r: Region, pc: number, what: string): never {
  throw new VmFault(`${what}: expected a socket pointer, got ${r.label}`, pc);
}

/** Returns a pointer to a region as the helper result. */
function retPtr(m: Machine, r: Region | null): number {
  if (!r) {
    m.h = 0;
    return 0;
  }
  m.h = m.table.hi(r);
  return OFF_BIAS;
}
/** Returns a (negative or positive) 32-bit integer sign-extended to 64 bits. */
function retInt(m: Machine, v: number): number {
  m.h = v < 0 ? -1 : 0;
  return v | 0;
}

const mapLookup: HelperFn = (m, pc, l1, h1, l2, h2) => {
  const map = argMap(m, l1, h1, pc, "map_lookup_elem");
  const r = argRegion(m, l2, h2, map.def.keySize, pc, "map_lookup_elem key");
  const v = map.lookupAt(r.bytes, (l2 - OFF_BIAS) | 0);
  if (v instanceof Socket) {
    // A SOCKMAP/SOCKHASH lookup takes a reference the program must drop with sk_release.
    v.refs++;
    m.held.push(v);
    return retPtr(m, v.region);
  }
  return retPtr(m, v);
};

const mapUpdate: HelperFn = (m, pc, l1, h1, l2, h2, l3, h3, l4, h4) => {
  const map = argMap(m, l1, h1, pc, "map_update_elem");
  const key = argCopy(m, l2, h2, map.def.keySize, pc, "map_update_elem key", 0);
  // u64 flags: anything that does not fit 32 bits is certainly invalid.
  const flags = h4 !== 0 ? 2 ** 32 : l4 >>> 0;
  if (map.holdsSockets) {
    const s = argSock(m, l3, h3, pc, "map_update_elem value");
    return retInt(m, s ? map.update(key, s, flags) : -Errno.EINVAL);
  }
  const value = argCopy(m, l3, h3, map.def.valueSize, pc, "map_update_elem value", 1);
  return retInt(m, map.update(key, value, flags, m)); // maps copy the bytes into their own storage
};

const mapDelete: HelperFn = (m, pc, l1, h1, l2, h2) => {
  const map = argMap(m, l1, h1, pc, "map_delete_elem");
  const key = argCopy(m, l2, h2, map.def.keySize, pc, "map_delete_elem key", 0);
  return retInt(m, map.delete(key, m));
};

/**
 * bpf_sk_lookup_assign (net/core/filter.c), checks in the kernel's order: unknown flags → EINVAL; a TCP socket not
 * in LISTEN or a UDP socket not in CLOSE (i.e. connected) → ESOCKTNOSUPPORT; protocol mismatch → EPROTOTYPE;
 * family mismatch where the socket cannot serve it (v4 socket, or v6only) → EAFNOSUPPORT; an existing non-NULL
 * selection without REPLACE → EEXIST. NULL passes the socket checks.
 */
const skAssign: HelperFn = (m, pc, l1, h1, l2, h2, l3, h3) => assignSocket(m, argSock(m, l2, h2, pc, "sk_assign socket"), l3, h3);

/**
 * bpf_sk_assign once its socket argument is resolved (`sk`: the socket or NULL; flags as words): the JIT calls this
 * directly when it has proven the argument a socket pointer or NULL.
 */
export function assignSocket(m: Machine, sk: Socket | null, l3: number, h3: number): number {
  const flagsLo = l3 >>> 0;
  if (h3 !== 0 || (flagsLo & ~(SkLookupFlag.REPLACE | SkLookupFlag.NO_REUSEPORT)) !== 0) return retInt(m, -Errno.EINVAL);
  if (sk) {
    const e = assignError(m, sk);
    if (e !== 0) return retInt(m, e);
  }
  if (m.selected && (flagsLo & SkLookupFlag.REPLACE) === 0) return retInt(m, -Errno.EEXIST);
  m.selected = sk;
  m.noReuseport = (flagsLo & SkLookupFlag.NO_REUSEPORT) !== 0;
  return retInt(m, 0);
}

/** Why bpf_sk_assign refuses a (non-NULL) socket for the current lookup, as a negative errno, or 0. */
export function assignError(m: Machine, sk: Socket): number {
  if (!sk.assignable) return -Errno.ESOCKTNOSUPPORT;
  const ctxProto = m.ctx.view.getUint16(CtxOff.protocol, true);
  const ctxFamily = m.ctx.view.getUint16(CtxOff.family, true);
  if (sk.protocol !== ctxProto) return -Errno.EPROTOTYPE;
  if (sk.family !== ctxFamily && (sk.family === 2 || sk.v6only)) return -Errno.EAFNOSUPPORT;
  return 0;
}

const skRelease: HelperFn = (m, pc, l1, h1) => releaseSocket(m, argSock(m, l1, h1, pc, "sk_release"), pc);

/** bpf_sk_release once its argument is resolved (the JIT calls it directly for a proven socket pointer). */
export function releaseSocket(m: Machine, sk: Socket | null, pc: number): number {
  const held = m.held;
  // The newest reference first, by hand: Array#lastIndexOf is a builtin call that optimised code does not inline.
  let i = held.length - 1;
  while (i >= 0 && held[i] !== sk) i--;
  if (!sk || i < 0) notHeld(sk, pc);
  // Close the gap by hand and pop: splice allocates the array of removed elements (per run, for a program that
  // releases its references out of order).
  for (let j = i; j < held.length - 1; j++) held[j] = held[j + 1]!;
  held.pop();
  sk.refs--;
  return retInt(m, 0);
}

/** Cold path of sk_release. */
function notHeld(sk: Socket | null, pc: number): never {
  throw new VmFault(`sk_release of ${sk ? sk.name : "NULL"}, which this program holds no reference to`, pc);
}

const ktime: HelperFn = (m) => {
  if (m.defaultClock) {
    // The usual case, without the BigInts of the general path (several allocations a call).
    const ns = hrtimeNs();
    const hi = Math.floor(ns / 2 ** 32);
    m.h = hi | 0;
    return (ns - hi * 2 ** 32) | 0;
  }
  const t = BigInt.asUintN(64, m.clock());
  m.h = Number(t >> 32n) | 0;
  return Number(t & 0xffffffffn) | 0;
};

/**
 * process.hrtime.bigint() as a number of ns, without BigInts: process.hrtime() reads the same clock as seconds and
 * nanoseconds (exact: a double holds ns up to 2^53, about 104 days of uptime). Measured here, one call costs ~41 ns
 * against performance.now()'s ~48 (node 20; its brand check and ms conversion) and hrtime.bigint()'s ~65.
 */
export function hrtimeNs(): number {
  const t = process.hrtime();
  return t[0] * 1e9 + t[1];
}

/** xorshift32: deterministic for a given seed, so both tiers and reruns agree. */
const prandom: HelperFn = (m) => {
  let x = m.prng;
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  m.prng = x >>> 0;
  m.h = 0;
  return x | 0;
};

const smpId: HelperFn = (m) => {
  m.h = 0;
  return 0;
};

const tracePrintk: HelperFn = (m, pc, l1, h1, l2, h2, l3, h3, l4, h4, l5, h5) => {
  const size = l2 >>> 0;
  if (size === 0 || h2 !== 0 || size > 4096) return retInt(m, -Errno.EINVAL);
  const r = argRegion(m, l1, h1, size, pc, "trace_printk fmt");
  const out = formatWords(m, r.bytes, (l1 - OFF_BIAS) | 0, size, l3, h3, l4, h4, l5, h5, pc);
  if (typeof out === "number") return retInt(m, out);
  m.addTrace(out.text);
  return retInt(m, out.length);
};

/** Helper implementations by id. */
export const HELPERS: ReadonlyMap<number, HelperFn> = new Map<number, HelperFn>([
  [Helper.map_lookup_elem, mapLookup],
  [Helper.map_update_elem, mapUpdate],
  [Helper.map_delete_elem, mapDelete],
  [Helper.ktime_get_ns, ktime],
  [Helper.trace_printk, tracePrintk],
  [Helper.get_prandom_u32, prandom],
  [Helper.get_smp_processor_id, smpId],
  [Helper.sk_release, skRelease],
  [Helper.sk_assign, skAssign],
]);

/** How many argument registers each implemented helper reads (the JIT passes only those). */
export const HELPER_ARGC: ReadonlyMap<number, number> = new Map<number, number>([
  [Helper.map_lookup_elem, 2],
  [Helper.map_update_elem, 4],
  [Helper.map_delete_elem, 2],
  [Helper.ktime_get_ns, 0],
  [Helper.trace_printk, 5],
  [Helper.get_prandom_u32, 0],
  [Helper.get_smp_processor_id, 0],
  [Helper.sk_release, 1],
  [Helper.sk_assign, 3],
]);

/** The implementation of helper `id`, or a function that faults with "helper N (name) is not supported". */
export function helperFor(id: number): HelperFn {
  const f = HELPERS.get(id);
  if (f) return f;
  const name = HELPER_NAMES.get(id) ?? "unknown";
  return (_m, pc) => {
    throw new VmFault(`helper ${id} (${name}) is not supported`, pc);
  };
}
