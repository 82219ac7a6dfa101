/** (b) Compile time: our warm in-process compile() and a cold `tsbpf build`, vs a cold clang-16 on the C twin. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { performance } from "node:perf_hooks";
import { EXAMPLES, type BenchExample } from "../examples.ts";
import { type Section, median, ratio } from "../report.ts";
import { type BenchOptions, type Providers, firstCompileMs, missing, noteObject } from "./common.ts";

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

