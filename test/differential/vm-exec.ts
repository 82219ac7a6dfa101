/**
 * Runs differential cases in the embedded VM, both tiers (reference interpreter and JIT), with the zoo described as
 * simulated sockets. Built on the VM's modules (runtime/maps, runtime/net, runtime/vm) — the pieces the public
 * `tsbpf/runtime` API is made of — so the comparison exercises exactly what executes programs.
 */
import { MapType, type MapDef } from "../../compiler/abi/maps.ts";
import type { ObjectFile } from "../../compiler/elf/object.ts";
import { encodeCtx } from "../../runtime/kernel/ctx.ts";
import { createMap, type VmMap } from "../../runtime/maps/index.ts";
import { Socket as SimSocket } from "../../runtime/net/socket.ts";
import { interpret } from "../../runtime/vm/interp.ts";
import { type JitFn, jitCompile } from "../../runtime/vm/jit.ts";
import { Machine } from "../../runtime/vm/machine.ts";
import { type PreparedProgram, prepareProgram } from "../../runtime/vm/program.ts";
import { VmFault } from "../../runtime/vm/region.ts";
import { type Case, type Outcome, hex } from "./cases.ts";
import { normaliseEntry, sortedEntries, stateKey } from "./kernel-exec.ts";
import type { SockDesc } from "./zoo.ts";

/** The VM execution tiers. */
export type Tier = "interp" | "jit";

const isSocketMap = (d: MapDef): boolean => d.type === MapType.SOCKMAP || d.type === MapType.SOCKHASH;
const isArray = (d: MapDef): boolean => d.type === MapType.ARRAY || d.type === MapType.PERCPU_ARRAY;

/** One object instantiated in the VM with one program prepared for both tiers. */
export class VmSession {
  private readonly maps: Map<string, VmMap>;
  private readonly prepared: PreparedProgram;
  private readonly jit: JitFn;
  private readonly machine = new Machine({ seed: 1 });
  private readonly socks: Map<string, SimSocket>;
  private current = new Map<string, string>();

  constructor(object: ObjectFile, program: string, zoo: SockDesc[]) {
    this.maps = new Map(object.maps.map((d) => [d.name, createMap(d)]));
    const p = object.programs.find((x) => x.name === program);
    if (!p) throw new Error(`no program ${program}`);
    this.prepared = prepareProgram(p.name, p.insns, p.mapRelocs, this.maps);
    this.jit = jitCompile(this.prepared);
    this.socks = new Map(zoo.map((d) => [d.name, new SimSocket(d)]));
  }

  private check(rc: number, what: string): void {
    if (rc !== 0) throw new Error(`VM ${what} failed with ${rc}`);
  }

  private prepare(c: Case): void {
    for (const m of this.maps.values()) {
      const want = isSocketMap(m.def) ? c.sockets[m.def.name] ?? [] : c.data[m.def.name] ?? [];
      const key = stateKey(m.def, want);
      if (this.current.get(m.def.name) === key) continue;
      if (isArray(m.def)) {
        const zero = new Uint8Array(m.def.valueSize);
        for (let i = 0; i < m.def.maxEntries; i++) this.check(m.update(Uint8Array.of(i & 0xff, i >> 8, 0, 0), zero, 0), `zero ${m.def.name}`);
      } else {
        for (const [k] of m.entries()) this.check(m.delete(k), `delete from ${m.def.name}`);
      }
      for (const [k, v] of want) {
        this.check(m.update(k, typeof v === "string" ? this.socks.get(v)! : v, 0), `update of ${m.def.name}`);
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
    const m = this.machine;
    m.reset(encodeCtx(c.ctx));
    m.reseed(1);
    let verdict: string;
    let selected: string | null = null;
    try {
      const r0 = tier === "interp" ? Number(BigInt.asUintN(32, interpret(this.prepared, m))) : this.jit(m) >>> 0;
      verdict = r0 === 1 ? "SK_PASS" : r0 === 0 ? "SK_DROP" : `retval:${r0}`;
      // A selection made by a program that returns SK_DROP is discarded (kernel-facts: ctx_out.cookie is 0).
      if (r0 === 1 && m.selected) selected = m.selected.name;
    } catch (err) {
      if (!(err instanceof VmFault)) throw err;
      verdict = `error:fault ${err.message}`;
    }
    // Release references a faulting run left behind, so later runs see consistent counts.
    for (const s of m.held.splice(0)) s.refs--;
    const maps: Outcome["maps"] = {};
    for (const [name, map] of this.maps) {
      maps[name] = this.dump(map);
      this.current.set(name, JSON.stringify(sortedEntries(maps[name]!)));
    }
    return { verdict, selected, maps };
  }
}
