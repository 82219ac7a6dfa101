/**
 * `npm run bench:verifier`: the verifier's own yardstick, run the same way before and after a change. Prints
 * verdict, processed count and median µs for the examples (compiled by tsbpf), every clang corpus program of
 * test/fixtures/c/features.o, and hand-written counted loops with a data-dependent branch (the slow cases: two
 * of them run into the 1M processed-instruction limit, as they do in the kernel). Also the warm mean over the
 * examples (best of 7 batches), which is less noisy than the per-program medians on a busy machine. Where bpf(2) is
 * available (root), each program is also loaded into the running kernel and its own processed count printed next to
 * ours, from the same run (`kernel` column; `n/a` without the kernel bridge), with the kernel's own `verification time`
 * (median of 5 loads, one for the 1M-limit loops) and our time over it (`ratio`): the verifier's speed per program and
 * its growth with the instructions processed, next to the kernel's.
 * Per-program times are medians after the warm-up of `npm run bench` (bench.ts warmUp: at least 250 ms).
 * Flags: `--quick` skips the two 1M-limit loops.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { AluOp, JmpOp, Size, alu64, decode, encode, exit, jmp64, ldx, mov64, reg, withLabel as L } from "../asm/index.ts";
import type { MapDef } from "../abi/maps.ts";
import type { ObjProgram } from "../elf/object.ts";
import { readObject } from "../elf/reader.ts";
import { compile } from "../index.ts";
import { loadObject } from "../../runtime/kernel/index.ts";
import { type KernelTarget, resolveTarget } from "../target/index.ts";
import { warmUp } from "./bench.ts";
import { type VerifyOptions, verifyProgram } from "./index.ts";

// npm runs scripts from the package root; the bundle lives elsewhere, so its own path says nothing.
const root = process.cwd();
const quick = process.argv.includes("--quick");
const rows: string[] = [];

type Case = [ObjProgram, MapDef[], VerifyOptions];

function time(label: string, [prog, maps, opts]: Case, runs: number, loads = 5): void {
  let r = verifyProgram(prog, maps, opts);
  // Warm, as `npm run bench` times it (bench.ts): V8 optimizes the verifier first. Not for the 1M-limit loops, whose
  // single run is long enough to warm up on its own.
  if (runs >= 20) warmUp(() => verifyProgram(prog, maps, opts));
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    r = verifyProgram(prog, maps, opts);
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  const ours = ts[ts.length >> 1]! * 1000;
  const k = kernelStats(prog, maps, opts, loads);
  const ratio = k.us ? `${(ours / k.us).toFixed(2)}x` : "";
  rows.push(`| ${label} | ${r.ok ? "accept" : "reject"} | ${r.insnsProcessed} | ${k.verdict} | ${ours.toFixed(0)} | ${k.us ?? "n/a"} | ${ratio} | ${r.ok ? "" : r.error!.message.split("\n")[0]} |`);
}

/**
 * The running kernel's verdict, `processed N insns` and `verification time` (µs, median of `loads` loads) for the same
 * program, from its BPF_LOG_STATS log; `n/a` without the kernel bridge.
 */
function kernelStats(prog: ObjProgram, maps: MapDef[], opts: VerifyOptions, loads: number): { verdict: string; us?: number } {
  const count = (log: string | undefined): string => /processed (\d+) insns/.exec(log ?? "")?.[1] ?? "?";
  const usec = (log: string | undefined): number | undefined => {
    const m = /verification time (\d+) usec/.exec(log ?? "");
    return m ? Number(m[1]) : undefined;
  };
  let verdict = "n/a";
  const times: number[] = [];
  for (let i = 0; i < loads; i++) {
    let log: string | undefined;
    try {
      const loaded = loadObject({ license: opts.license ?? "GPL", programs: [prog], maps, btf: opts.btf }, { logLevel: 4, programs: [prog.name] });
      log = loaded.program(prog.name).log;
      loaded.close();
      verdict = `accept ${count(log)}`;
    } catch (err) {
      const e = err as { code?: unknown; log?: string };
      if (typeof e.code !== "string") return { verdict: "n/a" };
      log = e.log;
      verdict = `reject ${count(log)}`;
    }
    const t = usec(log);
    if (t !== undefined) times.push(t);
  }
  times.sort((a, b) => a - b);
  return { verdict, us: times.length ? times[times.length >> 1] : undefined };
}

/**
 * The running kernel as the verifier's target where it can be probed (so that the two processed counts describe the
 * same verifier rules), else the default target.
 */
const target: KernelTarget = (() => {
  try {
    return resolveTarget("host");
  } catch {
    return resolveTarget();
  }
})();

const casesOf = (bytes: Uint8Array): Case[] => {
  const obj = readObject(bytes);
  return obj.programs.map((p) => [p, obj.maps, { license: obj.license || "GPL", btf: obj.btf, target }]);
};

/** A counted loop of `n` iterations whose body branches on a ctx field; `op` updates r0 on one side. */
const loop = (n: number, op: AluOp): Case => {
  const enc = encode([
    mov64(0, 0), mov64(2, 0),
    L(ldx(Size.W, 3, 1, 60), "l"), jmp64(JmpOp.JNE, 3, reg(2), "n"), alu64(op, 0, 1),
    L(alu64(AluOp.ADD, 2, 1), "n"), jmp64(JmpOp.JLT, 2, n, "l"), alu64(AluOp.AND, 0, 1), exit(),
  ]);
  const prog: ObjProgram = { name: `loop${n}`, section: "sk_lookup", insns: decode(enc.bytes), bytes: enc.bytes, mapRelocs: [], lineInfo: [], funcInfo: [] };
  return [prog, [], { target }];
};

const examples: [string, Case][] = [];
for (const f of ["redirect-port", "cidr-all-ports", "l7-proxy", "dispatcher", "redirect-ip6"]) {
  const out = compile({ fileName: join(root, "examples", `${f}.ts`) }, { target });
  if (!out.object) throw new Error(`examples/${f}.ts does not compile`);
  for (const c of casesOf(out.object)) examples.push([c[0].name, c]);
}
let best = Infinity;
for (let b = 0; b < 7; b++) {
  const t0 = performance.now();
  for (let i = 0; i < 300; i++) for (const [, [p, m, o]] of examples) verifyProgram(p, m, o);
  best = Math.min(best, (performance.now() - t0) / 300 / examples.length);
}
rows.push(
  "| program | verdict | processed | kernel | µs (median) | kernel µs | ratio | message |",
  "| --- | --- | --- | --- | --- | --- | --- | --- |",
);
rows.push(`| examples, warm mean (best of 7 batches) | | | | ${(best * 1000).toFixed(1)} | | | |`);
for (const [name, c] of examples) time(`example ${name}`, c, 200);
for (const c of casesOf(readFileSync(join(root, "test/fixtures/c/features.o")))) time(`corpus ${c[0].name}`, c, 50);
time("loop 64 xor", loop(64, AluOp.XOR), 20);
if (!quick) {
  time("loop 200 add (1M limit)", loop(200, AluOp.ADD), 1, 1);
  time("loop 1000 add (1M limit)", loop(1000, AluOp.ADD), 1, 1);
}
console.log(rows.join("\n"));
