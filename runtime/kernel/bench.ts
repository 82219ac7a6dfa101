/**
 * Kernel-side timing for the bench: BPF_PROG_TEST_RUN with `repeat` runs reports the mean ns per run (the kernel
 * times the loop itself, so Node's overhead is excluded). Several trials give a median that is stable to a few ns;
 * for the steadiest figures run the process pinned to one CPU (`taskset -c 0 node ...`).
 */
import type { CtxSpec } from "./ctx.ts";
import { encodeCtx } from "./ctx.ts";
import type { KernelProgram } from "./program.ts";

/** Options of {@link benchTestRun}. */
export interface BenchOptions {
  /** Runs per trial (default 1,000,000, as kernel-facts.md measured). */
  repeat?: number;
  /** Trials; the median is reported (default 5). */
  trials?: number;
}

/** The timing of one program on one context. */
export interface BenchResult {
  /** Median over trials of the kernel's mean ns per run. */
  nsPerRun: number;
  /** Every trial's ns per run, in order. */
  trialsNs: number[];
  repeat: number;
  /** The program's verdict and selected cookie on this context (same in every run). */
  verdict: "SK_PASS" | "SK_DROP";
  cookie: bigint;
}

/** Median of a non-empty list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Times `program` on `ctx` in the kernel (see module comment). Maps must already hold what the case needs. */
export function benchTestRun(program: KernelProgram, ctx: CtxSpec | Uint8Array, options: BenchOptions = {}): BenchResult {
  const repeat = options.repeat ?? 1_000_000;
  const trials = Math.max(1, options.trials ?? 5);
  const bytes = ctx instanceof Uint8Array ? ctx : encodeCtx(ctx);
  const trialsNs: number[] = [];
  let last = program.testRun(bytes); // warm-up, and the verdict to report
  for (let i = 0; i < trials; i++) {
    last = program.testRun(bytes, { repeat });
    trialsNs.push(last.durationNs);
  }
  return { nsPerRun: median(trialsNs), trialsNs, repeat, verdict: last.verdict, cookie: last.cookie };
}
