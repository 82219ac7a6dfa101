/**
 * `benchVerify()`: wall time of tsbpf's verifier per program, for `npm run bench` and for tracking the verifier's own
 * speed. Each program is verified once to warm up, then `runs` times; the median is reported.
 */
import { readFileSync } from "node:fs";
import { readObject } from "../elf/reader.ts";
import { type KernelTarget, resolveTarget } from "../target/index.ts";
import { verifyProgram } from "./index.ts";

/** One measured program. */
export interface VerifyBenchRow {
  object: string;
  program: string;
  ok: boolean;
  /** Instructions in the linked program (slots). */
  slots: number;
  /** Instructions processed by the verifier over all paths. */
  processed: number;
  /** Median wall time of one verification, in milliseconds. */
  ms: number;
}

/**
 * The running kernel as target where it can be probed, so that our processed count and the kernel's describe the
 * same verifier rules (the kernel column of the bench loads into this kernel); else the default target.
 */
function benchTarget(): KernelTarget {
  try {
    return resolveTarget("host");
  } catch {
    return resolveTarget();
  }
}

/**
 * Warm-up before timing: at least WARM_MS of verifications, and WARM_RUNS of them if they fit in WARM_MAX_MS. With
 * "500 runs or 250 ms, whichever comes first", a 30 µs program warmed for 15 ms, and the first programs of a run read
 * up to 1.9x their figure of the run before (serve_range 67 µs against 36, redir_port 40 against 24).
 */
export const WARM_RUNS = 500;
export const WARM_MS = 250;
export const WARM_MAX_MS = 1000;

/** Runs `verify` until the warm-up rule of {@link WARM_RUNS}, {@link WARM_MS} and {@link WARM_MAX_MS} is met. */
export function warmUp(verify: () => void): void {
  const start = performance.now();
  for (let i = 0; ; i++) {
    const elapsed = performance.now() - start;
    if (elapsed >= WARM_MAX_MS || (elapsed >= WARM_MS && i >= WARM_RUNS)) return;
    verify();
  }
}

/**
 * `npm run bench` entry (bench/sections/common.ts VerifierProvider): median wall time in ms of `runs` verifications
 * of `program` in an ELF object, with its processed count and rejection message. Timed warm (after up to
 * {@link warmUp}, so that V8 has optimized the verifier: the kernel's
 * verifier it is compared with is compiled code), for the running kernel where it can be probed.
 */
export function benchVerify(objectBytes: Uint8Array, program: string, runs: number): { ms: number; processed?: number; error?: string } {
  const obj = readObject(objectBytes);
  const prog = obj.programs.find((p) => p.name === program);
  if (!prog) return { ms: NaN, error: `no program ${program}` };
  const opts = { license: obj.license || "GPL", btf: obj.btf, target: benchTarget() };
  let r = verifyProgram(prog, obj.maps, opts);
  warmUp(() => verifyProgram(prog, obj.maps, opts));
  const times: number[] = [];
  for (let i = 0; i < Math.max(1, runs); i++) {
    const t0 = performance.now();
    r = verifyProgram(prog, obj.maps, opts);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { ms: times[times.length >> 1]!, processed: r.insnsProcessed, error: r.ok ? undefined : r.error?.message };
}

/** Times the verifier on every program of the given objects (file paths or `{ name, bytes }`). */
export function benchVerifyObjects(objects: ReadonlyArray<string | { name: string; bytes: Uint8Array }>, runs = 20): VerifyBenchRow[] {
  const rows: VerifyBenchRow[] = [];
  for (const o of objects) {
    const name = typeof o === "string" ? o : o.name;
    const obj = readObject(typeof o === "string" ? readFileSync(o) : o.bytes);
    const opts = { license: obj.license || "GPL", btf: obj.btf };
    for (const p of obj.programs) {
      let r = verifyProgram(p, obj.maps, opts);
      const times: number[] = [];
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        r = verifyProgram(p, obj.maps, opts);
        times.push(performance.now() - t0);
      }
      times.sort((a, b) => a - b);
      rows.push({ object: name, program: p.name, ok: r.ok, slots: p.insns.length, processed: r.insnsProcessed, ms: times[times.length >> 1]! });
    }
  }
  return rows;
}

/** The rows as an aligned text table. */
export function formatBench(rows: readonly VerifyBenchRow[]): string {
  const head = ["object", "program", "verdict", "slots", "processed", "µs"];
  const body = rows.map((r) => [r.object, r.program, r.ok ? "accept" : "reject", String(r.slots), String(r.processed), (r.ms * 1000).toFixed(0)]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  return [head, ...body].map((row) => row.map((c, i) => (i >= 3 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ")).join("\n");
}
