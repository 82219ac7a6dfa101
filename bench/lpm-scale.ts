/**
 * Goal 5 of issue 12: an LPM trie of up to 1,000,000 IPv4 prefixes, in the VM and in the kernel. The same compiled
 * programs run in the VM's JIT and through the kernel's BPF_PROG_TEST_RUN over the same prefixes; we report fill time,
 * memory and ns per run at each size, for three lookup patterns (one lookup per run each):
 * - `same`: the local address, one address inside a stored prefix, every run (the caches stay warm: the goal's figure);
 * - `random`: a uniformly random address (bpf_get_prandom_u32): hits and misses, mostly of short prefixes;
 * - `chase`: the address the previous run's lookup returned, along a cycle through up to 2^18 stored prefixes chosen at
 *   random (each the longest match of its address, so lengths /8../32 as stored): hits at cache-missing depth.
 */
import { readFileSync } from "node:fs";
import v8 from "node:v8";
import { runInNewContext } from "node:vm";
import { BPF_F_NO_PREALLOC, MapType } from "../compiler/abi/maps.ts";
import { LpmTrieMap } from "../runtime/maps/lpm.ts";
import type { Region } from "../runtime/vm/region.ts";
import { buildCtx, type SkLookupInput } from "../runtime/vm/ctx.ts";
import { VmObject } from "../runtime/vm/object.ts";
import { WARMUP_RUNS, timeRuns } from "../runtime/vm/bench.ts";
import { benchTestRun } from "../runtime/kernel/bench.ts";
import { openKernel } from "../runtime/kernel/open.ts";

/** The programs both sides run (their key is the dispatcher example's: {prefixLen, protocol, port, addr}). */
export const LPM_SOURCE = `import { type SkLookup, type Verdict, SK_PASS, SK_DROP, LpmTrie, ArrayMap, getPrandomU32, type u16, type u32 } from "tsbpf";

interface Key { prefixLen: u32; protocol: u16; port: u16; addr: u32 }
interface Cursor { addr: u32 }

export const prefixes = new LpmTrie<Key, u32>({ maxEntries: 1000000 });
export const cursor = new ArrayMap<Cursor>({ maxEntries: 1 });

export function lpm_lookup(ctx: SkLookup): Verdict {
  const label = prefixes.lookup({ prefixLen: 64, protocol: ctx.protocol, port: 0, addr: ctx.localIp4 });
  return label === null ? SK_DROP : SK_PASS;
}

export function lpm_random(ctx: SkLookup): Verdict {
  const label = prefixes.lookup({ prefixLen: 64, protocol: ctx.protocol, port: 0, addr: getPrandomU32() });
  return label === null ? SK_DROP : SK_PASS;
}

export function lpm_chase(ctx: SkLookup): Verdict {
  const c = cursor.lookup(0);
  if (c === null) return SK_DROP;
  const next = prefixes.lookup({ prefixLen: 64, protocol: ctx.protocol, port: 0, addr: c.addr });
  if (next === null) return SK_DROP;
  c.addr = next;
  return SK_PASS;
}
`;

/** The lookup patterns, by program. */
export const PATTERNS = [
  { name: "same", program: "lpm_lookup" },
  { name: "random", program: "lpm_random" },
  { name: "chase", program: "lpm_chase" },
] as const;

/** The longest chase cycle (its prefixes' paths are the working set: 2^18 of them outgrow the CPU caches). */
const CHASE_MAX = 1 << 18;

/**
 * What both sides load: prefixes with their values, the chase's first address, and an address that hits. Keys and
 * values are packed in one buffer each: a million small typed arrays on the heap had made the VM's memory figure
 * (a heap difference) swing by tens of MiB with where the collector compacted them.
 */
export interface PrefixSet {
  count: number;
  /** `count` 12-byte keys. */
  keys: Uint8Array;
  /** `count` 4-byte values. */
  values: Uint8Array;
  hitIp: string;
  chaseStart: number;
  /** The chase cycle's addresses (the cursor must hold one of them after any number of runs). */
  chase: Set<number>;
}

const u32le = (v: number) => Uint8Array.of(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24);

/**
 * `n` distinct prefixes (/8 to /32 under protocol 6, port 0) as 12-byte keys, deterministic. Values are 0 except
 * along the chase cycle: the prefix that is the longest match of chase address i holds address i + 1.
 */
export function makePrefixes(n: number): PrefixSet {
  let seed = 0x9e3779b9;
  const next = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
  const seen = new Set<number>();
  const keys = new Uint8Array(n * 12);
  const lens = new Uint8Array(n);
  const addrOf = new Uint32Array(n);
  let hit = 0;
  for (let count = 0; count < n; ) {
    const len = 8 + (next() % 25);
    const addr = (next() & (len === 32 ? 0xffffffff : ~(0xffffffff >>> len))) >>> 0;
    const id = len * 2 ** 32 + addr;
    if (seen.has(id)) continue;
    seen.add(id);
    keys.set(lpmKey(len, addr), count * 12);
    lens[count] = len;
    addrOf[count] = addr;
    if (++count === Math.ceil(n / 2)) hit = (addr | (len === 32 ? 0 : next() & (0xffffffff >>> len))) >>> 0;
  }
  // The chase: addresses inside random prefixes, kept when their longest match is a prefix not used yet (a reference
  // map of the same prefixes, value = index, answers which), so that the values form one cycle.
  const reference = new LpmTrieMap({ name: "reference", type: MapType.LPM_TRIE, keySize: 12, valueSize: 4, maxEntries: n, flags: BPF_F_NO_PREALLOC } as never);
  for (let i = 0; i < n; i++) reference.update(keys.subarray(i * 12, i * 12 + 12), u32le(i), 0);
  const probe = lpmKey(32, 0);
  const owners: number[] = [];
  const addrs: number[] = [];
  const used = new Set<number>();
  for (let tries = 0; addrs.length < Math.min(CHASE_MAX, n >> 1) && tries < 4 * n; tries++) {
    const k = next() % n;
    const len = lens[k]!;
    const addr = (addrOf[k]! | (len === 32 ? 0 : next() & (0xffffffff >>> len))) >>> 0;
    new DataView(probe.buffer).setUint32(8, addr, false);
    const owner = reference.lookup(probe)!.view.getUint32(0, true);
    if (used.has(owner)) continue;
    used.add(owner);
    owners.push(owner);
    addrs.push(addr);
  }
  const values = new Uint8Array(n * 4);
  owners.forEach((owner, i) => values.set(u32le(addrs[(i + 1) % addrs.length]!), owner * 4));
  return { count: n, keys, values, hitIp: ipString(hit), chaseStart: addrs[0]!, chase: new Set(addrs) };
}

/** A key {prefixLen: 32 + len, protocol 6, port 0, addr} (protocol and port are part of every prefix). */
function lpmKey(len: number, addr: number): Uint8Array {
  const key = new Uint8Array(12);
  const dv = new DataView(key.buffer);
  dv.setUint32(0, 32 + len, true);
  dv.setUint16(4, 6, false);
  dv.setUint16(6, 0, false);
  dv.setUint32(8, addr, false);
  return key;
}

const ipString = (a: number) => [a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255].join(".");

const ctxFor = (ip: string): SkLookupInput => ({ family: "inet", protocol: "tcp", remoteIp: "127.0.0.2", remotePort: 8008, localIp: ip, localPort: 443 });

/** One size's figures on one side. */
export interface ScaleFigures {
  fillMs: number;
  /** Bytes held for the entries: VM heap + array buffers after a GC; kernel: the map's memlock from fdinfo. */
  bytes: number;
  /** Per pattern: ns per run, and the verdict, or what went wrong. */
  patterns: Record<(typeof PATTERNS)[number]["name"], { nsPerRun: number; problem: string }>;
}

let forceGc: (() => void) | undefined;
function gc(): void {
  if (!forceGc) {
    v8.setFlagsFromString("--expose-gc");
    forceGc = runInNewContext("gc") as () => void;
  }
  // Twice: array buffers a collection frees are only counted out of process.memoryUsage() by the next one (measured:
  // the reference map makePrefixes drops made the 1M row's VM memory read negative after a single gc()).
  forceGc();
  forceGc();
}

const used = () => {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

/** The VM: fill, memory, JIT ns per run of each pattern (`warmup` runs first, 0 for none: see timeRuns). */
export function vmScale(object: Uint8Array, set: PrefixSet, runs: number, warmup = WARMUP_RUNS): ScaleFigures {
  gc();
  const before = used();
  const obj = VmObject.fromBytes(object, { seed: 1 });
  const map = obj.map("prefixes").raw;
  const t0 = performance.now();
  for (let i = 0; i < set.count; i++) {
    const rc = map.update(set.keys.subarray(i * 12, i * 12 + 12), set.values.subarray(i * 4, i * 4 + 4), 0);
    if (rc !== 0) throw new Error(`VM LPM update ${i} failed with ${rc}`);
  }
  const ctx = buildCtx(ctxFor(set.hitIp));
  const first = obj.program("lpm_lookup").runCtx(ctx, { tier: "jit" }).verdict;
  const fillMs = performance.now() - t0;
  gc();
  const bytes = used() - before;
  obj.map("cursor").raw.update(u32le(0), u32le(set.chaseStart), 0);
  const patterns = {} as ScaleFigures["patterns"];
  for (const { name, program } of PATTERNS) {
    const p = obj.program(program);
    const verdict = name === "same" ? first : p.runCtx(ctx, { tier: "jit" }).verdict;
    const nsPerRun = timeRuns(p, ctx, "jit", runs, warmup);
    const problem = name === "chase" ? chaseProblem((obj.map("cursor").raw.lookup(u32le(0)) as Region).bytes, set) : name === "same" && verdict !== "SK_PASS" ? `verdict ${verdict}` : "";
    patterns[name] = { nsPerRun, problem };
  }
  return { fillMs, bytes, patterns };
}

/** Why the chase left its cycle (the cursor holds an address not on it), or "". */
function chaseProblem(cursor: Uint8Array, set: PrefixSet): string {
  const at = new DataView(cursor.buffer, cursor.byteOffset).getUint32(0, true);
  return set.chase.has(at) ? "" : `the chase left its cycle (cursor ${ipString(at)})`;
}

/** The kernel: fill through bpf(2) map updates, memlock, BPF_PROG_TEST_RUN ns per run of each pattern. */
export function kernelScale(object: Uint8Array, set: PrefixSet, repeat: number, trials: number): ScaleFigures {
  const loaded = openKernel().load(object);
  try {
    const map = loaded.maps.get("prefixes")!;
    const t0 = performance.now();
    for (let i = 0; i < set.count; i++) map.update(set.keys.subarray(i * 12, i * 12 + 12), set.values.subarray(i * 4, i * 4 + 4));
    const fillMs = performance.now() - t0;
    const memlock = /memlock:\s*(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${map.fd}`, "utf8"));
    const cursor = loaded.maps.get("cursor")!;
    cursor.update(u32le(0), u32le(set.chaseStart));
    const patterns = {} as ScaleFigures["patterns"];
    for (const { name, program } of PATTERNS) {
      const r = benchTestRun(loaded.programs.get(program)!, ctxFor(set.hitIp), { repeat, trials });
      const problem = name === "chase" ? chaseProblem(cursor.lookup(u32le(0))!, set) : name === "same" && r.verdict !== "SK_PASS" ? `verdict ${r.verdict}` : "";
      patterns[name] = { nsPerRun: r.nsPerRun, problem };
    }
    return { fillMs, bytes: memlock ? Number(memlock[1]) : NaN, patterns };
  } finally {
    loaded.close();
  }
}
