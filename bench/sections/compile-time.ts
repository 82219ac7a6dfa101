/**
 * (b) Compile time, goal 1 of issue 12: a cold `tsbpf build` (bin/tsbpf.js run as a user runs it: from the start-up
 * snapshot) against a cold `clang-16 -O2 -g -target bpf -c` on the C twin, in CPU time (user + system) of the whole
 * process, on each example and on one file holding every example twice. Next to it: the same build without the
 * snapshot, our warm in-process compile(), the re-check time of `tsbpf build --watch` after an edit, and one
 * process that compiles through the esbuild plugin and then through tsbpf/testing (one warm compiler).
 */
import { spawn, spawnSync } from "node:child_process";
import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { performance } from "node:perf_hooks";
import { pairedCpu, type Command } from "../cpu.ts";
import { EXAMPLES } from "../examples.ts";
import { writeManyPrograms } from "../many.ts";
import { type GoalRow, type Section, median, ratio } from "../report.ts";
import { type BenchOptions, type Providers, missing } from "./common.ts";

const clang = (root: string, twin: string, out: string): Command => ({
  argv: ["clang-16", "-O2", "-g", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu", "-c", twin, "-o", out],
});

/** Median ms of the rebuilds `tsbpf build --watch` reports after `edits` appended comments; or why not. */
async function watchRecheck(cli: string, file: string, dir: string, edits: number): Promise<number | string> {
  const copy = join(dir, `watched-${basename(file)}`);
  copyFileSync(file, copy);
  const child = spawn(cli, ["build", "--watch", copy, "-o", join(dir, "watched.o")], { stdio: ["ignore", "ignore", "pipe"] });
  const times: number[] = [];
  let text = "";
  return await new Promise<number | string>((done) => {
    const timer = setTimeout(() => finish(`no rebuild within 60 s (${text.trim().split("\n").at(-1) ?? "no output"})`), 60_000);
    function finish(r: number | string) {
      clearTimeout(timer);
      child.kill("SIGINT");
      done(r);
    }
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (chunk: string) => {
      text += chunk;
      for (const m of chunk.matchAll(/^(re)?built in (\d+) ms/gm)) {
        if (m[1]) times.push(Number(m[2]));
        if (times.length >= edits) return finish(median(times));
        // The next edit once this build is done (a comment keeps the program the same).
        setTimeout(() => appendFileSync(copy, `\n// edit ${times.length}\n`), 50);
      }
    });
    child.on("exit", (code) => finish(`tsbpf build --watch exited (${code}): ${text.trim().split("\n").at(-1) ?? ""}`));
  });
}

/**
 * One process: esbuild bundles an app importing `a` as `?object` through the tsbpf plugin, then tsbpf/testing's
 * handler() compiles `b` (dist/ bundles, like a user's build script running tests after bundling).
 */
function sharedCompiler(root: string, a: string, b: string): { pluginMs: number; testingMs: number } | string {
  // Next to the repo's node_modules, so that the script finds esbuild the way a user's build script would.
  const dir = join(root, "node_modules", ".cache", "tsbpf-bench");
  mkdirSync(dir, { recursive: true });
  const script = join(dir, "shared-compiler.mjs");
  writeFileSync(join(dir, "shared-app.mjs"), `import handler from ${JSON.stringify(`${a}?object`)};\nexport default handler;\n`);
  writeFileSync(script, `import { performance } from "node:perf_hooks";
import { build } from "esbuild";
const { default: tsbpf } = await import(${JSON.stringify(join(root, "dist", "esbuild.js"))});
let t0 = performance.now();
await build({ entryPoints: [${JSON.stringify(join(dir, "shared-app.mjs"))}], bundle: true, write: false, format: "esm", platform: "node", logLevel: "silent", plugins: [tsbpf()] });
const pluginMs = performance.now() - t0;
const { handler } = await import(${JSON.stringify(join(root, "dist", "testing.js"))});
t0 = performance.now();
await handler(${JSON.stringify(b)});
console.log(JSON.stringify({ pluginMs, testingMs: performance.now() - t0 }));
process.exit(0);
`);
  const r = spawnSync(process.execPath, [script], { encoding: "utf8", cwd: root });
  if (r.status !== 0) return `failed: ${(r.stderr || "").trim().split("\n").slice(0, 2).join(" | ")}`;
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { pluginMs: number; testingMs: number };
}

/** (b) Compile time: see the file comment. */
export async function compileTimeSection(p: Providers, _objects: Map<string, Uint8Array | string>, o: BenchOptions): Promise<Section> {
  const title = "(b) compile time: cold `tsbpf build` vs cold clang-16 -O2 (CPU ms per process, user+sys), warm compile() (ms)";
  const rows: Section["rows"] = [];
  const notes: string[] = [];
  const goals: GoalRow[] = [];
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-bench-cold-"));
  const rounds = o.smoke ? 1 : o.quick ? 3 : 5;
  const runs = o.smoke ? 1 : 3;
  try {
    const many = writeManyPrograms(o.root, join(dir, "many"), 2);
    const files = [
      ...EXAMPLES.map((ex) => ({ label: basename(ex.source), source: join(o.root, ex.source), twin: join(o.root, ex.twinSource), programs: ex.programs.length })),
      { label: `all examples x2 (${basename(many.source)})`, source: many.source, twin: many.twinSource, programs: many.programs },
    ];
    const cli = p.cli !== undefined && !missing(p.cli) ? p.cli.path : undefined;
    if (!cli) notes.push(`tsbpf build cold: ${p.cli ?? "not measured"}`);
    let how = "";
    const ratios: Array<{ label: string; r: number }> = [];
    for (const f of files) {
      const out = join(dir, "out.o");
      const build: Command = { argv: [cli ?? "false", "build", f.source, "-o", out] };
      let cold: (string | number)[] = ["n/a", "n/a", "-", "n/a", "n/a", "n/a"];
      if (cli) {
        const pair = pairedCpu(build, clang(o.root, f.twin, join(dir, "clang.o")), { rounds, aRuns: runs, bRuns: runs * 4, cwd: o.root });
        const plain = pairedCpu({ ...build, env: { TSBPF_NO_SNAPSHOT: "1" } }, clang(o.root, f.twin, join(dir, "clang.o")), { rounds: 1, aRuns: 1, bRuns: 1, cwd: o.root });
        if (typeof pair === "string") notes.push(`${f.label}: ${pair}`);
        else {
          how = pair.how;
          ratios.push({ label: f.label, r: pair.cpuRatio });
          cold = [pair.aCpuMs, pair.bCpuMs, `${pair.cpuRatio.toFixed(2)}x`, typeof plain === "string" ? "n/a" : plain.aCpuMs, pair.aWallMs, pair.bWallMs];
        }
      }
      let warm: number | string = "n/a";
      if (!missing(p.compile)) {
        const times: number[] = [];
        for (let i = 0; i < (o.smoke ? 2 : 8); i++) {
          const t0 = performance.now();
          await p.compile({ fileName: f.source });
          if (i >= 1) times.push(performance.now() - t0);
        }
        warm = median(times);
      }
      rows.push([f.label, f.programs, ...cold, warm]);
    }
    if (how) notes.push(`cold: ${how}; "no snapshot": TSBPF_NO_SNAPSHOT=1 (TypeScript loaded from node_modules), one run`);
    notes.push("tsbpf build = bin/tsbpf.js run as a program (sh execs `node --snapshot-blob dist/snapshot/tsbpf-<node>.blob`), after `npm run build`");
    notes.push(`warm compile(): median of ${o.smoke ? 1 : 7} calls in this process after one warm-up`);
    if (cli) {
      const single = ratios.filter((r) => !r.label.startsWith("all examples"));
      const worst = single.sort((a, b) => b.r - a.r)[0];
      const manyRatio = ratios.find((r) => r.label.startsWith("all examples"));
      const cpuOf = (label: string, col: number) => rows.find((r) => r[0] === label)?.[col];
      if (worst) goals.push({ goal: "1. cold build CPU, one example (worst)", ours: `${Number(cpuOf(worst.label, 2)).toFixed(0)} ms (${worst.label})`, reference: `clang ${Number(cpuOf(worst.label, 3)).toFixed(0)} ms`, ratio: `${worst.r.toFixed(2)}x`, target: "<= 2x" });
      if (manyRatio) goals.push({ goal: `1. cold build CPU, ${many.programs} programs in one file`, ours: `${Number(cpuOf(manyRatio.label, 2)).toFixed(0)} ms`, reference: `clang ${Number(cpuOf(manyRatio.label, 3)).toFixed(0)} ms`, ratio: `${manyRatio.r.toFixed(2)}x`, target: "<= 2x" });
      const recheck = await watchRecheck(cli, join(o.root, EXAMPLES[0]!.source), dir, o.smoke ? 1 : 5);
      const recheckMany = o.smoke ? "not measured (--smoke)" : await watchRecheck(cli, many.source, dir, 3);
      const show = (v: number | string) => (typeof v === "number" ? `${v.toFixed(0)} ms` : v);
      notes.push(`tsbpf build --watch, re-check + rebuild after an edit (the time it prints; median of ${o.smoke ? 1 : 5}): ${basename(EXAMPLES[0]!.source)} ${show(recheck)}; ${basename(many.source)} ${show(recheckMany)}`);
      if (typeof recheck === "number") goals.push({ goal: "1. --watch re-check after an edit", ours: show(recheck), reference: `cold build ${Number(rows[0]![2]).toFixed(0)} ms CPU`, ratio: ratio(recheck, Number(rows[0]![2])), target: "-" });
      const shared = sharedCompiler(o.root, join(o.root, EXAMPLES[0]!.source), join(o.root, EXAMPLES[1]!.source));
      notes.push(typeof shared === "string"
        ? `one process, esbuild plugin then tsbpf/testing: ${shared}`
        : `one process (dist/ bundles): esbuild with the tsbpf plugin bundles an app importing ${basename(EXAMPLES[0]!.source)}?object in ${shared.pluginMs.toFixed(0)} ms (TypeScript loaded on first use), then tsbpf/testing handler("${basename(EXAMPLES[1]!.source)}") compiles and loads in ${shared.testingMs.toFixed(0)} ms (the same, now warm, compiler)`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    title,
    columns: ["file", "programs", "tsbpf build CPU", "clang CPU", "CPU ratio", "no snapshot CPU", "tsbpf build wall", "clang wall", "warm compile()"],
    rows,
    notes,
    goals,
  };
}
