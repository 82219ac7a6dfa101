/**
 * `npm run bench:verifier`: the verifier's own yardstick, run the same way before and after a change. Prints
 * verdict, processed count and median µs for the examples (compiled by tsbpf), every clang corpus program of
 * test/fixtures/c/features.o, and hand-written counted loops with a data-dependent branch (the slow cases: two
 * of them run into the 1M processed-instruction limit, as they do in the kernel). Also the warm mean over the
 * examples (best of 7 batches), which is less noisy than the per-program medians on a busy machine. Where bpf(2) is
 * available (root), each program is also loaded into the running kernel and its own processed count printed next to
 * ours, from the same run (`kernel` column; `n/a` without the kernel bridge).
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
import { type VerifyOptions, verifyProgram } from "./index.ts";

// npm runs scripts from the package root; the bundle lives elsewhere, so its own path says nothing.
const root = process.cwd();
const quick = process.argv.includes("--quick");
const rows: string[] = [];

type Case = [ObjProgram, MapDef[], VerifyOptions];

function time(label: string, [prog, maps, opts]: Case, runs: number): void {
  let r = verifyProgram(prog, maps, opts);
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    r = verifyProgram(prog, maps, opts);
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  const us = (ts[ts.length >> 1]! * 1000).toFixed(0);
  rows.push(`| ${label} | ${r.ok ? "accept" : "reject"} | ${r.insnsProcessed} | ${kernelProcessed(prog, maps, opts)} | ${us} | ${r.ok ? "" : r.error!.message.split("\n")[0]} |`);
}

/** The running kernel's verdict and `processed N insns` for the same program, or `n/a` without the bridge. */
function kernelProcessed(prog: ObjProgram, maps: MapDef[], opts: VerifyOptions): string {
  const count = (log: string | undefined): string => /processed (\d+) insns/.exec(log ?? "")?.[1] ?? "?";
  try {
    const loaded = loadObject({ license: opts.license ?? "GPL", programs: [prog], maps, btf: opts.btf }, { logLevel: 4, programs: [prog.name] });
    const log = loaded.program(prog.name).log;
    loaded.close();
    return `accept ${count(log)}`;
  } catch (err) {
    const e = err as { code?: unknown; log?: string };
    return typeof e.code === "string" ? `reject ${count(e.log)}` : "n/a";
  }
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
rows.push("| program | verdict | processed | kernel | µs (median) | message |", "| --- | --- | --- | --- | --- | --- |");
rows.push(`| examples, warm mean (best of 7 batches) | | | | ${(best * 1000).toFixed(1)} | |`);
for (const [name, c] of examples) time(`example ${name}`, c, 200);
for (const c of casesOf(readFileSync(join(root, "test/fixtures/c/features.o")))) time(`corpus ${c[0].name}`, c, 50);
time("loop 64 xor", loop(64, AluOp.XOR), 20);
if (!quick) {
  time("loop 200 add (1M limit)", loop(200, AluOp.ADD), 1);
  time("loop 1000 add (1M limit)", loop(1000, AluOp.ADD), 1);
}
console.log(rows.join("\n"));
