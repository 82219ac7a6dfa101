/** Runs differential cases in the live kernel: real maps, zoo sockets in SOCKMAP/SOCKHASH, BPF_PROG_TEST_RUN. */
import { MapType, type MapDef } from "../../compiler/abi/maps.ts";
import type { ObjectFile } from "../../compiler/elf/object.ts";
import { KernelError, loadObject, type KernelMap, type LoadedObject } from "../../runtime/kernel/index.ts";
import { type Case, type DataFill, type Outcome, type SocketFill, hex } from "./cases.ts";
import type { Zoo } from "./zoo.ts";

const isSocketMap = (d: MapDef): boolean => d.type === MapType.SOCKMAP || d.type === MapType.SOCKHASH;
const isArray = (d: MapDef): boolean => d.type === MapType.ARRAY || d.type === MapType.PERCPU_ARRAY;
const isPerCpu = (d: MapDef): boolean => d.type === MapType.PERCPU_ARRAY || d.type === MapType.PERCPU_HASH;

/** Sum of equal-width little-endian chunks, modulo the width (per-CPU values as one number). */
export function sumChunks(chunks: Uint8Array[], size: number): Uint8Array {
  let sum = 0n;
  for (const c of chunks) {
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(c[i]!);
    sum += v;
  }
  sum = BigInt.asUintN(size * 8, sum);
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = Number((sum >> BigInt(8 * i)) & 0xffn);
  return out;
}

/** The normalised dump of one map: array zero entries are omitted (arrays always hold every index). */
export function normaliseEntry(def: MapDef, value: Uint8Array): string | null {
  if (isArray(def) && value.every((b) => b === 0)) return null;
  return hex(value);
}

/** Entries sorted by key, for order-independent comparison. */
export const sortedEntries = (d: Record<string, string>): Array<[string, string]> =>
  Object.entries(d).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

/** One loaded object in the kernel with the program a subject runs. */
export class KernelSession {
  private readonly obj: LoadedObject;
  /** What each map holds now (normalised dumps), so only differing entries are rewritten between cases. */
  private current = new Map<string, Record<string, string>>();
  private readonly usedByProgram = new Map<string, KernelMap[]>();

  constructor(
    private readonly object: ObjectFile,
    private readonly zoo: Zoo,
  ) {
    this.obj = loadObject(object);
  }

  private dumpMap(m: KernelMap): Record<string, string> {
    const out: Record<string, string> = {};
    for (const k of m.keys()) {
      if (isSocketMap(m.def)) {
        const v = m.lookupInt(k);
        if (v === null) continue;
        out[hex(k)] = this.zoo.byCookie.get(v)?.desc.name ?? `cookie:${v}`;
        continue;
      }
      const per = m.lookupPerCpu(k);
      if (per === null) continue;
      const v = normaliseEntry(m.def, isPerCpu(m.def) ? sumChunks(per, m.def.valueSize) : per[0]!);
      if (v !== null) out[hex(k)] = v;
    }
    // Iteration order differs between the kernel's hash tables and the VM's: compare sorted.
    return Object.fromEntries(sortedEntries(out));
  }

  /** Maps the program references (only those can change or matter in a run). */
  private used(program: string): KernelMap[] {
    let maps = this.usedByProgram.get(program);
    if (!maps) {
      const names = new Set(this.object.programs.find((p) => p.name === program)?.mapRelocs.map((r) => r.map));
      maps = [...this.obj.maps.values()].filter((m) => names.has(m.name));
      this.usedByProgram.set(program, maps);
    }
    return maps;
  }

  /**
   * Puts the program's maps into the state the case starts from, writing only the entries that differ from what the
   * maps hold now (known from the previous run's dump; a fresh object's maps are empty or zero).
   */
  private prepare(program: string, sockets: SocketFill, data: DataFill): void {
    for (const m of this.used(program)) {
      // Global data (.data/.bss) starts every case from the section's bytes, as in a freshly loaded object; a frozen
      // .rodata cannot change at all (the verifier forbids program writes, BPF_MAP_FREEZE user-space ones).
      if (m.def.initialValue) {
        if (!m.def.frozen) m.update(new Uint8Array(m.def.keySize), m.def.initialValue);
        continue;
      }
      const fill = isSocketMap(m.def) ? sockets[m.name] ?? [] : data[m.name] ?? [];
      const want = new Map<string, [Uint8Array, Uint8Array | string, string]>();
      for (const [k, v] of fill) {
        const n = typeof v === "string" ? v : normaliseEntry(m.def, v);
        if (n !== null) want.set(hex(k), [k, v, n]);
      }
      const cur = this.current.get(m.name) ?? {};
      for (const key of Object.keys(cur)) {
        if (want.has(key)) continue;
        const k = new Uint8Array(Buffer.from(key, "hex"));
        if (isArray(m.def)) m.update(k, new Uint8Array(m.def.valueSize));
        else m.delete(k);
      }
      for (const [key, [k, v, n]] of want) {
        if (cur[key] === n) continue;
        if (typeof v === "string") m.setSocket(k, this.zoo.byName.get(v)!.handle);
        else m.update(k, v);
      }
    }
  }

  /** Runs one case. */
  run(c: Case): Outcome {
    this.prepare(c.program, c.sockets, c.data);
    let verdict: string;
    let selected: string | null = null;
    try {
      const r = this.obj.program(c.program).testRun(c.ctx);
      verdict = r.verdict;
      selected = r.cookie === 0n ? null : this.zoo.byCookie.get(r.cookie)?.desc.name ?? `cookie:${r.cookie}`;
    } catch (err) {
      if (!(err instanceof KernelError)) throw err;
      verdict = `error:${err.code}`;
    }
    const maps: Outcome["maps"] = {};
    for (const m of this.used(c.program)) {
      maps[m.name] = this.dumpMap(m);
      // What the map holds now; the next case writes only what it wants changed.
      this.current.set(m.name, maps[m.name]!);
    }
    return { verdict, selected, maps };
  }

  close(): void {
    this.obj.close();
  }
}
