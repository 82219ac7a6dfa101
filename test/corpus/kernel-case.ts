/**
 * Runs one corpus case in the real kernel: loads the case's object with libbpf (bench/pinned.ts), fills its maps
 * (sockets become real Node sockets), runs the program once with BPF_PROG_TEST_RUN and reads back what the case
 * expects, in the manifest's own shape so a test can compare with `toEqual`.
 */
import { readFileSync } from "node:fs";
import { type PinnedObject, loadPinned } from "../../bench/pinned.ts";
import { type LiveSocket, type SocketDesc, makeSocket } from "../../bench/sockets.ts";
import { parseIp4 } from "../../runtime/kernel/ctx.ts";
import type { CtxSpec } from "../../runtime/kernel/ctx.ts";
import { KernelError, type NativeBpf } from "../../runtime/kernel/native.ts";
import { type CorpusCase, type CorpusMap, type CorpusObject, type CorpusProgram, corpusPath } from "./manifest.ts";

/** What a run produced, shaped like a case's `expect`. */
export interface CaseOutcome {
  verdict?: "SK_PASS" | "SK_DROP";
  selected?: string | null;
  maps?: Record<string, Record<string, unknown>>;
  testRunErrno?: string;
}

/** Number of possible CPUs: the factor of per-CPU map values in user space. */
export function possibleCpus(): number {
  const text = readFileSync("/sys/devices/system/cpu/possible", "utf8").trim();
  return text.split(",").reduce((n, r) => {
    const [a, b] = r.split("-").map(Number);
    return n + (b === undefined ? 1 : b - a! + 1);
  }, 0);
}

/** Encodes a manifest key (a number, or the JSON of a struct) into the map's key bytes. */
export function encodeKey(def: CorpusMap, key: string): Uint8Array {
  const out = new Uint8Array(def.keySize);
  const view = new DataView(out.buffer);
  if (typeof def.key === "string") {
    if (def.keySize !== 4) throw new Error(`map ${def.name}: scalar key of size ${def.keySize}`);
    view.setUint32(0, Number(key), true);
    return out;
  }
  const obj = JSON.parse(key) as Record<string, number | string>;
  for (const [name, type, off] of def.key.fields) {
    const v = obj[name] ?? 0;
    if (typeof v === "string") {
      if (type !== "be32") throw new Error(`map ${def.name}: field ${name} of type ${type} given as a string`);
      out.set(parseIp4(v), off);
    } else if (type === "u32") view.setUint32(off, v, true);
    else if (type === "u16") view.setUint16(off, v, true);
    else if (type === "be16") view.setUint16(off, v, false);
    else view.setUint32(off, v, false);
  }
  return out;
}

/** Encodes a manifest integer value for `def` (per-CPU maps: the value in CPU 0's slot, 0 elsewhere). */
export function encodeValue(def: CorpusMap, value: number, cpus: number): Uint8Array {
  const size = def.type.startsWith("percpu") ? Math.ceil(def.valueSize / 8) * 8 * cpus : def.valueSize;
  const out = new Uint8Array(size);
  const v = BigInt.asUintN(def.valueSize * 8, BigInt(value));
  for (let i = 0; i < def.valueSize; i++) out[i] = Number((v >> BigInt(8 * i)) & 0xffn);
  return out;
}

/** Decodes value bytes read from user space into the manifest's form (number, or {percpuSum} for per-CPU maps). */
export function decodeValue(def: CorpusMap, bytes: Uint8Array): unknown {
  if (def.type.startsWith("percpu")) {
    const stride = Math.ceil(def.valueSize / 8) * 8;
    let sum = 0n;
    for (let at = 0; at < bytes.length; at += stride) sum += new DataView(bytes.buffer, at).getBigUint64(0, true);
    return { percpuSum: Number(sum) };
  }
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  return Number(def.value === "s64" ? BigInt.asIntN(64, v) : v);
}

/**
 * Writes case `c`'s map fill into the libbpf-loaded `loaded` (object `obj`): data entries as bytes, socket entries as
 * real Node sockets recorded in `live` by name with their cookies (the caller closes them).
 */
export async function fillCorpusMaps(
  bpf: NativeBpf,
  obj: CorpusObject,
  loaded: PinnedObject,
  c: CorpusCase,
  live: Map<string, LiveSocket & { cookie: bigint }>,
  cpus = possibleCpus(),
): Promise<void> {
  for (const [mapName, entries] of Object.entries(c.maps ?? {})) {
    const def = obj.maps.find((m) => m.name === mapName)!;
    const km = loaded.maps.get(mapName);
    if (!km) throw new Error(`libbpf created no map ${mapName} for ${obj.file}`);
    for (const [k, v] of Object.entries(entries)) {
      const key = encodeKey(def, k);
      if (def.value === "socket") {
        const desc = v as SocketDesc & { name: string };
        const s = await makeSocket(desc);
        live.set(desc.name, { ...s, cookie: 0n });
        live.get(desc.name)!.cookie = km.setSocket(key, s.handle);
      } else {
        bpf.mapUpdate(km.fd, key, encodeValue(def, v as number, cpus), 0);
      }
    }
  }
}

/** Runs `c` of program `prog` (object `obj`); sockets made for it are closed before returning. */
export async function runKernelCase(bpf: NativeBpf, obj: CorpusObject, prog: CorpusProgram, c: CorpusCase): Promise<{
  outcome: CaseOutcome;
  /** The expectation with `{portOf}` placeholders resolved to the ports bound in this run. */
  expected: CaseOutcome;
}> {
  const cpus = possibleCpus();
  const loaded = loadPinned(bpf, corpusPath(obj.file));
  const live = new Map<string, LiveSocket & { cookie: bigint }>();
  try {
    await fillCorpusMaps(bpf, obj, loaded, c, live, cpus);
    const outcome: CaseOutcome = {};
    try {
      const r = loaded.programs.get(prog.name.slice(0, 15))!.testRun(c.ctx as unknown as CtxSpec);
      outcome.verdict = r.verdict;
      outcome.selected = r.cookie === 0n ? null : ([...live].find(([, s]) => s.cookie === r.cookie)?.[0] ?? `cookie ${r.cookie}`);
    } catch (err) {
      if (!(err instanceof KernelError)) throw err;
      outcome.testRunErrno = err.code;
    }
    if (c.expect.maps) {
      outcome.maps = {};
      for (const [mapName, entries] of Object.entries(c.expect.maps)) {
        const def = obj.maps.find((m) => m.name === mapName)!;
        const km = loaded.maps.get(mapName)!;
        const got: Record<string, unknown> = {};
        const keys = Object.keys(entries);
        if (keys.length === 0) {
          // `{}` means the map must be empty: report whatever it holds.
          for (const k of km.keys()) got[Buffer.from(k).toString("hex")] = "present";
        }
        for (const k of keys) {
          const size = def.type.startsWith("percpu") ? Math.ceil(def.valueSize / 8) * 8 * cpus : def.valueSize;
          const out = new Uint8Array(size);
          got[k] = bpf.mapLookup(km.fd, encodeKey(def, k), out) ? decodeValue(def, out) : "absent";
        }
        outcome.maps[mapName] = got;
      }
    }
    const expected: CaseOutcome = JSON.parse(JSON.stringify(c.expect), (_k, v: unknown) => {
      const portOf = (v as { portOf?: string } | null)?.portOf;
      return typeof portOf === "string" ? live.get(portOf)?.port : v;
    }) as CaseOutcome;
    delete (expected as { note?: string }).note;
    return { outcome, expected };
  } finally {
    loaded.close();
    for (const s of live.values()) s.close();
  }
}
