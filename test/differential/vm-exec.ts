/**
 * Runs differential cases in the embedded VM through its public API (`tsbpf/runtime`: VmObject, map views,
 * `run(name, ctx, { tier })`), in both tiers (reference interpreter and JIT), with the zoo described as simulated
 * sockets. Contexts go in as the same DSL-style objects the kernel side encodes.
 */
import { MapType, type MapDef } from "../../compiler/abi/maps.ts";
import type { ObjectFile } from "../../compiler/elf/object.ts";
import { CtxError, Socket as SimSocket, VmFault, VmObject, type VmMap } from "../../runtime/index.ts";
import { type Case, type Outcome, hex } from "./cases.ts";
import { normaliseEntry, sortedEntries } from "./kernel-exec.ts";
import type { SockDesc } from "./zoo.ts";

/** The VM execution tiers. */
export type Tier = "interp" | "jit";

const isSocketMap = (d: MapDef): boolean => d.type === MapType.SOCKMAP || d.type === MapType.SOCKHASH;
const isArray = (d: MapDef): boolean => d.type === MapType.ARRAY || d.type === MapType.PERCPU_ARRAY;

/** One object instantiated in the VM, running one program. */
export class VmSession {
  private readonly obj: VmObject;
  private readonly socks: Map<string, SimSocket>;
  private current = new Map<string, Record<string, string>>();
  /** Maps the program references: only those can change or matter in a run. */
  private readonly usedMaps: string[];

  constructor(
    object: ObjectFile,
    private readonly program: string,
    zoo: SockDesc[],
  ) {
    this.obj = new VmObject(object, { seed: 1 });
    this.obj.program(program); // fail early, naming the programs
    this.usedMaps = [...new Set(object.programs.find((p) => p.name === program)!.mapRelocs.map((r) => r.map))];
    this.usedMaps.sort((a, b) => object.maps.findIndex((m) => m.name === a) - object.maps.findIndex((m) => m.name === b));
    this.socks = new Map(zoo.map((d) => [d.name, new SimSocket(d)]));
  }

  private check(rc: number, what: string): void {
    if (rc !== 0) throw new Error(`VM ${what} failed with ${rc}`);
  }

  /** Puts the program's maps into the state the case starts from, writing only entries that differ (as the kernel side). */
  private prepare(c: Case): void {
    for (const name of this.usedMaps) {
      const m = this.obj.maps.get(name)!;
      // Global data starts every case from the section's bytes (as the kernel side; .rodata never changes).
      if (m.def.initialValue) {
        if (!m.def.frozen) this.check(m.update(new Uint8Array(m.def.keySize), m.def.initialValue, 0), `reset of ${name}`);
        continue;
      }
      const fill = isSocketMap(m.def) ? c.sockets[name] ?? [] : c.data[name] ?? [];
      const want = new Map<string, [Uint8Array, Uint8Array | string, string]>();
      for (const [k, v] of fill) {
        const n = typeof v === "string" ? v : normaliseEntry(m.def, v);
        if (n !== null) want.set(hex(k), [k, v, n]);
      }
      const cur = this.current.get(name) ?? {};
      for (const key of Object.keys(cur)) {
        if (want.has(key)) continue;
        const k = new Uint8Array(Buffer.from(key, "hex"));
        this.check(isArray(m.def) ? m.update(k, new Uint8Array(m.def.valueSize), 0) : m.delete(k), `reset of ${name}`);
      }
      for (const [key, [k, v, n]] of want) {
        if (cur[key] === n) continue;
        this.check(m.update(k, typeof v === "string" ? this.socks.get(v)! : v, 0), `update of ${name}`);
      }
    }
  }

  private dump(m: VmMap): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of m.entries()) {
      if (v instanceof SimSocket) {
        out[hex(k)] = v.name;
        continue;
      }
      const n = normaliseEntry(m.def, v.bytes);
      if (n !== null) out[hex(k)] = n;
    }
    return Object.fromEntries(sortedEntries(out));
  }

  /** Runs one case in one tier. */
  run(c: Case, tier: Tier): Outcome {
    this.prepare(c);
    this.obj.machine.reseed(1);
    let verdict: string;
    let selected: string | null = null;
    try {
      const r = this.obj.run(this.program, c.ctx, { tier });
      verdict = r.verdict;
      selected = r.selected?.name ?? null;
      // BPF_PROG_TEST_RUN cannot do the reuseport-group pick a real lookup makes: when a program selects an
      // SO_REUSEPORT socket without BPF_SK_LOOKUP_F_NO_REUSEPORT, the run fails with EOPNOTSUPP after the program
      // ran (net/bpf/test_run.c). The VM reports the selection; translate it to what test_run reports.
      if (r.selected?.reuseport && !r.noReuseport) {
        verdict = "error:EOPNOTSUPP";
        selected = null;
      }
      if (r.leakedRefs.length) verdict = `leak:${r.leakedRefs.join(",")}`;
    } catch (err) {
      // A context the kernel's test_run would refuse carries the errno it would give.
      if (err instanceof CtxError) verdict = `error:${err.errno}`;
      else if (err instanceof VmFault) verdict = `error:fault ${err.message}`;
      else throw err;
    }
    const maps: Outcome["maps"] = {};
    for (const name of this.usedMaps) {
      maps[name] = this.dump(this.obj.maps.get(name)!);
      this.current.set(name, maps[name]!);
    }
    return { verdict, selected, maps };
  }
}
