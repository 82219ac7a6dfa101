/**
 * What the benchmark sections share: the providers scripts/bench.mjs managed to build (or why one is missing), run
 * options, our compiled example objects, and scratch files for command-line tools.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { performance } from "node:perf_hooks";
import { EXAMPLES, type BenchExample, type BenchProgram } from "../examples.ts";
import type * as KernelProvider from "../providers/kernel.ts";

/** What `compile()` returns, as far as the bench relies on it. */
export interface CompileOutput {
  object?: Uint8Array;
  diagnostics?: ReadonlyArray<unknown>;
}

/** The VM adapter (bench/providers/vm.ts): ns per run of one program in each tier, plus a behaviour check. */
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

/** The verifier's bench entry (`verifyTime` of compiler/verifier, reached through generated glue): ms per program. */
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

/** True when a provider is missing (it is then the reason). */
export const missing = <T>(p: Maybe<T>): p is string => typeof p === "string";

/** Notes why an example has no object of ours: once for a missing compiler, per example for a failed compile. */
export function noteObject(notes: string[], ex: BenchExample, reason: string): void {
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
export let firstCompileMs: number | undefined;

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

/** Writes `bytes` to a temp `.o` file, runs `fn` with its path, removes it. */
export async function withTempObject<T>(bytes: Uint8Array, name: string, fn: (path: string) => T | Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-bench-"));
  try {
    const path = join(dir, `${name}.o`);
    writeFileSync(path, bytes);
    return await fn(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The synchronous form of {@link withTempObject}. */
export function withTempObjectSync<T>(bytes: Uint8Array, name: string, fn: (path: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-bench-"));
  try {
    const path = join(dir, `${name}.o`);
    writeFileSync(path, bytes);
    return fn(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
