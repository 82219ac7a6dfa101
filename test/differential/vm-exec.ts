/**
 * Runs differential cases in the embedded VM through its public API (`tsbpf/runtime`: VmObject, map views,
 * `run(name, ctx, { tier })`), in both tiers (reference interpreter and JIT), with the zoo described as simulated
 * sockets. Contexts go in as the same DSL-style objects the kernel side encodes.
 */
import { MapType, type MapDef } from "../../compiler/abi/maps.ts";
import type { ObjectFile } from "../../compiler/elf/object.ts";
import { CtxError, Socket as SimSocket, VmFault, VmObject, type VmMap } from "../../runtime/index.ts";
import { type Case, type Outcome, hex } from "./cases.ts";
import { normaliseEntry, sortedEntries, stateKey } from "./kernel-exec.ts";
import type { SockDesc } from "./zoo.ts";

/** The VM execution tiers. */
export type Tier = "interp" | "jit";

const isSocketMap = (d: MapDef): boolean => d.type === MapType.SOCKMAP || d.type === MapType.SOCKHASH;
const isArray = (d: MapDef): boolean => d.type === MapType.ARRAY || d.type === MapType.PERCPU_ARRAY;

/** One object instantiated in the VM, running one program. */
export class VmSession {
  private readonly obj: VmObject;
  private readonly socks: Map<string, SimSocket>;
  private current = new Map<string, string>();

  constructor(
    object: ObjectFile,
    private readonly program: string,
    zoo: SockDesc[],
  ) {
    this.obj = new VmObject(object, { seed: 1 });
    this.obj.program(program); // fail early, naming the programs
    this.socks = new Map(zoo.map((d) => [d.name, new SimSocket(d)]));
  }

  private check(rc: number, what: string): void {
    if (rc !== 0) throw new Error(`VM ${what} failed with ${rc}`);
  }

  /** Puts every map into the state the case starts from (raw maps: keys and values are the case's bytes). */
  private prepare(c: Case): void {
    for (const [name, m] of this.obj.maps) {
      const want = isSocketMap(m.def) ? c.sockets[name] ?? [] : c.data[name] ?? [];
      const key = stateKey(m.def, want);
      if (this.current.get(name) === key) continue;
      if (isArray(m.def)) {
        const zero = new Uint8Array(m.def.valueSize);
        for (let i = 0; i < m.def.maxEntries; i++) this.check(m.update(Uint8Array.of(i & 0xff, i >> 8, 0, 0), zero, 0), `zero ${name}`);
      } else {
        for (const [k] of m.entries()) this.check(m.delete(k), `delete from ${name}`);
      }
      for (const [k, v] of want) this.check(m.update(k, typeof v === "string" ? this.socks.get(v)! : v, 0), `update of ${name}`);
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
    for (const [name, map] of this.obj.maps) {
      maps[name] = this.dump(map);
      this.current.set(name, JSON.stringify(sortedEntries(maps[name]!)));
    }
    return { verdict, selected, maps };
  }
}
