/**
 * Fuzzing the loader and the VM: random bytes and mutated clang objects into loadObject (only ObjectError/MapError
 * may come out), random and mutated bytecode into both tiers (only VM faults may come out, never a hang thanks to
 * the instruction budget), and the two tiers must agree on every outcome. Seeds are fixed so failures reproduce.
 */
import { readFileSync, readdirSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { MapType } from "../../compiler/abi/maps.ts";
import type { Instruction } from "../../compiler/asm/instruction.ts";
import { ObjectError, type ObjectFile } from "../../compiler/elf/object.ts";
import { readObject } from "../../compiler/elf/reader.ts";
import { MapError } from "../../runtime/maps/map.ts";
import { Socket } from "../../runtime/net/socket.ts";
import { VmObject, type Tier } from "../../runtime/vm/object.ts";
import { BudgetExceeded, VmFault } from "../../runtime/vm/region.ts";
import { loadError } from "../../runtime/vm/program.ts";
import { CONTROL_FLOW_FAULT, MAPS, fillSockets, randomProgram } from "../support/random-bpf.ts";
import { rng } from "../support/rng.ts";
import { TCP4, UDP6 } from "./harness.ts";

const DIR = new URL("../fixtures/c/", import.meta.url);
// Copies as plain Uint8Arrays: Buffer#slice would share memory and mutations would leak between cases.
const OBJECTS = readdirSync(DIR).filter((f) => f.endsWith(".o")).map((f) => new Uint8Array(readFileSync(new URL(f, DIR))));

type Outcome = { kind: "ok"; verdict: string; selected: string | null; n: number; trace: string[] } | { kind: "fault"; name: string; message: string };

function runTier(obj: VmObject, prog: string, tier: Tier, ctx: object): Outcome {
  try {
    const r = obj.run(prog, ctx as never, { tier });
    return { kind: "ok", verdict: r.verdict, selected: r.selected?.name ?? null, n: r.insnsExecuted, trace: r.trace.map(hidePointers) };
  } catch (e) {
    if (!(e instanceof VmFault)) throw e;
    // Pointer values differ between the twin objects (by a constant region-id offset), so hide them in messages.
    return { kind: "fault", name: e.name, message: e.message.replace(/returned \d+/, "returned N").replace(/0x3eb[0-9a-f]{13}/g, "PTR") };
  }
}

/**
 * A mutated program may print a pointer (e.g. one stored into a global variable and then passed to bpf_printk); its
 * value differs between the twin objects by the region-id offset, so trace lines show decimal or hex pointers as PTR.
 */
function hidePointers(line: string): string {
  return line
    .replace(/\b\d{18,20}\b/g, (d) => ((BigInt(d) >> 52n) & 0xfffn) === 0x3ebn ? "PTR" : d)
    .replace(/(0x)?3eb[0-9a-f]{13}\b/g, "PTR");
}

/**
 * Both tiers, on fresh objects built from the same file (maps start equal), must agree. `loadChecks` "tier-safety"
 * (random and mutated bytecode) also loads control flow the kernel refuses, so that its run-time faults stay compared;
 * a program that passes the kernel's checks must then never raise one.
 */
function agree(file: ObjectFile, fill: (o: VmObject) => void, ctx: object, loadChecks?: "tier-safety"): Outcome[] {
  const out: Outcome[] = [];
  try {
    new VmObject(file, { loadChecks });
  } catch (e) {
    // Refused at load as the kernel refuses it (a jump into an ldimm64): nothing to run.
    if (e instanceof ObjectError && /refuses to load/.test(e.message)) return [{ kind: "fault", name: "Refused", message: e.message }];
    throw e;
  }
  for (const p of file.programs) {
    const results = (["interp", "jit"] as const).map((tier) => {
      const obj = new VmObject(file, { budget: 5_000, seed: 3, clock: () => 42n, loadChecks });
      fill(obj);
      return runTier(obj, p.name, tier, ctx);
    });
    const [a, b] = results as [Outcome, Outcome];
    // Every outcome agrees, budget exhaustion included (same pc, same count, same side effects before it).
    if (JSON.stringify(a) !== JSON.stringify(b)) console.log(JSON.stringify(p.insns.map((x) => ({ ...x, imm64: undefined }))), JSON.stringify(p.mapRelocs));
    expect(b, `program ${p.name}`).toEqual(a);
    if (a.kind === "fault" && CONTROL_FLOW_FAULT.test(a.message)) expect(loadError(p.insns), `program ${p.name}: ${a.message}`).toBeDefined();
    out.push(a);
  }
  return out;
}

describe("loader fuzz", () => {
  test("random bytes give ObjectError only", () => {
    const r = rng(1);
    for (let i = 0; i < 300; i++) {
      const bytes = Uint8Array.from({ length: Math.floor(r() * 600) }, () => Math.floor(r() * 256));
      if (i % 3 === 0 && bytes.length > 4) bytes.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]); // ELF magic, 64-bit LE
      expect(() => VmObject.fromBytes(bytes)).toThrow(ObjectError);
    }
  });
  test("mutated clang objects: typed errors or a loaded object whose programs run identically on both tiers", () => {
    const r = rng(2);
    let loaded = 0;
    for (let i = 0; i < 400; i++) {
      const src = OBJECTS[i % OBJECTS.length]!;
      const bytes = src.slice();
      const flips = 1 + Math.floor(r() * 4);
      for (let f = 0; f < flips; f++) bytes[Math.floor(r() * bytes.length)] = Math.floor(r() * 256);
      let file: ObjectFile;
      try {
        file = readObject(bytes);
        new VmObject(file);
      } catch (e) {
        expect(e instanceof ObjectError || e instanceof MapError, String(e)).toBe(true);
        continue;
      }
      loaded++;
      agree(file, () => {}, i % 2 ? TCP4 : UDP6);
    }
    expect(loaded).toBeGreaterThan(50);
  });
});

describe("VM fuzz: random bytecode on both tiers", () => {
  test("only VM faults, never a hang, and identical outcomes", () => {
    const r = rng(3);
    let ran = 0;
    const kinds = new Map<string, number>();
    for (let i = 0; i < 1000; i++) {
      const { insns, relocs } = randomProgram(r, { len: 2 + Math.floor(r() * 24), hostile: false });
      const bytes = new Uint8Array(insns.length * 8);
      const file: ObjectFile = { license: "GPL", maps: MAPS, programs: [{ name: "p", section: "sk_lookup", insns, bytes, mapRelocs: relocs, lineInfo: [], funcInfo: [] }] };
      if (loadError(insns) === undefined) kinds.set("kernel-loadable", (kinds.get("kernel-loadable") ?? 0) + 1);
      for (const o of agree(file, fillSockets, i % 2 ? TCP4 : UDP6, "tier-safety")) {
        const k = o.kind === "ok" ? "ok" : o.name;
        kinds.set(k, (kinds.get(k) ?? 0) + 1);
      }
      ran++;
    }
    expect(ran).toBe(1000);
    // The generator must reach both normal exits and faults of several kinds, or the test proves little.
    expect(kinds.get("ok") ?? 0).toBeGreaterThan(100);
    expect(kinds.get("VmFault") ?? 0).toBeGreaterThan(100);
  });
  test("mutated clang programs: only VM faults and identical outcomes", () => {
    const r = rng(4);
    const files = OBJECTS.flatMap((b) => {
      try {
        return [readObject(b)];
      } catch {
        return [];
      }
    });
    for (let i = 0; i < 400; i++) {
      const base = files[i % files.length]!;
      const p = base.programs[Math.floor(r() * base.programs.length)]!;
      const insns = p.insns.map((x) => ({ ...x }));
      for (let m = 0; m < 1 + Math.floor(r() * 3); m++) {
        const at = insns[Math.floor(r() * insns.length)]!;
        const field = Math.floor(r() * 4);
        if (field === 0) at.opcode = Math.floor(r() * 256);
        else if (field === 1) at.off = Math.floor(r() * 64) - 32;
        else if (field === 2) at.imm = pick4(r);
        else at.src = Math.floor(r() * 11);
      }
      const file: ObjectFile = { ...base, programs: [{ ...p, insns }] };
      agree(file, (o) => {
        for (const m of o.maps.values()) if (m.holdsSockets && m.def.type === MapType.SOCKMAP) o.map(m.def.name).set(0, new Socket({ name: "A", family: "inet", protocol: "tcp", ip: "127.0.0.1", port: 1 }));
      }, TCP4, "tier-safety");
    }
  });
  test("a runaway program stops with BudgetExceeded on both tiers", () => {
    const loop: Instruction[] = [{ opcode: 0x07, dst: 1, src: 0, off: 0, imm: 1 }, { opcode: 0x05, dst: 0, src: 0, off: -2, imm: 0 }];
    const file: ObjectFile = { license: "GPL", maps: [], programs: [{ name: "p", section: "sk_lookup", insns: loop, bytes: new Uint8Array(16), mapRelocs: [], lineInfo: [], funcInfo: [] }] };
    for (const tier of ["interp", "jit"] as const) {
      expect(() => new VmObject(file, { budget: 100_000 }).run("p", TCP4, { tier })).toThrow(BudgetExceeded);
    }
  });
});

function pick4(r: () => number): number {
  return [0, 1, -1, 1 << 20, 124, 86, 1, 2][Math.floor(r() * 8)]!;
}
