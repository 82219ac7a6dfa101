/**
 * The four benchmark sections. Each takes the providers that scripts/bench.mjs managed to build (or the reason one is
 * missing) and returns a {@link Section}; a section whose essential part is missing is skipped with one line saying why,
 * and a missing comparison column is shown as "n/a" with a note.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { performance } from "node:perf_hooks";
import { EXAMPLES, type BenchExample, type BenchProgram } from "./examples.ts";
import { instructionCounts, objdumpUnavailableReason } from "./objdump.ts";
import { type Section, median, ratio, skippedSection } from "./report.ts";
import type * as KernelProvider from "./providers/kernel.ts";

/** What `compile()` returns, as far as the bench relies on it. */
export interface CompileOutput {
  object?: Uint8Array;
  diagnostics?: ReadonlyArray<unknown>;
}

/** The VM adapter (providers/vm.ts): ns per run of one program in each tier, plus a behaviour check. */
export interface VmProvider {
  measureVm(
    objectBytes: Uint8Array,
    prog: BenchProgram,
    tier: "interp" | "jit",
    runs: number,
  ): { nsPerRun: number; mismatch: string };
}

/** One measured program run: ns per run and what differed from the expected behaviour (empty when nothing). */
export type VmResult = { nsPerRun: number; mismatch: string };

/** The verifier adapter (providers/verifier.ts): wall time of our verifier on one program, in ms. */
export interface VerifierProvider {
  verifyTime(objectBytes: Uint8Array, program: string, runs: number): { ms: number; processed?: number; error?: string };
}

/** A provider module, or the reason it could not be built/loaded. */
export type Maybe<T> = T | string;

/** Everything the sections can use. */
export interface Providers {
  compile: Maybe<(opts: { fileName: string }) => CompileOutput | Promise<CompileOutput>>;
  kernel: Maybe<typeof KernelProvider>;
  vm: Maybe<VmProvider>;
  verifier: Maybe<VerifierProvider>;
  /** Path of a bundled `tsbpf` CLI (an .mjs run by node), for cold `tsbpf build` timings. */
  cli?: Maybe<{ path: string }>;
}

/** Run options. */
export interface BenchOptions {
  /** Repository root (absolute). */
  root: string;
  /** Fewer repetitions. */
  quick: boolean;
  /** The fewest repetitions that still exercise every path (tests use it; figures are not meaningful). */
  smoke?: boolean;
}

const missing = <T>(p: Maybe<T>): p is string => typeof p === "string";

/** Notes why an example has no object of ours: once for a missing compiler, per example for a failed compile. */
function noteObject(notes: string[], ex: BenchExample, reason: string): void {
  const line = reason.startsWith("tsbpf columns:") ? reason : `${ex.source}: ${reason}`;
  if (!notes.includes(line)) notes.push(line);
}

/** First diagnostic of a failed compile, as one line. */
function diagnosticLine(d: unknown): string {
  const o = d as { file?: string; fileName?: string; line?: number; column?: number; code?: string | number; message?: string };
  const where = o.line !== undefined ? `${basename(o.file ?? o.fileName ?? "")}:${o.line}:${o.column ?? 0} ` : "";
  return `${where}${o.code ?? ""} ${o.message ?? JSON.stringify(d)}`.trim();
}

/** Wall time of the first compile() call of the process (set by compileExamples). */
let firstCompileMs: number | undefined;

/**
 * Our objects for every example, compiled once (warm-up included). An example that does not compile maps to the
 * reason; the provider's absence makes every entry that reason.
 */
export async function compileExamples(p: Providers, o: BenchOptions): Promise<Map<string, Uint8Array | string>> {
  const out = new Map<string, Uint8Array | string>();
  for (const ex of EXAMPLES) {
    if (missing(p.compile)) {
      out.set(ex.source, `tsbpf columns: ${p.compile}`);
      continue;
    }
    try {
      const t0 = performance.now();
      const r = await p.compile({ fileName: join(o.root, ex.source) });
      firstCompileMs ??= performance.now() - t0;
      const errors = (r.diagnostics ?? []).filter((d) => (d as { severity?: string; category?: string }).severity !== "warning");
      if (!r.object || r.object.length === 0 || errors.length > 0) {
        out.set(ex.source, `does not compile: ${errors.length ? diagnosticLine(errors[0]) : "no object produced"}`);
      } else out.set(ex.source, r.object);
    } catch (err) {
      out.set(ex.source, `compile() threw: ${(err as Error).message.split("\n")[0]}`);
    }
  }
  return out;
}

function withTempObject<T>(bytes: Uint8Array, name: string, fn: (path: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-bench-"));
  try {
    const path = join(dir, `${name}.o`);
    writeFileSync(path, bytes);
    return fn(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** (a) Instructions per program: ours vs clang -O2 on the C twin, counted as llvm-objdump-16 does. */
export function sizeSection(p: Providers, objects: Map<string, Uint8Array | string>, o: BenchOptions): Section {
  const title = "(a) code size: instructions per program (llvm-objdump-16 count, lddw = 1)";
  const noObjdump = objdumpUnavailableReason();
  if (noObjdump) return skippedSection(title, noObjdump);
  const rows: Section["rows"] = [];
  const notes: string[] = [];
  let oursTotal = 0;
  let clangTotal = 0;
  let complete = true;
  // The kernel's view of the same programs, when it is here: xlated instructions and JIT bytes.
  type Sizes = Map<string, { xlated: number; jitedBytes: number }>;
  const kernelSizes = (path: string): Sizes | undefined => {
    if (missing(p.kernel)) return undefined;
    try {
      return p.kernel.programSizes(path);
    } catch (err) {
      notes.push(`kernel sizes of ${basename(path)}: ${(err as Error).message.split("\n")[0]}`);
      return undefined;
    }
  };
  if (missing(p.kernel)) notes.push(`kernel columns: ${p.kernel}`);
  for (const ex of EXAMPLES) {
    const clang = instructionCounts(join(o.root, ex.twinObject));
    const clangK = kernelSizes(join(o.root, ex.twinObject));
    const obj = objects.get(ex.source)!;
    const ours = typeof obj === "string" ? undefined : withTempObject(obj, basename(ex.source, ".ts"), (path) => ({ counts: instructionCounts(path), k: kernelSizes(path) }));
    if (typeof obj === "string") noteObject(notes, ex, obj);
    for (const prog of ex.programs) {
      const a = ours?.counts.get(prog.name);
      const b = clang.get(prog.name);
      if (a === undefined || b === undefined) complete = false;
      else {
        oursTotal += a;
        clangTotal += b;
      }
      const ko = ours?.k?.get(prog.name);
      const kc = clangK?.get(prog.name);
      rows.push([basename(ex.source), prog.name, a ?? "n/a", b ?? "n/a", ratio(a, b), ko?.xlated ?? "n/a", kc?.xlated ?? "n/a", ko?.jitedBytes ?? "n/a", kc?.jitedBytes ?? "n/a"]);
    }
  }
  if (complete) rows.push(["total", "", oursTotal, clangTotal, ratio(oursTotal, clangTotal), "", "", "", ""]);
  notes.push("clang: clang-16 -O2 -g -target bpf on bench/c/*.c (committed objects)");
  notes.push("xlated: instructions after the kernel verifier's rewrites (inlined map lookups, ctx conversions); jited: x86-64 bytes (BPF_OBJ_GET_INFO_BY_FD)");
  return {
    title,
    columns: ["example", "program", "tsbpf", "clang -O2", "tsbpf/clang", "xlated tsbpf", "xlated clang", "jited B tsbpf", "jited B clang"],
    rows,
    notes,
  };
}

function clangCommand(o: BenchOptions, ex: BenchExample, out: string): string[] {
  return ["clang-16", "-O2", "-g", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu", "-c", join(o.root, ex.twinSource), "-o", out];
}

/** Median wall time (ms) of a cold compile process: hyperfine when installed, else timed spawns. */
function coldTime(makeCmd: (out: string) => string[], label: string, runs: number, warmups = 3): { ms: number; how: string } | string {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-bench-cold-"));
  try {
    const cmd = makeCmd(join(dir, "out.o"));
    const hf = spawnSync("hyperfine", ["--version"]);
    if (!hf.error && hf.status === 0) {
      const json = join(dir, "hf.json");
      const r = spawnSync("hyperfine", ["-N", "--warmup", String(warmups), "--runs", String(runs), "--export-json", json, cmd.join(" ")], { encoding: "utf8" });
      if (r.status !== 0) return `hyperfine failed: ${r.stderr.trim().split("\n").pop()}`;
      const res = JSON.parse(readFileSync(json, "utf8")) as { results: Array<{ median: number }> };
      return { ms: res.results[0]!.median * 1000, how: `hyperfine -N, median of ${runs} runs after ${warmups} warm-ups` };
    }
    const times: number[] = [];
    for (let i = 0; i < runs + warmups; i++) {
      const t0 = performance.now();
      const r = spawnSync(cmd[0]!, cmd.slice(1));
      if (r.error) return `${cmd[0]} cannot run (${r.error.message})`;
      if (r.status !== 0) return `${label} failed`;
      if (i >= warmups) times.push(performance.now() - t0);
    }
    return { ms: median(times), how: `spawn timing, median of ${runs} runs after ${warmups} warm-ups (hyperfine not installed)` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** (b) Compile time: our warm in-process compile() vs a cold clang-16 process on the C twin. */
export async function compileTimeSection(p: Providers, objects: Map<string, Uint8Array | string>, o: BenchOptions): Promise<Section> {
  const title = "(b) compile time per example file (ms)";
  const runs = o.smoke ? 1 : o.quick ? 5 : 15;
  const rows: Section["rows"] = [];
  const notes: string[] = [];
  let how = "";
  let cliHow = "";
  for (const ex of EXAMPLES) {
    let first: number | string = "n/a";
    let warm: number | string = "n/a";
    const obj = objects.get(ex.source)!;
    if (typeof obj === "string") noteObject(notes, ex, obj);
    else if (!missing(p.compile)) {
      const compile = p.compile;
      const times: number[] = [];
      for (let i = 0; i < runs + 3; i++) {
        const t0 = performance.now();
        await compile({ fileName: join(o.root, ex.source) });
        const dt = performance.now() - t0;
        if (i === 0) first = dt;
        if (i >= 3) times.push(dt);
      }
      warm = median(times);
    }
    const coldRuns = o.smoke ? 3 : o.quick ? 10 : 20;
    const clang = coldTime((out) => clangCommand(o, ex, out), `clang-16 on ${ex.twinSource}`, coldRuns);
    if (typeof clang === "string") notes.push(`clang ${ex.twinSource}: ${clang}`);
    else how = clang.how;
    const c = typeof clang === "string" ? undefined : clang.ms;
    let cliMs: number | string = "n/a";
    if (typeof obj !== "string" && p.cli !== undefined && !missing(p.cli)) {
      // A cold CLI run costs seconds (Node + TypeScript start-up): a few runs are enough to show the order.
      const cli = p.cli.path;
      const t = coldTime((out) => [process.execPath, cli, "build", join(o.root, ex.source), "-o", out], `tsbpf build ${ex.source}`, o.smoke ? 1 : 3, o.smoke ? 0 : 1);
      if (typeof t === "string") notes.push(`tsbpf build ${ex.source}: ${t}`);
      else {
        cliMs = t.ms;
        cliHow = t.how;
      }
    }
    rows.push([basename(ex.source), first, warm, cliMs, c ?? "n/a", ratio(typeof warm === "number" ? warm : undefined, c)]);
  }
  notes.push(`tsbpf: compile() in this process. "2nd compile": the first timed call (each example was compiled once before, for (a)); "warm median": median of ${runs} calls after 3 warm-ups`);
  if (firstCompileMs !== undefined) notes.push(`tsbpf: the very first compile() of the process (TypeScript/ts-morph start-up included) took ${firstCompileMs.toFixed(0)} ms`);
  if (how) notes.push(`clang-16 cold: \`clang-16 -O2 -g -target bpf -c\`, a new process each run; ${how}`);
  if (cliHow) notes.push(`tsbpf build cold: \`node tsbpf-cli.mjs build FILE -o OUT\` (the CLI bundled fresh), a new process each run; ${cliHow}`);
  if (p.cli !== undefined && missing(p.cli)) notes.push(`tsbpf build cold: ${p.cli}`);
  return { title, columns: ["example", "tsbpf 2nd compile", "tsbpf warm median", "tsbpf build cold", "clang-16 cold", "warm/clang"], rows, notes };
}

/** (c) ns per run: VM tiers vs BPF_PROG_TEST_RUN on our object and on clang's twin, same ctx and map contents. */
export async function runtimeSection(p: Providers, objects: Map<string, Uint8Array | string>, o: BenchOptions): Promise<Section> {
  const title = "(c) ns per run on the example's hit path (VM interpreter / JIT vs kernel BPF_PROG_TEST_RUN)";
  if (missing(p.kernel) && missing(p.vm)) return skippedSection(title, `no VM (${p.vm}) and no kernel (${p.kernel})`);
  const repeat = o.smoke ? 1_000 : o.quick ? 20_000 : 200_000;
  const trials = o.smoke ? 1 : o.quick ? 3 : 5;
  const vmRuns = o.smoke ? 700 : o.quick ? 2_100 : 28_000;
  const rows: Section["rows"] = [];
  const notes: string[] = [];
  if (missing(p.vm)) notes.push(`VM columns: ${p.vm}`);
  if (missing(p.kernel)) notes.push(`kernel columns: ${p.kernel}`);
  const attempt = async (fn: () => Promise<VmResult> | VmResult): Promise<VmResult | string> => {
    try {
      return await fn();
    } catch (err) {
      return (err as Error).message.split("\n")[0]!;
    }
  };
  for (const ex of EXAMPLES) {
    const obj = objects.get(ex.source)!;
    if (typeof obj === "string") noteObject(notes, ex, obj);
    const clangBytes = new Uint8Array(readFileSync(join(o.root, ex.twinObject)));
    for (const prog of ex.programs) {
      // One row for our object, one for clang's twin: same ctx, same map contents.
      for (const [label, bytes, path] of [
        ["tsbpf", typeof obj === "string" ? undefined : obj, undefined],
        ["clang", clangBytes, join(o.root, ex.twinObject)],
      ] as const) {
        const cell = (m: VmResult | string, what: string): number | string => {
          if (typeof m === "string") {
            notes.push(`${prog.name} (${label}) ${what}: ${m}`);
            return "error";
          }
          if (m.mismatch) notes.push(`${prog.name} (${label}) ${what}: behaves differently: ${m.mismatch}`);
          return m.nsPerRun;
        };
        if (!bytes) {
          rows.push([prog.name, label, "n/a", "n/a", "n/a"]);
          continue;
        }
        const vm = p.vm;
        const kernel = p.kernel;
        const interp = !missing(vm) ? cell(await attempt(() => vm.measureVm(bytes, prog, "interp", vmRuns)), "VM interpreter") : "n/a";
        const jit = !missing(vm) ? cell(await attempt(() => vm.measureVm(bytes, prog, "jit", vmRuns)), "VM JIT") : "n/a";
        const k = !missing(kernel)
          ? cell(
              await attempt(() =>
                path ? kernel.measure(path, prog, repeat, trials) : withTempObjectAsync(bytes, prog.name, (tmp) => kernel.measure(tmp, prog, repeat, trials)),
              ),
              "kernel",
            )
          : "n/a";
        rows.push([prog.name, label, interp, jit, k]);
      }
    }
  }
  notes.push(`kernel: BPF_PROG_TEST_RUN mean over ${repeat} runs, median of ${trials} trials; objects loaded by libbpf (bpftool prog loadall)`);
  notes.push(`VM: wall time per run, best of 7 batches of ${Math.floor(vmRuns / 7)} runs after one warm-up batch; the kernel's empty-program floor is ~29 ns (kernel-facts.md)`);
  return { title, columns: ["program", "object", "VM interp", "VM JIT", "kernel test_run"], rows, notes };
}

async function withTempObjectAsync<T>(bytes: Uint8Array, name: string, fn: (path: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-bench-"));
  try {
    const path = join(dir, `${name}.o`);
    writeFileSync(path, bytes);
    return await fn(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** (d) Verifier time per program: our verifier on our object vs the kernel's verifier on the same object. */
export function verifierSection(p: Providers, objects: Map<string, Uint8Array | string>, o: BenchOptions): Section {
  const title = "(d) verifier time per program (µs) and instructions processed";
  if (missing(p.verifier) && missing(p.kernel)) return skippedSection(title, `no verifier (${p.verifier}) and no kernel (${p.kernel})`);
  const runs = o.quick ? 5 : 20;
  let logLevel1 = false;
  const rows: Section["rows"] = [];
  const notes: string[] = [];
  if (missing(p.verifier)) notes.push(`tsbpf verifier: ${p.verifier}`);
  if (missing(p.kernel)) notes.push(`kernel: ${p.kernel}`);
  for (const ex of EXAMPLES) {
    const obj = objects.get(ex.source)!;
    if (typeof obj === "string") noteObject(notes, ex, obj);
    const ours = typeof obj === "string" ? undefined : obj;
    let kOurs: Map<string, KernelProvider.VerifierStats> | undefined;
    let kClang: Map<string, KernelProvider.VerifierStats> | undefined;
    if (!missing(p.kernel)) {
      const k = p.kernel;
      try {
        kClang = k.kernelVerifierStats(join(o.root, ex.twinObject));
        if (ours) kOurs = withTempObject(ours, basename(ex.source, ".ts"), (path) => k.kernelVerifierStats(path));
      } catch (err) {
        notes.push(`${ex.source} kernel: ${(err as Error).message.split("\n")[0]}`);
      }
    }
    for (const prog of ex.programs) {
      let us: number | string = "n/a";
      let processed: number | string = "n/a";
      if (ours && !missing(p.verifier)) {
        try {
          const r = p.verifier.verifyTime(ours, prog.name, runs);
          if (r.error) {
            // A rejection is not a verification time: say so in the cell, the reason in a note.
            notes.push(`${prog.name}: tsbpf verifier rejected the program: ${r.error}`);
            us = "rejected";
          } else {
            us = Math.round(r.ms * 1000);
            processed = r.processed ?? "n/a";
          }
        } catch (err) {
          notes.push(`${prog.name}: tsbpf verifier threw: ${(err as Error).message.split("\n")[0]}`);
          us = "error";
        }
      }
      const ko = kOurs?.get(prog.name);
      const kc = kClang?.get(prog.name);
      for (const k of [ko, kc]) if (k?.method === "log1") logLevel1 = true;
      rows.push([prog.name, us, processed, ko?.usec ?? "n/a", ko?.processed ?? "n/a", kc?.usec ?? "n/a", kc?.processed ?? "n/a"]);
    }
  }
  notes.push(`tsbpf: median wall time of ${runs} verifications of the program (in-process, after one warm-up)`);
  notes.push("kernel: 'verification time' (median of 5 loads) and 'processed N insns' of BPF_LOG_STATS, loading through our ELF reader and the kernel bridge");
  if (logLevel1) notes.push("  (some figures came from `bpftool -d prog loadall` because our reader failed: log level 1, so their time includes log formatting)");
  return {
    title,
    columns: ["program", "tsbpf µs", "tsbpf processed", "kernel µs (tsbpf)", "kernel processed (tsbpf)", "kernel µs (clang)", "kernel processed (clang)"],
    rows,
    notes,
  };
}
