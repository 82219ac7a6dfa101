/**
 * Seeded, time-bounded fuzzing (issue 11): 0 crashes, 0 hangs, 0 tier differences.
 * - mutated objects (the clang corpus and our examples) through readObject, objdump (with BTF), verify and both VM
 *   tiers: only typed errors (ObjectError, MapError) may come out, and the tiers must agree exactly;
 * - random bytecode, interpreter vs JIT: identical outcomes (verdict, r0, count, fault name, message and pc, trace,
 *   map contents after the run);
 * - mutated TypeScript through compile(): diagnostics or an object, never an exception or TSBPF9001.
 *
 * Each target runs TSBPF_FUZZ_SECONDS seconds (default 2; `TSBPF_FUZZ_SECONDS=600 npx vitest run
 * test/hardening/fuzz.test.ts` for a long run) from TSBPF_FUZZ_SEED (default 1); a failure prints the seed and case
 * index that reproduce it (TSBPF_FUZZ_SEED=s TSBPF_FUZZ_CASE=i runs that case alone). Every case must also finish
 * within CASE_LIMIT_MS (a hang counts as a failure).
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { formatObject } from "../../compiler/cli/objdump.ts";
import { ObjectError, type ObjectFile } from "../../compiler/elf/object.ts";
import { readObject } from "../../compiler/elf/reader.ts";
import { compile } from "../../compiler/index.ts";
import { verifyObject } from "../../compiler/verifier/index.ts";
import { MapError } from "../../runtime/maps/map.ts";
import { Socket } from "../../runtime/net/socket.ts";
import { VmObject, type Tier, type VmObjectOptions } from "../../runtime/vm/object.ts";
import { loadError } from "../../runtime/vm/program.ts";
import { VmFault } from "../../runtime/vm/region.ts";
import { CONTROL_FLOW_FAULT, MAPS, fillSockets, randomProgram } from "../support/random-bpf.ts";
import { rng } from "../support/rng.ts";
import { TCP4, UDP6 } from "../vm/harness.ts";

const SECONDS = Number(process.env.TSBPF_FUZZ_SECONDS ?? 2);
const SEED = Number(process.env.TSBPF_FUZZ_SEED ?? 1);
/** The longest one case may take before it counts as a hang. */
const CASE_LIMIT_MS = 20_000;
const TIMEOUT = Math.max(60_000, SECONDS * 1000 * 3 + 60_000);
const root = join(import.meta.dirname, "..", "..");
type LoadChecks = VmObjectOptions["loadChecks"];

/** Runs `one(r, i)` for case i = 0, 1, ... until the time is up; each case gets its own generator (seed, i). */
function fuzz(name: string, one: (r: () => number, i: number) => void): number {
  const end = Date.now() + SECONDS * 1000;
  const only = process.env.TSBPF_FUZZ_CASE === undefined ? undefined : Number(process.env.TSBPF_FUZZ_CASE);
  let i = only ?? 0;
  let ran = 0;
  for (; only === undefined ? Date.now() < end || i < 5 : i === only; i++, ran++) {
    const r = rng(SEED * 1_000_003 + i);
    const t0 = Date.now();
    try {
      one(r, i);
    } catch (e) {
      throw new Error(`${name}: case ${i} (TSBPF_FUZZ_SEED=${SEED}) failed: ${(e as Error).stack ?? e}`);
    }
    const ms = Date.now() - t0;
    if (ms > CASE_LIMIT_MS) throw new Error(`${name}: case ${i} (TSBPF_FUZZ_SEED=${SEED}) took ${ms} ms (a hang)`);
  }
  return ran;
}

type Outcome =
  | { kind: "ok"; verdict: string; selected: string | null; n: number; trace: string[]; maps: string }
  | { kind: "fault"; name: string; message: string; maps: string };

/** Map contents as text, for comparing the tiers' side effects. */
function mapState(obj: VmObject): string {
  const out: string[] = [];
  for (const [name, m] of obj.maps) {
    try {
      for (const [k, v] of m.entries()) out.push(`${name}[${Buffer.from(k).toString("hex")}]=${v instanceof Socket ? v.name : Buffer.from(v.bytes).toString("hex")}`);
    } catch (e) {
      if (!(e instanceof MapError)) throw e;
    }
  }
  return out.join(",");
}

function runTier(file: ObjectFile, prog: string, tier: Tier, ctx: object, fill: (o: VmObject) => void, loadChecks?: LoadChecks): Outcome {
  const obj = new VmObject(file, { budget: 20_000, seed: 3, clock: () => 42n, loadChecks });
  fill(obj);
  try {
    const r = obj.run(prog, ctx as never, { tier });
    return { kind: "ok", verdict: r.verdict, selected: r.selected?.name ?? null, n: r.insnsExecuted, trace: r.trace, maps: mapState(obj) };
  } catch (e) {
    if (!(e instanceof VmFault)) throw e;
    // (The instruction count at a fault is not part of the result: only the fault, its pc and the side effects are.)
    return { kind: "fault", name: e.name, message: e.message, maps: mapState(obj) };
  }
}

/**
 * Both tiers on fresh objects from the same file: every outcome identical. Returns the interpreter's outcomes.
 * Under "tier-safety" load checks, a program that passes the kernel's must still never fault for its control flow.
 */
function agree(file: ObjectFile, ctx: object, fill: (o: VmObject) => void = () => {}, loadChecks?: LoadChecks): Outcome[] {
  return file.programs.map((p) => {
    const insns = (): string => JSON.stringify(p.insns.map((x) => [x.opcode, x.dst, x.src, x.off, x.imm]));
    const tier = (t: Tier): Outcome => {
      try {
        return runTier(file, p.name, t, ctx, fill, loadChecks);
      } catch (e) {
        throw new Error(`program ${p.name} on ${t}: ${(e as Error).message}\n insns: ${insns()}\n relocs: ${JSON.stringify(p.mapRelocs)}`, { cause: e });
      }
    };
    const a = tier("interp");
    const b = tier("jit");
    if (JSON.stringify(a) !== JSON.stringify(b)) {
      expect.fail(`program ${p.name}: JIT vs interpreter\n interp: ${JSON.stringify(a)}\n    jit: ${JSON.stringify(b)}\n insns: ${insns()}\n relocs: ${JSON.stringify(p.mapRelocs)}`);
    }
    if (a.kind === "fault" && CONTROL_FLOW_FAULT.test(a.message) && loadError(p.insns) === undefined) {
      expect.fail(`program ${p.name} passes the kernel's load checks but faulted: ${a.message}\n insns: ${insns()}`);
    }
    return a;
  });
}

/** Loads `file` in the VM, or undefined when it is refused with a typed error. */
function loads(file: ObjectFile, loadChecks?: LoadChecks): boolean {
  try {
    new VmObject(file, { loadChecks });
    return true;
  } catch (e) {
    if (e instanceof ObjectError || e instanceof MapError) return false;
    throw e;
  }
}

const C_DIR = join(root, "test/fixtures/c");
const EXAMPLES = readdirSync(join(root, "examples")).filter((f) => f.endsWith(".ts"));

describe("fuzz: mutated objects through readObject, objdump, verify and both tiers", () => {
  const seeds = [
    ...readdirSync(C_DIR).filter((f) => f.endsWith(".o")).map((f) => new Uint8Array(readFileSync(join(C_DIR, f)))),
    ...EXAMPLES.slice(0, 3).map((f) => compile({ fileName: join(root, "examples", f) }).object!),
  ];
  test(`${SECONDS} s`, { timeout: TIMEOUT }, () => {
    let loaded = 0;
    const cases = fuzz("objects", (r, i) => {
      const bytes = seeds[i % seeds.length]!.slice();
      const flips = 1 + Math.floor(r() * 6);
      for (let f = 0; f < flips; f++) {
        const at = Math.floor(r() * bytes.length);
        // Mostly single bytes; sometimes a 32-bit field set to an extreme (sizes, offsets, counts).
        if (r() < 0.25 && at + 4 <= bytes.length) new DataView(bytes.buffer).setUint32(at, [0, 0xffffffff, 0x7fffffff, 0x80000000, 1 << 20][Math.floor(r() * 5)]!, true);
        else bytes[at] = Math.floor(r() * 256);
      }
      let file: ObjectFile;
      try {
        file = readObject(bytes);
      } catch (e) {
        if (e instanceof ObjectError) return;
        throw e;
      }
      formatObject(file, "fuzz.o", { btf: true });
      verifyObject(file, { maxInsns: 50_000 });
      if (!loads(file)) return;
      loaded++;
      agree(file, i % 2 ? TCP4 : UDP6);
    });
    console.log(`fuzz objects: ${cases} cases, ${loaded} loaded and run on both tiers (seed ${SEED}, ${SECONDS} s)`);
    expect(cases).toBeGreaterThan(0);
    expect(loaded).toBeGreaterThan(0);
  });
});


describe("fuzz: random bytecode, interpreter vs JIT", () => {
  test(`${SECONDS} s`, { timeout: TIMEOUT }, () => {
    const kinds = new Map<string, number>();
    const cases = fuzz("bytecode", (r, i) => {
      const { insns, relocs } = randomProgram(r);
      const file: ObjectFile = {
        license: "GPL",
        maps: MAPS,
        programs: [{ name: "p", section: "sk_lookup", insns, bytes: new Uint8Array(insns.length * 8), mapRelocs: relocs, lineInfo: [], funcInfo: [] }],
      };
      // Random control flow mostly breaks the kernel's load rules: load it anyway ("tier-safety") so that jumps out of
      // range and falls off the end keep being compared on both tiers; count what the kernel would have loaded.
      if (loadError(insns) === undefined) kinds.set("kernel-loadable", (kinds.get("kernel-loadable") ?? 0) + 1);
      if (!loads(file, "tier-safety")) {
        kinds.set("refused", (kinds.get("refused") ?? 0) + 1);
        return;
      }
      for (const o of agree(file, i % 2 ? TCP4 : UDP6, fillSockets, "tier-safety")) {
        const k = o.kind === "ok" ? "ok" : o.name;
        kinds.set(k, (kinds.get(k) ?? 0) + 1);
      }
    });
    console.log(`fuzz bytecode: ${cases} programs (seed ${SEED}, ${SECONDS} s): ${JSON.stringify(Object.fromEntries(kinds))}`);
    expect(cases).toBeGreaterThan(0);
    // The generator must reach normal exits, faults and budget exhaustion, or the comparison proves little.
    if (cases > 2000) {
      expect(kinds.get("ok") ?? 0).toBeGreaterThan(cases / 20);
      expect(kinds.get("VmFault") ?? 0).toBeGreaterThan(cases / 20);
      expect(kinds.get("BudgetExceeded") ?? 0).toBeGreaterThan(0);
    }
  });
});

/** Mutations of TypeScript source text. */
const TOKENS = ["(", ")", "{", "}", "[", "]", ";", ",", "+", "-", "*", "/", "%", "&&", "||", "!", "?", ":", "===", "<", "<<", ">>>", "0", "1", "1e300", "0xffffffffffffffffff", "99999999999999999999", "1.5", "-1", "2n", "ctx", "ctx.sk", "ctx.localPort", "null", "return", "if", "for", "while", "const", "let", "x", "SK_PASS", "SK_DROP", '"%s %d"', "trace(\"%1000000000u\", 1)", "as u8", "!"];
function mutateSource(src: string, r: () => number): string {
  let s = src;
  const n = 1 + Math.floor(r() * 4);
  for (let k = 0; k < n; k++) {
    const at = Math.floor(r() * (s.length + 1));
    switch (Math.floor(r() * 6)) {
      case 0: // delete a short range
        s = s.slice(0, at) + s.slice(at + 1 + Math.floor(r() * 12));
        break;
      case 1: // insert a token
        s = `${s.slice(0, at)} ${TOKENS[Math.floor(r() * TOKENS.length)]} ${s.slice(at)}`;
        break;
      case 2: {
        // duplicate a line
        const lines = s.split("\n");
        const l = Math.floor(r() * lines.length);
        lines.splice(l, 0, lines[l]!);
        s = lines.join("\n");
        break;
      }
      case 3: // replace a number
        s = s.replace(/\b\d+\b/, () => ["0", "4294967295", "4294967296", "1e300", "65536", "-1", "255", "7007"][Math.floor(r() * 8)]!);
        break;
      case 4: // wrap an expression in many parentheses or negations
        s = `${s.slice(0, at)}${"(".repeat(1 + Math.floor(r() * 500))}${s.slice(at)}`;
        break;
      default: // swap two lines
        {
          const lines = s.split("\n");
          const a = Math.floor(r() * lines.length);
          const b = Math.floor(r() * lines.length);
          [lines[a], lines[b]] = [lines[b]!, lines[a]!];
          s = lines.join("\n");
        }
    }
  }
  return s;
}

describe("fuzz: mutated TypeScript through compile()", () => {
  const sources = EXAMPLES.map((f) => readFileSync(join(root, "examples", f), "utf8"));
  test(`${SECONDS} s`, { timeout: TIMEOUT }, () => {
    const codes = new Map<string, number>();
    let compiled = 0;
    const cases = fuzz("typescript", (r, i) => {
      const source = mutateSource(sources[i % sources.length]!, r);
      const out = compile({ fileName: `/virtual/fuzz${i}.ts`, source });
      for (const d of out.diagnostics) codes.set(d.code, (codes.get(d.code) ?? 0) + 1);
      const internal = out.diagnostics.filter((d) => d.code === "TSBPF9001");
      expect(internal.map((d) => `${d.message}\n--- source:\n${source}`), "no internal errors").toEqual([]);
      if (out.object) {
        compiled++;
        agree(readObject(out.object), i % 2 ? TCP4 : UDP6);
      }
    });
    console.log(`fuzz typescript: ${cases} mutated files, ${compiled} compiled and run on both tiers (seed ${SEED}, ${SECONDS} s): ${JSON.stringify(Object.fromEntries(codes))}`);
    expect(cases).toBeGreaterThan(0);
  });
});
