/**
 * (b) Compile time, goal 1 of issue 12: `tsbpf build` (bin/tsbpf.js run as a user runs it) against a cold
 * `clang-16 -O2 -g -target bpf -c` on the C twin, in CPU time (user + system), on each example and on one file holding
 * every example twice. Three rows per file: through the compile server (compiler/server/: the client process's CPU
 * plus the server's CPU during the batch, read from /proc/PID/stat), without it (the first build, or
 * TSBPF_SERVER=0: a process from the start-up snapshot), and without the snapshot either. Next to it: our warm
 * in-process compile(), the re-check time of `tsbpf build --watch` after an edit, and one process that compiles
 * through the esbuild plugin and then through tsbpf/testing (one warm compiler).
 */
import { spawn, spawnSync } from "node:child_process";
import { appendFileSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { performance } from "node:perf_hooks";
import { pairedCpu, type Command, type PairedCpu } from "../cpu.ts";
import { pidFile, serverKey, socketPath } from "../../compiler/server/protocol.ts";
import { EXAMPLES } from "../examples.ts";
import { writeManyPrograms } from "../many.ts";
import { type GoalRow, type Section, median, ratio } from "../report.ts";
import { type BenchOptions, type Providers, missing } from "./common.ts";

const clang = (root: string, twin: string, out: string): Command => ({
  argv: ["clang-16", "-O2", "-g", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu", "-c", twin, "-o", out],
});

/** Clock ticks per second of /proc/PID/stat's utime and stime (USER_HZ: 100 on Linux). */
const USER_HZ = 100;

/**
 * The compile server the bench's builds talk to: its own cache directory (so it is started, and later stopped, by the
 * bench), and the CPU ms its process has used so far (0 before it exists).
 */
function benchServer(root: string, dir: string): { env: Record<string, string>; log: string; cpuMs: () => number; stop: () => void; stopAndWait: () => void } {
  const log = join(dir, "server.log");
  const env = { TSBPF_SERVER: "1", TSBPF_CACHE_DIR: join(dir, "server-cache"), TSBPF_SERVER_LOG: log };
  const pid = (): number | undefined => {
    const socket = socketPath(serverKey(root, { ...process.env, ...env }), env.TSBPF_CACHE_DIR);
    if (!socket || !existsSync(pidFile(socket))) return undefined;
    return Number(readFileSync(pidFile(socket), "utf8"));
  };
  return {
    env,
    log,
    cpuMs() {
      const p = pid();
      if (p === undefined) return 0;
      try {
        // Fields 14 and 15 (utime, stime), counted after the command name, which may hold spaces.
        const fields = readFileSync(`/proc/${p}/stat`, "utf8").replace(/^.*\) /, "").split(" ");
        return ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ;
      } catch {
        return 0;
      }
    },
    stop() {
      const p = pid();
      try {
        if (p !== undefined) process.kill(p, "SIGTERM");
      } catch {
        // Already gone.
      }
    },
    /** Stops the server and waits (up to 5 s) until its pid file is gone: the next build finds no server. */
    stopAndWait() {
      this.stop();
      const pause = new Int32Array(new SharedArrayBuffer(4));
      for (let waited = 0; pid() !== undefined && waited < 5000; waited += 10) Atomics.wait(pause, 0, 0, 10);
    },
  };
}

/** Who ran the builds sent to the server (TSBPF_SERVER_LOG: "native: server PID: ...", "node: local (why): ..."). */
function serverLogSummary(log: string): string {
  const lines = existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : [];
  const count = (re: RegExp) => lines.filter((l) => re.test(l)).length;
  return `of ${lines.length} builds, ${count(/^native: server /)} were answered through the native client, ${count(/^node: server /)} through the node client, ${count(/: local /)} ran locally`;
}

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
  const title = "(b) compile time: `tsbpf build` (via the compile server, and without it) vs cold clang-16 -O2 (CPU ms per build, user+sys), warm compile() (ms)";
  const rows: Section["rows"] = [];
  const notes: string[] = [];
  const goals: GoalRow[] = [];
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-bench-cold-"));
  const server = benchServer(o.root, dir);
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
    type Ratio = { label: string; r: number; cpu: number; clang: number; serverCpu: number };
    const viaServer: Ratio[] = [];
    const firstBuild: Ratio[] = [];
    const noServer: Ratio[] = [];
    const cells = (x: PairedCpu | string, label: string, how: string, into: Ratio[]) => {
      if (typeof x === "string") return (notes.push(`${label} ${how}: ${x}`), ["n/a", "n/a", "n/a", "-", "n/a", "n/a"]);
      into.push({ label, r: x.cpuRatio, cpu: x.aCpuMs, clang: x.bCpuMs, serverCpu: x.aOtherCpuMs });
      return [x.aCpuMs, x.aOtherCpuMs, x.bCpuMs, `${x.cpuRatio.toFixed(2)}x`, x.aWallMs, x.bWallMs];
    };
    for (const f of files) {
      const out = join(dir, "out.o");
      const build: Command = { argv: [cli ?? "false", "build", f.source, "-o", out] };
      const withClang = clang(o.root, f.twin, join(dir, "clang.o"));
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
      if (!cli) {
        rows.push([f.label, f.programs, "-", "n/a", "n/a", "n/a", "-", "n/a", "n/a", warm]);
        continue;
      }
      // Through the server: the first (unmeasured) batch starts it; a batch of as many runs as clang's, so the
      // server's CPU, counted in 10 ms ticks, is read over a dozen builds.
      const served = pairedCpu({ ...build, env: server.env, otherCpuMs: server.cpuMs }, withClang, { rounds, aRuns: runs * 4, bRuns: runs * 4, cwd: o.root });
      // The first build: no server runs, so the client starts one, which compiles cold. Each batch is one build after
      // the server was stopped; the new server's whole CPU counts (it did nothing else yet).
      const first = pairedCpu({ ...build, env: server.env, otherCpuMs: server.cpuMs, before: () => server.stopAndWait() }, withClang, { rounds, aRuns: 1, bRuns: runs * 4, cwd: o.root });
      const snapshot = pairedCpu({ ...build, env: { TSBPF_SERVER: "0" } }, withClang, { rounds, aRuns: runs, bRuns: runs * 4, cwd: o.root });
      const plain = pairedCpu({ ...build, env: { TSBPF_SERVER: "0", TSBPF_NO_SNAPSHOT: "1" } }, withClang, { rounds: 1, aRuns: 1, bRuns: 1, cwd: o.root });
      if (typeof snapshot !== "string") how = snapshot.how;
      rows.push([f.label, f.programs, "via compile server", ...cells(served, f.label, "via the server", viaServer), warm]);
      rows.push([f.label, f.programs, "first build (starts server)", ...cells(first, f.label, "first build", firstBuild), "-"]);
      rows.push([f.label, f.programs, "no server (TSBPF_SERVER=0)", ...cells(snapshot, f.label, "without the server", noServer), "-"]);
      rows.push([f.label, f.programs, "no server, no snapshot", ...cells(plain, f.label, "without the snapshot", []), "-"]);
    }
    if (how) notes.push(`cold: ${how}; through the server a batch is ${runs * 4} builds (its CPU is read in 10 ms ticks); "no snapshot": one run`);
    notes.push(`via compile server: bin/tsbpf.js execs the native client (build/Release/tsbpf-client), which sends the build to a warm tsbpf process (started by the first, unmeasured batch, from the snapshot); its CPU = the client processes' + the server's during the batch (/proc/PID/stat utime+stime), 'of which server' the latter; ${serverLogSummary(server.log)}`);
    notes.push("first build (starts server): the server is stopped before each (single-build) batch, so the native client starts one from the snapshot and it compiles cold; its CPU = the client's + the new server's whole CPU");
    notes.push("no server (TSBPF_SERVER=0): the build in its own process: sh execs `node --snapshot-blob dist/snapshot/tsbpf-<node>.blob`, which runs the one build without V8's optimising compiler (compiler/cli/one-shot.ts)");
    notes.push(`warm compile(): median of ${o.smoke ? 1 : 7} calls in this process after one warm-up`);
    if (cli) {
      const manyLabel = (r: Ratio) => r.label.startsWith("all examples");
      const goal = (set: Ratio[], how: string) => {
        const worst = set.filter((r) => !manyLabel(r)).sort((a, b) => b.r - a.r)[0];
        const all = set.find(manyLabel);
        const split = (r: Ratio) => (r.serverCpu > 0 ? ` (server ${r.serverCpu.toFixed(0)})` : "");
        if (worst) goals.push({ goal: `1. build CPU, one example (worst), ${how}`, ours: `${worst.cpu.toFixed(0)} ms${split(worst)}, ${worst.label}`, reference: `clang ${worst.clang.toFixed(0)} ms`, ratio: `${worst.r.toFixed(2)}x`, target: "<= 2x" });
        if (all) goals.push({ goal: `1. build CPU, ${many.programs} programs in one file, ${how}`, ours: `${all.cpu.toFixed(0)} ms${split(all)}`, reference: `clang ${all.clang.toFixed(0)} ms`, ratio: `${all.r.toFixed(2)}x`, target: "<= 2x" });
      };
      goal(viaServer, "via compile server");
      goal(firstBuild, "first build (starts the server)");
      goal(noServer, "no server (TSBPF_SERVER=0)");
      const recheck = await watchRecheck(cli, join(o.root, EXAMPLES[0]!.source), dir, o.smoke ? 1 : 5);
      const recheckMany = o.smoke ? "not measured (--smoke)" : await watchRecheck(cli, many.source, dir, 3);
      const show = (v: number | string) => (typeof v === "number" ? `${v.toFixed(0)} ms` : v);
      notes.push(`tsbpf build --watch, re-check + rebuild after an edit (the time it prints; median of ${o.smoke ? 1 : 5}): ${basename(EXAMPLES[0]!.source)} ${show(recheck)}; ${basename(many.source)} ${show(recheckMany)}`);
      const coldCpu = Number(rows[2]![3]);
      if (typeof recheck === "number") goals.push({ goal: "1. --watch re-check after an edit", ours: show(recheck), reference: `build without server ${coldCpu.toFixed(0)} ms CPU`, ratio: ratio(recheck, coldCpu), target: "-" });
      const shared = sharedCompiler(o.root, join(o.root, EXAMPLES[0]!.source), join(o.root, EXAMPLES[1]!.source));
      notes.push(typeof shared === "string"
        ? `one process, esbuild plugin then tsbpf/testing: ${shared}`
        : `one process (dist/ bundles): esbuild with the tsbpf plugin bundles an app importing ${basename(EXAMPLES[0]!.source)}?object in ${shared.pluginMs.toFixed(0)} ms (TypeScript loaded on first use), then tsbpf/testing handler("${basename(EXAMPLES[1]!.source)}") compiles and loads in ${shared.testingMs.toFixed(0)} ms (the same, now warm, compiler)`);
    }
  } finally {
    server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    title,
    columns: ["file", "programs", "tsbpf build", "CPU", "of which server", "clang CPU", "CPU ratio", "wall", "clang wall", "warm compile()"],
    rows,
    notes,
    goals,
  };
}
