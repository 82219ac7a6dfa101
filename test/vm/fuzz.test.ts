/**
 * Fuzzing the loader and the VM: random bytes and mutated clang objects into loadObject (only ObjectError/MapError
 * may come out), random and mutated bytecode into both tiers (only VM faults may come out, never a hang thanks to
 * the instruction budget), and the two tiers must agree on every outcome. Seeds are fixed so failures reproduce.
 */
import { readFileSync, readdirSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { MapType, BPF_F_NO_PREALLOC } from "../../compiler/abi/maps.ts";
import type { Instruction } from "../../compiler/asm/instruction.ts";
import { ObjectError, type ObjectFile } from "../../compiler/elf/object.ts";
import { readObject } from "../../compiler/elf/reader.ts";
import { MapError } from "../../runtime/maps/map.ts";
import { Socket } from "../../runtime/net/socket.ts";
import { VmObject, type Tier } from "../../runtime/vm/object.ts";
import { BudgetExceeded, VmFault } from "../../runtime/vm/region.ts";
import { TCP4, UDP6, mapDef } from "./harness.ts";

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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

/** Both tiers, on fresh objects built from the same file (maps start equal), must agree. */
function agree(file: ObjectFile, fill: (o: VmObject) => void, ctx: object): Outcome[] {
  const out: Outcome[] = [];
  try {
    new VmObject(file);
  } catch (e) {
    // Refused at load as the kernel refuses it (a jump into an ldimm64): nothing to run.
    if (e instanceof ObjectError && /refuses to load/.test(e.message)) return [{ kind: "fault", name: "Refused", message: e.message }];
    throw e;
  }
  for (const p of file.programs) {
    const results = (["interp", "jit"] as const).map((tier) => {
      const obj = new VmObject(file, { budget: 5_000, seed: 3, clock: () => 42n });
      fill(obj);
      return runTier(obj, p.name, tier, ctx);
    });
    const [a, b] = results as [Outcome, Outcome];
    // Every outcome agrees, budget exhaustion included (same pc, same count, same side effects before it).
    if (JSON.stringify(a) !== JSON.stringify(b)) console.log(JSON.stringify(p.insns.map((x) => ({ ...x, imm64: undefined }))), JSON.stringify(p.mapRelocs));
    expect(b, `program ${p.name}`).toEqual(a);
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

const OPCODES = [
  0x07, 0x0f, 0x17, 0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x47, 0x4f, 0x57, 0x5f, 0x67, 0x6f, 0x77, 0x7f, 0x87, 0x97, 0x9f, 0xa7, 0xaf, 0xb7, 0xbf,
  0xc7, 0xcf, 0xd7, 0x04, 0x0c, 0x14, 0x1c, 0x24, 0x2c, 0x34, 0x3c, 0x44, 0x4c, 0x54, 0x5c, 0x64, 0x6c, 0x74, 0x7c, 0x84, 0x94, 0x9c,
  0xa4, 0xac, 0xb4, 0xbc, 0xc4, 0xcc, 0xd4, 0xdc, 0x05, 0x15, 0x1d, 0x25, 0x2d, 0x35, 0x3d, 0x45, 0x4d, 0x55, 0x5d, 0x65, 0x6d, 0x75,
  0x7d, 0xa5, 0xad, 0xb5, 0xbd, 0xc5, 0xcd, 0xd5, 0xdd, 0x06, 0x16, 0x1e, 0x26, 0x2e, 0x56, 0x5e, 0x65, 0xa6, 0xc6, 0xde, 0x85, 0x95,
  0x61, 0x69, 0x71, 0x79, 0x81, 0x89, 0x91, 0x62, 0x6a, 0x72, 0x7a, 0x63, 0x6b, 0x73, 0x7b, 0xc3, 0xdb, 0x18, 0x18, 0x95,
];
const IMMS = [0, 1, -1, 2, 4, 7, 8, 16, 31, 32, 33, 63, 64, 0x7fffffff, -0x80000000, 0xffff, 7007, 6, 17, 10];
const HELPERS = [1, 2, 3, 5, 6, 7, 8, 86, 124, 124, 1, 46, 12];
const ATOMIC = [0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1, 0x33];

function randomProgram(r: () => number, len: number): { insns: Instruction[]; relocs: Array<{ slot: number; map: string }> } {
  const insns: Instruction[] = [];
  const relocs: Array<{ slot: number; map: string }> = [];
  const pick = <T,>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  const regn = (): number => (r() < 0.02 ? 11 + Math.floor(r() * 5) : Math.floor(r() * 11));
  while (insns.length < len) {
    const opcode = r() < 0.02 ? Math.floor(r() * 256) : pick(OPCODES);
    const cls = opcode & 7;
    let imm = r() < 0.3 ? Math.floor(r() * 2 ** 32) | 0 : pick(IMMS);
    let off = 0;
    let src = regn();
    const dst = regn();
    if (cls === 5 || cls === 6) off = Math.floor(r() * 9) - 3;
    if (cls === 1 || cls === 2 || cls === 3) off = pick([-8, -4, -16, -512, -513, 0, 4, 8, 36, 60, 62, 72]) + (r() < 0.1 ? Math.floor(r() * 8) : 0);
    if (opcode === 0x85) {
      imm = r() < 0.1 ? Math.floor(r() * 8) - 4 : pick(HELPERS);
      src = imm < 8 && r() < 0.1 ? 1 : 0;
    }
    if ((opcode & 0xe0) === 0xc0 && cls === 3) imm = pick(ATOMIC);
    if (cls === 4 || cls === 7) {
      if ((opcode & 0xf0) === 0xd0) imm = pick([16, 32, 64, 8]);
      if ((opcode & 0xf0) === 0xb0 && r() < 0.2) off = pick([8, 16, 32, 3]);
      if ((opcode & 0xf0) === 0x30 || (opcode & 0xf0) === 0x90) off = r() < 0.3 ? 1 : 0;
    }
    if (opcode === 0x18) {
      const useMap = r() < 0.6;
      const slot = insns.length;
      insns.push({ opcode, dst: dst % 10, src: useMap ? 1 : 0, off: 0, imm, imm64: BigInt.asUintN(32, BigInt(imm)) });
      insns.push({ opcode: 0, dst: 0, src: 0, off: 0, imm: 0 });
      if (useMap) relocs.push({ slot, map: pick(["h", "s", "a", "lpm"]) });
      continue;
    }
    // Calls and exits with a non-zero dst are "reserved fields" (refused by the kernel, faulting here): mostly 0.
    // Calls and exits keep their reserved fields zero (the kernel refuses anything else; the VM faults on it).
    if (opcode === 0x85 || opcode === 0x95) insns.push({ opcode, dst: 0, src: opcode === 0x95 ? 0 : src, off: 0, imm: opcode === 0x95 ? 0 : imm });
    else insns.push({ opcode, dst, src, off, imm });
  }
  insns.push({ opcode: 0xb7, dst: 0, src: 0, off: 0, imm: 1 }, { opcode: 0x95, dst: 0, src: 0, off: 0, imm: 0 });
  return { insns, relocs };
}

const MAPS = [
  mapDef("h", MapType.HASH, 4, 8, 4),
  mapDef("s", MapType.SOCKMAP, 4, 8, 2),
  mapDef("a", MapType.ARRAY, 4, 8, 2),
  mapDef("lpm", MapType.LPM_TRIE, 8, 8, 4, BPF_F_NO_PREALLOC),
];
const fillSockets = (o: VmObject): void => {
  o.map("s").set(0, new Socket({ name: "A", family: "inet", protocol: "tcp", ip: "127.0.0.1", port: 1 }));
  o.map("h").set(0, 5);
};

describe("VM fuzz: random bytecode on both tiers", () => {
  test("only VM faults, never a hang, and identical outcomes", () => {
    const r = rng(3);
    let ran = 0;
    const kinds = new Map<string, number>();
    for (let i = 0; i < 1000; i++) {
      const { insns, relocs } = randomProgram(r, 2 + Math.floor(r() * 24));
      const bytes = new Uint8Array(insns.length * 8);
      const file: ObjectFile = { license: "GPL", maps: MAPS, programs: [{ name: "p", section: "sk_lookup", insns, bytes, mapRelocs: relocs, lineInfo: [], funcInfo: [] }] };
      for (const o of agree(file, fillSockets, i % 2 ? TCP4 : UDP6)) {
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
      }, TCP4);
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
