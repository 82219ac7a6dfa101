/**
 * CPU time (user + system) of whole commands, the figure goal 1 of issue 12 compares: a cold `tsbpf build` against a
 * cold clang, each a new process. Node cannot read a child's rusage, so each batch runs under `sh -c '...; times'`
 * and the shell's `times` prints what its children used (10 ms clock ticks: batches of several runs make the per-run
 * figure finer). Two commands alternate batch by batch (A B A B ...), so the machine's drift hits both, and the ratio
 * is taken per round, then the median.
 */
import { spawnSync } from "node:child_process";
import { median } from "./report.ts";

/** A command: argv (no shell), with extra environment variables. */
export interface Command {
  argv: string[];
  env?: Record<string, string>;
  /**
   * CPU ms used so far by a process the command talks to but does not wait for (the compile server): read before and
   * after each batch, the difference counts as the batch's CPU too (`times` only sees the shell's children).
   */
  otherCpuMs?: () => number;
  /** Run before each batch, unmeasured (the first-build row stops the compile server here). */
  before?: () => void;
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** CPU and wall ms per run of one batch of `runs` runs of `cmd`; or why it failed. */
function batch(cmd: Command, runs: number, cwd: string): { cpu: number; wall: number; other: number } | string {
  cmd.before?.();
  const line = cmd.argv.map(quote).join(" ");
  const script = `i=0; while [ $i -lt ${runs} ]; do ${line} >/dev/null 2>&1 || exit 3; i=$((i+1)); done; times`;
  const other0 = cmd.otherCpuMs?.() ?? 0;
  const t0 = process.hrtime.bigint();
  const r = spawnSync("sh", ["-c", script], { encoding: "utf8", cwd, env: { ...process.env, ...cmd.env } });
  const wall = Number(process.hrtime.bigint() - t0) / 1e6 / runs;
  if (r.error) return `sh cannot run (${r.error.message})`;
  if (r.status === 3) return `${cmd.argv.join(" ")} failed`;
  // `times`: the shell's own user/system line, then its children's: "0m0.420000s 0m0.070000s".
  const children = r.stdout.trim().split("\n").at(-1) ?? "";
  const secs = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  if (secs.length !== 2) return `cannot read the shell's times output (${JSON.stringify(children)})`;
  const other = ((cmd.otherCpuMs?.() ?? 0) - other0) / runs;
  return { cpu: ((secs[0]! + secs[1]!) * 1000) / runs + other, wall, other };
}

/** Medians of a paired measurement: A and B per run, and A/B per round. */
export interface PairedCpu {
  /** A's CPU per run, {@link Command.otherCpuMs} included. */
  aCpuMs: number;
  /** Of which the other process's ({@link Command.otherCpuMs}; 0 without one). */
  aOtherCpuMs: number;
  bCpuMs: number;
  aWallMs: number;
  bWallMs: number;
  /** Median over rounds of (A's CPU / B's CPU) in that round. */
  cpuRatio: number;
  how: string;
}

/**
 * Times `a` and `b` in turn for `rounds` rounds (after one unmeasured batch each): per round a batch of `aRuns` runs
 * of A, then `bRuns` of B.
 */
export function pairedCpu(a: Command, b: Command, opts: { rounds: number; aRuns: number; bRuns: number; cwd: string }): PairedCpu | string {
  const aCpu: number[] = [];
  const aOther: number[] = [];
  const bCpu: number[] = [];
  const aWall: number[] = [];
  const bWall: number[] = [];
  const ratios: number[] = [];
  for (let r = -1; r < opts.rounds; r++) {
    const x = batch(a, r < 0 ? 1 : opts.aRuns, opts.cwd);
    if (typeof x === "string") return x;
    const y = batch(b, r < 0 ? 1 : opts.bRuns, opts.cwd);
    if (typeof y === "string") return y;
    if (r < 0) continue;
    aCpu.push(x.cpu);
    aOther.push(x.other);
    bCpu.push(y.cpu);
    aWall.push(x.wall);
    bWall.push(y.wall);
    ratios.push(x.cpu / y.cpu);
  }
  return {
    aCpuMs: median(aCpu),
    aOtherCpuMs: median(aOther),
    bCpuMs: median(bCpu),
    aWallMs: median(aWall),
    bWallMs: median(bWall),
    cpuRatio: median(ratios),
    how: `user+sys CPU of whole processes (sh's times), medians of ${opts.rounds} rounds alternating a batch of ${opts.aRuns} tsbpf runs with a batch of ${opts.bRuns} clang runs, after one unmeasured run of each`,
  };
}
