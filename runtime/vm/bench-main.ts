/**
 * `npm run bench:vm`: warm ns/run of every clang corpus program (its first case) and of every example program (its
 * bench/examples.ts hit path, our object and clang's twin) on both VM tiers, next to the kernel's BPF_PROG_TEST_RUN
 * ns/run of the same program on the same ctx and map contents, measured in the same process, and the ratio JIT/kernel.
 * The kernel's empty-program floor (corpus `pass` and `drop`) is printed under the table. The same command before and
 * after a change is the JIT's yardstick. Flags: `--runs=N` (timed JIT runs per program, default 200000),
 * `--repeat=N` (kernel runs per trial, default 200000), `--trials=N` (kernel trials, median; default 5),
 * `--only=a,b` (program names), `--no-examples` (skip compiling the examples), `--no-kernel`.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { EXAMPLES } from "../../bench/examples.ts";
import { compile } from "../../compiler/index.ts";
import { BATCHES, WARMUP_RUNS, benchVm, corpusCases, measureVm } from "./bench.ts";

// npm runs scripts from the package root; the bundle lives elsewhere, so its own path says nothing.
const root = process.cwd();
const corpusDir = join(root, "test/fixtures/c");
const args = process.argv.slice(2);
const flag = (name: string): string | undefined => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const runs = Number(flag("runs") ?? 200_000);
const repeat = Number(flag("repeat") ?? 200_000);
const trials = Number(flag("trials") ?? 5);
const only = flag("only")?.split(",");
const want = (name: string): boolean => !only || only.includes(name);

/** The kernel side, or why it is missing (loaded lazily: the native bridge is optional). */
async function kernelSide() {
  if (args.includes("--no-kernel")) return "--no-kernel";
  try {
    const provider = await import("../../bench/providers/kernel.ts");
    const why = provider.unavailable();
    if (why) return why;
    const corpus = await import("../../bench/corpus-kernel.ts");
    const common = await import("../../bench/sections/common.ts");
    return { ...provider, ...corpus, withTempObject: common.withTempObject };
  } catch (err) {
    return `kernel bridge fails to load (${String((err as Error).message ?? err).split("\n")[0]})`;
  }
}
const kernel = await kernelSide();

const fmt = (ns: number): string => (!Number.isFinite(ns) ? "-" : ns >= 100 ? ns.toFixed(0) : ns.toFixed(1));
const notes: string[] = [];
const rows: string[] = [];
const ratios: Array<[string, number]> = [];
/** Runs `fn` for the kernel column: NaN (and a note) when it throws or the kernel is missing. */
async function kernelNs(label: string, fn: (k: Exclude<typeof kernel, string>) => Promise<{ nsPerRun: number; mismatch: string }>): Promise<number> {
  if (typeof kernel === "string") return NaN;
  try {
    const r = await fn(kernel);
    if (r.mismatch) notes.push(`${label} (kernel): behaves differently: ${r.mismatch}`);
    return r.nsPerRun;
  } catch (err) {
    notes.push(`${label} (kernel): ${String((err as Error).message ?? err).split("\n")[0]}`);
    return NaN;
  }
}
function row(label: string, insns: number | string, interp: number, jit: number, k: number, extra = ""): void {
  const ratio = jit / k;
  if (Number.isFinite(ratio)) ratios.push([label, ratio]);
  rows.push(`| ${label} | ${insns} | ${fmt(interp)} | ${fmt(jit)}${extra} | ${fmt(k)} | ${Number.isFinite(ratio) ? ratio.toFixed(2) : "-"} |`);
}

const cases = corpusCases(corpusDir);
const floor = new Map<string, number>();
for (const c of cases.filter((x) => want(x.program) || x.program === "pass" || x.program === "drop")) {
  const [r] = benchVm([c], runs);
  const k = await kernelNs(`corpus ${c.program}`, (kk) => kk.measureCorpusCase(corpusDir, c.program, c.name, repeat, trials));
  if (c.program === "pass" || c.program === "drop") floor.set(c.program, k);
  if (!want(c.program)) continue;
  if (!r) {
    rows.push(`| corpus ${c.program} | - | does not load | | ${fmt(k)} | - |`);
    continue;
  }
  row(`corpus ${r.program}`, r.insns, r.interpNs, r.jitNs, k);
}
if (!args.includes("--no-examples")) {
  for (const ex of EXAMPLES) {
    const progs = ex.programs.filter((p) => want(p.name));
    if (!progs.length) continue;
    const out = compile({ fileName: join(root, ex.source) });
    const twinPath = join(root, ex.twinObject);
    const twin = new Uint8Array(readFileSync(twinPath));
    for (const p of progs) {
      for (const [who, bytes] of [["tsbpf", out.object], ["clang", twin]] as const) {
        const label = `example ${p.name} (${who})`;
        if (!bytes) {
          rows.push(`| ${label} | - | does not compile | | | |`);
          continue;
        }
        const interp = measureVm(bytes, p, "interp", Math.max(100, runs / 10), WARMUP_RUNS / 10);
        const jit = measureVm(bytes, p, "jit", runs);
        const bad = interp.mismatch || jit.mismatch;
        const k = await kernelNs(label, (kk) =>
          who === "clang" ? kk.measure(twinPath, p, repeat, trials) : kk.withTempObject(bytes, p.name, (tmp) => kk.measure(tmp, p, repeat, trials)),
        );
        const insns = who === "tsbpf" ? (out.programs.find((x) => x.name === p.name)?.insnCount ?? "?") : "";
        row(label, insns, interp.nsPerRun, jit.nsPerRun, k, bad ? ` (${bad})` : "");
      }
    }
  }
}
console.log(`VM ns/run, warm (${WARMUP_RUNS} warm-up runs, median of ${BATCHES} batches, ${runs} JIT runs), node ${process.version}`);
console.log(
  typeof kernel === "string"
    ? `kernel column: n/a (${kernel})\n`
    : `kernel: BPF_PROG_TEST_RUN mean ns over ${repeat} runs, median of ${trials} trials, same process; JIT/kernel = ratio\n`,
);
console.log("| program | insns | interp ns | JIT ns | kernel ns | JIT/kernel |\n| --- | --- | --- | --- | --- | --- |");
console.log(rows.join("\n"));
if (typeof kernel !== "string") {
  console.log(`\nkernel empty-program floor (corpus pass / drop, this run): ${fmt(floor.get("pass") ?? NaN)} / ${fmt(floor.get("drop") ?? NaN)} ns`);
  const over = ratios.filter(([, r]) => r > 1);
  const worst = ratios.reduce<[string, number] | null>((w, x) => (!w || x[1] > w[1] ? x : w), null);
  console.log(`JIT ≤ kernel on ${ratios.length - over.length} of ${ratios.length} programs${worst ? `; worst ${worst[0]} ${worst[1].toFixed(2)}×` : ""}`);
}
if (notes.length) console.log(`\n${notes.map((n) => `- ${n}`).join("\n")}`);
// Sockets and the kernel bridge may hold the event loop; the report is complete.
process.exit(0);
