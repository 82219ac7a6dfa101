/**
 * VM benchmarks: ns of process CPU time per run of a program in each tier, warm (after WARMUP_RUNS runs; median of batches).
 * `measureVm` is the adapter `npm run bench` calls (bench/providers/vm.ts) for the examples' hit paths;
 * `benchVm` measures any list of cases (by default the first case of every clang corpus program).
 */
import { readFileSync } from "node:fs";
import { buildCtx, type SkLookupInput } from "./ctx.ts";
import { VmObject, type Tier, type VmProgram } from "./object.ts";
import { Socket } from "../net/socket.ts";
import { parseIp4 } from "../net/addr.ts";

/** A map fill as bench/examples.ts describes it. */
export type BenchFill =
  | { map: string; kind: "socket"; key: number; socket: { family: "inet" | "inet6"; protocol: "tcp" | "udp" } }
  | { map: string; kind: "lpm4"; prefixLen: number; protocol: number; port: number; addr: string; value: number }
  | { map: string; kind: "bytes"; key: string; value: string };

/** The subset of bench/examples.ts BenchProgram used here. */
export interface BenchProgramSpec {
  name: string;
  ctx: SkLookupInput;
  fills: readonly BenchFill[];
  verdict: "SK_PASS" | "SK_DROP";
  selects: boolean;
}

/** Warm-up runs before timing: V8 tiers the generated function up to optimised code within ~10-20k calls. */
export const WARMUP_RUNS = 20_000;
/** Warm-up time, in ms, on top of WARMUP_RUNS runs, before every timing (see timeRuns; scaled for fewer runs). */
export const WARMUP_MS = 300;
/** Timed batches; the median batch is reported (noise on a shared machine only ever adds time to a batch). */
export const BATCHES = 7;

/**
 * Times `p` on `ctx`: WARMUP_RUNS untimed runs, then BATCHES batches of runs/BATCHES runs; returns the median
 * batch's mean ns per run. The options object is built once, and runs go through runVerdict (no RunResult), so the
 * loop measures the run, not the caller, as BPF_PROG_TEST_RUN does.
 */
export function timeRuns(p: VmProgram, ctx: Uint8Array, tier: Tier, runs: number, warmup = WARMUP_RUNS): number {
  const opts = { tier };
  runMany(p, ctx, opts, warmup);
  // Every timing also runs for WARMUP_MS, not just a number of runs: V8 keeps re-optimising the shared run path
  // (runCtx, reset, helpers) as each new program and map kind reaches it, and a count of runs did not wait for that.
  // Measured in `npm run bench` section (c) on a quiet machine, where only the first program of the process had this
  // wait: one later program per run read 1.5-7x its own figure measured alone (redir_port/redir_ports of clang:
  // 65-171 ns against 23-25), a different one each run; with the wait for every program, none did in three runs.
  // The wait scales with the warm-up asked for: the interpreter's tenth, tests' and smoke runs' few runs wait less.
  if (warmup > 0) {
    const until = Date.now() + WARMUP_MS * Math.min(1, warmup / WARMUP_RUNS);
    while (Date.now() < until) runMany(p, ctx, opts, 1000);
  }
  const batch = Math.max(1, Math.floor(runs / BATCHES));
  const perRun: number[] = [];
  for (let b = 0; b < BATCHES; b++) {
    // CPU time, not wall time: BPF_PROG_TEST_RUN stops its clock while the kernel reschedules (bpf_test_timer), so
    // the kernel figure excludes time other processes took; on a shared machine wall time would charge it to the VM.
    const t0 = process.cpuUsage();
    runMany(p, ctx, opts, batch);
    const t = process.cpuUsage(t0);
    perRun.push(((t.user + t.system) * 1000) / batch);
  }
  perRun.sort((a, b) => a - b);
  return perRun[BATCHES >> 1]!;
}

/**
 * Runs `p` `n` times. The warm-up and the timed batches share this loop, so that it is optimised code before the
 * first batch is timed: inlined in timeRuns, the first timing of a process ran its batches in a loop that V8 had
 * compiled on-stack for the warm-up and deoptimised on leaving it (--trace-deopt: "Insufficient type feedback"),
 * which added ~10-35 ns a run to the first program measured (bench section e, 1000 prefixes, same).
 */
function runMany(p: VmProgram, ctx: Uint8Array, opts: { tier: Tier }, n: number): void {
  for (let i = 0; i < n; i++) p.runVerdict(ctx, opts);
}

/**
 * Fills `obj`'s maps as the bench table describes: sockets (TCP listening, UDP unconnected — the Socket defaults) named
 * `map[key]` on port 40000 + key, LPM entries, and raw key/value bytes. Returns what failed, or "" when every update succeeded.
 */
export function fillBenchMaps(obj: VmObject, fills: readonly BenchFill[]): string {
  for (const f of fills) {
    const view = obj.map(f.map);
    if (f.kind === "socket") {
      view.set(f.key, new Socket({ name: `${f.map}[${f.key}]`, ...f.socket, port: 40000 + f.key }));
      continue;
    }
    if (f.kind === "bytes") {
      const rc = view.raw.update(Uint8Array.from(Buffer.from(f.key, "hex")), Uint8Array.from(Buffer.from(f.value, "hex")), 0);
      if (rc !== 0) return `filling ${f.map} failed with ${rc}`;
      continue;
    }
    // struct { u32 prefixLen; be16 protocol; be16 port; be32 addr } — the layout both examples and twins use.
    const key = new Uint8Array(view.raw.def.keySize);
    const dv = new DataView(key.buffer);
    dv.setUint32(0, f.prefixLen, true);
    dv.setUint16(4, f.protocol, false);
    dv.setUint16(6, f.port, false);
    key.set(parseIp4(f.addr), 8);
    const value = new Uint8Array(view.raw.def.valueSize);
    new DataView(value.buffer).setUint32(0, f.value, true);
    const rc = view.raw.update(key, value, 0);
    if (rc !== 0) return `filling ${f.map} failed with ${rc}`;
  }
  return "";
}

/** ns per run of one example program in one tier, plus a behaviour check against the bench table. */
export function measureVm(objectBytes: Uint8Array, prog: BenchProgramSpec, tier: Tier, runs: number, warmup = WARMUP_RUNS): { nsPerRun: number; mismatch: string } {
  const obj = VmObject.fromBytes(objectBytes, { seed: 1 });
  const failed = fillBenchMaps(obj, prog.fills);
  if (failed) return { nsPerRun: NaN, mismatch: failed };
  const p = obj.program(prog.name);
  const ctx = buildCtx(prog.ctx);
  const first = p.runCtx(ctx, { tier });
  const problems: string[] = [];
  if (first.verdict !== prog.verdict) problems.push(`verdict ${first.verdict}, expected ${prog.verdict}`);
  if ((first.selected !== null) !== prog.selects) problems.push(prog.selects ? "no socket selected" : `selected ${first.selected?.name}`);
  if (first.leakedRefs.length) problems.push(`leaked references: ${first.leakedRefs.join(", ")}`);
  return { nsPerRun: timeRuns(p, ctx, tier, runs, warmup), mismatch: problems.join("; ") };
}

/** One row of benchVm. */
export interface BenchRow {
  program: string;
  case: string;
  interpNs: number;
  jitNs: number;
  insns: number;
}

/** A case to benchmark: an object file, a program, its ctx and map fills (`tsbpf run --maps` format). */
export interface BenchCase {
  objectPath: string;
  program: string;
  name: string;
  ctx: SkLookupInput;
  maps?: Record<string, Record<string, unknown>>;
}

/** The first case of every program in the clang corpus manifest at `corpusDir/corpus.json`. */
export function corpusCases(corpusDir: string): BenchCase[] {
  const corpus = JSON.parse(readFileSync(`${corpusDir}/corpus.json`, "utf8"));
  const out: BenchCase[] = [];
  for (const p of corpus.programs) {
    const c = p.cases.find((x: { expect: { testRunErrno?: string } }) => !x.expect.testRunErrno);
    if (c) out.push({ objectPath: `${corpusDir}/${p.object}`, program: p.name, name: c.name, ctx: c.ctx, maps: c.maps });
  }
  return out;
}

/**
 * Measures interpreter and JIT ns per run for each case (cases whose object cannot be loaded are skipped). The
 * interpreter gets a tenth of the runs and of the warm-up: it is 10-30x slower, and its figure is for reference.
 */
export function benchVm(cases: BenchCase[], runs = 100_000, warmup = WARMUP_RUNS): BenchRow[] {
  const rows: BenchRow[] = [];
  for (const c of cases) {
    let obj: VmObject;
    try {
      obj = VmObject.fromBytes(readFileSync(c.objectPath), { seed: 1 });
    } catch {
      continue;
    }
    for (const [name, entries] of Object.entries(c.maps ?? {})) {
      for (const [k, v] of Object.entries(entries)) obj.map(name).set(k, v);
    }
    const p = obj.program(c.program);
    const ctx = buildCtx(c.ctx);
    const insns = p.runCtx(ctx).insnsExecuted;
    rows.push({ program: c.program, case: c.name, interpNs: timeRuns(p, ctx, "interp", Math.max(100, runs / 10), warmup / 10), jitNs: timeRuns(p, ctx, "jit", runs, warmup), insns });
  }
  return rows;
}
