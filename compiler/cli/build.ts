/**
 * `tsbpf build FILE.ts [-o OUT.o]` — compile and verify a DSL file with tsbpf's verifier, and write the ELF
 * object (default `FILE.bpf.o` next to the source). Exit 0 on success, 1 on diagnostics, 2 on usage errors.
 * Diagnostics go to stderr as `FILE:LINE:COL - error TSBPFnnnn: message` plus a code frame; never a stack trace.
 */
import { writeFileSync } from "node:fs";
import type { CompileResult, DumpStage } from "../index.ts";
import { DEFAULT_TARGET, type KernelTarget, TargetError, resolveTarget } from "../target/index.ts";
import { type CliIO, UsageError, parseArgs, processIO } from "./usage.ts";
import type { WatchEvents } from "./watch.ts";

/** The --target-kernel values, for the commands' help. */
export const TARGET_HELP = `5.10 (default) to 6.18, or "host" to probe the running kernel`;

/** Options that take a value, shared by build and check. */
export const TARGET_OPTION = "--target-kernel";

/** The --target-kernel option resolved (default 5.10); an unknown value is a usage error naming what is accepted. */
export function targetOption(options: Map<string, string | true>): KernelTarget {
  const spec = options.get(TARGET_OPTION);
  try {
    return resolveTarget(typeof spec === "string" ? spec : DEFAULT_TARGET);
  } catch (err) {
    if (err instanceof TargetError) throw new UsageError(err.message);
    throw err;
  }
}

/** Where a command writes, and the process's streams (defined in usage.ts, which dispatch.ts loads anyway). */
export { type CliIO, processIO } from "./usage.ts";

const HELP = `usage: tsbpf build FILE.ts [-o OUT.o] [--target-kernel VERSION|host] [--watch] [--dump-ir] [--dump-asm] [--no-verify]

Compiles the sk_lookup programs and maps of FILE.ts into an ELF64 BPF object that libbpf and bpftool load
(default output: FILE.bpf.o next to FILE.ts, and X.bpf.o for X.bpf.ts). The object loads on every kernel
from the target on.

options:
  -o, --output OUT.o          where to write the object
  --target-kernel VERSION     the oldest kernel the object must load on: ${TARGET_HELP}
  -w, --watch                 rebuild whenever FILE.ts changes (each rebuild says how long it took); Ctrl-C stops
  --dump-ir                   print the IR (after socket-release insertion) to stdout
  --dump-asm                  print each program's BPF assembly to stdout
  --no-verify                 skip tsbpf's verifier (the kernel still verifies at load time)
  --help                      show this help

exit status: 0 success, 1 diagnostics (on stderr), 2 usage error
`;

/** Flags shared by build and check. */
export const DUMP_FLAGS = ["--dump-ir", "--dump-asm", "--no-verify"];

/** Compiles `file` with the dumps requested by `options`, prints dumps and diagnostics; returns the result. */
export async function compileForCli(file: string, options: Map<string, string | true>, io: CliIO): Promise<CompileResult> {
  // Loaded on demand: TypeScript is large, and --help or a usage error should not wait for it.
  const { compile, formatDiagnostics } = await import("../index.ts");
  const dump: DumpStage[] = [];
  if (options.has("--dump-ir")) dump.push("ir-release");
  if (options.has("--dump-asm")) dump.push("asm");
  const target = targetOption(options);
  const result = compile({ fileName: file }, { dump, verify: !options.has("--no-verify"), target });
  if (result.dumps["ir-release"]) io.stdout(result.dumps["ir-release"]);
  if (result.dumps.asm) io.stdout(result.dumps.asm);
  if (result.diagnostics.length) {
    io.stderr(formatDiagnostics(result.diagnostics, new Map([[file, result.source ?? ""]])));
    const n = result.diagnostics.length;
    io.stderr(`\n${n} error${n === 1 ? "" : "s"}\n`);
  }
  return result;
}

/** The single FILE.ts positional, or a UsageError. */
export function oneSource(positionals: string[], command: string): string {
  if (positionals.length !== 1) throw new UsageError(`expected one FILE.ts, got ${positionals.length === 0 ? "none" : positionals.join(" ")} (see tsbpf ${command} --help)`);
  return positionals[0]!;
}

/** Default object path: `x.ts` → `x.bpf.o`, and `x.bpf.ts` (the esbuild plugin's naming) → `x.bpf.o` too. */
export function defaultOutput(file: string): string {
  return file.replace(/(\.bpf)?\.(m|c)?tsx?$/, "") + ".bpf.o";
}

/** Compiles `file` and writes `out`; returns the exit code (0 written, 1 diagnostics or an unwritable output). */
async function buildOnce(file: string, out: string, options: Map<string, string | true>, io: CliIO): Promise<number> {
  const result = await compileForCli(file, options, io);
  if (!result.object) return 1;
  // 130: what a shell reports for a command ended by SIGINT (nobody is left to read it).
  if (io.stillWanted && !(await io.stillWanted())) return 130;
  try {
    writeFileSync(out, result.object);
  } catch (err) {
    io.stderr(`tsbpf build: cannot write '${out}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
    return 1;
  }
  const summary = result.programs.map((p) => `${p.name} (${p.insnCount} insns)`).join(", ");
  io.stdout(`wrote ${out}: ${summary}; maps: ${result.maps.map((m) => m.name).join(", ") || "none"}\n`);
  return 0;
}

/**
 * Entry point of `tsbpf build`. With `--watch` it returns only when `signal` aborts (the CLI aborts on SIGINT and
 * SIGTERM); `events` reports each build (tests).
 */
export async function run(args: string[], io: CliIO = processIO, signal?: AbortSignal, events?: WatchEvents): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    io.stdout(HELP);
    return 0;
  }
  const { positionals, options } = parseArgs(args, ["-o", "--output", TARGET_OPTION], [...DUMP_FLAGS, "--watch", "-w"]);
  const file = oneSource(positionals, "build");
  const out = (options.get("-o") ?? options.get("--output") ?? defaultOutput(file)) as string;
  if (!options.has("--watch") && !options.has("-w")) return buildOnce(file, out, options, io);
  const { watchBuild } = await import("./watch.ts");
  let stop = signal;
  if (!stop) {
    const controller = new AbortController();
    for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => controller.abort());
    stop = controller.signal;
  }
  return watchBuild(file, async () => (await buildOnce(file, out, options, io)) === 0, io, stop, events);
}
