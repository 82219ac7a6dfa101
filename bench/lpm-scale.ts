/**
 * Goal 5 of issue 12: an LPM trie of up to 1,000,000 IPv4 prefixes, in the VM and in the kernel. The same compiled
 * program (one `LpmTrie.lookup` of the local address, SK_PASS on a hit) runs in the VM's JIT and through the kernel's
 * BPF_PROG_TEST_RUN over the same prefixes; we report fill time, memory and ns per run at each size.
 */
import { readFileSync } from "node:fs";
import v8 from "node:v8";
import { runInNewContext } from "node:vm";
import { buildCtx, type SkLookupInput } from "../runtime/vm/ctx.ts";
import { VmObject } from "../runtime/vm/object.ts";
import { timeRuns } from "../runtime/vm/bench.ts";
import { benchTestRun } from "../runtime/kernel/bench.ts";
import { openKernel } from "../runtime/kernel/open.ts";

/** The program both sides run (its key is the dispatcher example's: {prefixLen, protocol, port, addr}). */
export const LPM_SOURCE = `import { type SkLookup, type Verdict, SK_PASS, SK_DROP, LpmTrie, type u16, type u32 } from "tsbpf";

interface Key { prefixLen: u32; protocol: u16; port: u16; addr: u32 }

export const prefixes = new LpmTrie<Key, u32>({ maxEntries: 1000000 });

export function lpm_lookup(ctx: SkLookup): Verdict {
  const label = prefixes.lookup({ prefixLen: 64, protocol: ctx.protocol, port: 0, addr: ctx.localIp4 });
  return label === null ? SK_DROP : SK_PASS;
}
`;

/** `n` distinct prefixes (/8 to /32 under protocol 6, port 0) as 12-byte keys, deterministic, and an address that hits. */
export function makePrefixes(n: number): { keys: Uint8Array[]; hitIp: string } {
  let seed = 0x9e3779b9;
  const next = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
  const seen = new Set<string>();
  const keys: Uint8Array[] = [];
  let hit = 0;
  while (keys.length < n) {
    const len = 8 + (next() % 25);
    const addr = (next() & (len === 32 ? 0xffffffff : ~(0xffffffff >>> len))) >>> 0;
    const id = `${len}/${addr}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const key = new Uint8Array(12);
    const dv = new DataView(key.buffer);
    dv.setUint32(0, 32 + len, true); // protocol + port (32 bits) are part of every prefix
    dv.setUint16(4, 6, false);
    dv.setUint16(6, 0, false);
    dv.setUint32(8, addr, false);
    keys.push(key);
    if (keys.length === Math.ceil(n / 2)) hit = (addr | (len === 32 ? 0 : next() & (0xffffffff >>> len))) >>> 0;
  }
  return { keys, hitIp: [hit >>> 24, (hit >>> 16) & 255, (hit >>> 8) & 255, hit & 255].join(".") };
}

const ctxFor = (ip: string): SkLookupInput => ({ family: "inet", protocol: "tcp", remoteIp: "127.0.0.2", remotePort: 8008, localIp: ip, localPort: 443 });

/** One size's figures on one side. */
export interface ScaleFigures {
  fillMs: number;
  /** Bytes held for the entries: VM heap + array buffers after a GC; kernel: the map's memlock from fdinfo. */
  bytes: number;
  nsPerRun: number;
  verdict: string;
}

let forceGc: (() => void) | undefined;
function gc(): void {
  if (!forceGc) {
    v8.setFlagsFromString("--expose-gc");
    forceGc = runInNewContext("gc") as () => void;
  }
  forceGc();
}

const used = () => {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

/** The VM: fill, memory, JIT ns per run. */
export function vmScale(object: Uint8Array, keys: Uint8Array[], hitIp: string, runs: number): ScaleFigures {
  gc();
  const before = used();
  const obj = VmObject.fromBytes(object, { seed: 1 });
  const map = obj.map("prefixes").raw;
  const value = new Uint8Array(4);
  const t0 = performance.now();
  for (let i = 0; i < keys.length; i++) {
    new DataView(value.buffer).setUint32(0, i, true);
    const rc = map.update(keys[i]!, value, 0);
    if (rc !== 0) throw new Error(`VM LPM update ${i} failed with ${rc}`);
  }
  const p = obj.program("lpm_lookup");
  const ctx = buildCtx(ctxFor(hitIp));
  // The first lookup builds the lookup index: part of the fill, and of the memory.
  const verdict = p.runCtx(ctx, { tier: "jit" }).verdict;
  const fillMs = performance.now() - t0;
  gc();
  const bytes = used() - before;
  return { fillMs, bytes, nsPerRun: timeRuns(p, ctx, "jit", runs), verdict };
}

/** The kernel: fill through bpf(2) map updates, memlock, BPF_PROG_TEST_RUN ns per run. */
export function kernelScale(object: Uint8Array, keys: Uint8Array[], hitIp: string, repeat: number, trials: number): ScaleFigures {
  const loaded = openKernel().load(object);
  try {
    const map = loaded.maps.get("prefixes")!;
    const value = new Uint8Array(4);
    const t0 = performance.now();
    for (let i = 0; i < keys.length; i++) {
      new DataView(value.buffer).setUint32(0, i, true);
      map.update(keys[i]!, value);
    }
    const fillMs = performance.now() - t0;
    const memlock = /memlock:\s*(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${map.fd}`, "utf8"));
    const r = benchTestRun(loaded.programs.get("lpm_lookup")!, ctxFor(hitIp), { repeat, trials });
    return { fillMs, bytes: memlock ? Number(memlock[1]) : NaN, nsPerRun: r.nsPerRun, verdict: r.verdict };
  } finally {
    loaded.close();
  }
}
