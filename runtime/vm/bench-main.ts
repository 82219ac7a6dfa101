/**
 * `npm run bench:vm`: warm ns/run of every clang corpus program (its first case) and of every example program (its
 * bench/examples.ts hit path, compiled by tsbpf) on both VM tiers, as a Markdown table. The same command before and
 * after a change is the JIT's yardstick. Flags: `--runs=N` (timed JIT runs per program, default 200000),
 * `--only=a,b` (program names), `--no-examples` (skip compiling the examples).
 */
import { join } from "node:path";
import { EXAMPLES } from "../../bench/examples.ts";
import { compile } from "../../compiler/index.ts";
import { BATCHES, WARMUP_RUNS, benchVm, corpusCases, measureVm } from "./bench.ts";

// npm runs scripts from the package root; the bundle lives elsewhere, so its own path says nothing.
const root = process.cwd();
const args = process.argv.slice(2);
const runs = Number(args.find((a) => a.startsWith("--runs="))?.slice(7) ?? 200_000);
const only = args.find((a) => a.startsWith("--only="))?.slice(7).split(",");
const want = (name: string): boolean => !only || only.includes(name);

const rows: string[] = [];
const fmt = (ns: number): string => (ns >= 100 ? ns.toFixed(0) : ns.toFixed(1));
const cases = corpusCases(join(root, "test/fixtures/c")).filter((c) => want(c.program));
for (const r of benchVm(cases, runs)) rows.push(`| corpus ${r.program} | ${r.insns} | ${fmt(r.interpNs)} | ${fmt(r.jitNs)} |`);
if (!args.includes("--no-examples")) {
  for (const ex of EXAMPLES) {
    const progs = ex.programs.filter((p) => want(p.name));
    if (!progs.length) continue;
    const out = compile({ fileName: join(root, ex.source) });
    if (!out.object) {
      rows.push(`| example ${ex.source} | - | does not compile | |`);
      continue;
    }
    for (const p of progs) {
      const interp = measureVm(out.object, p, "interp", Math.max(100, runs / 10), WARMUP_RUNS / 10);
      const jit = measureVm(out.object, p, "jit", runs);
      const bad = interp.mismatch || jit.mismatch;
      rows.push(`| example ${p.name} | ${out.programs.find((x) => x.name === p.name)?.insnCount ?? "?"} | ${fmt(interp.nsPerRun)} | ${fmt(jit.nsPerRun)}${bad ? ` (${bad})` : ""} |`);
    }
  }
}
console.log(`VM ns/run, warm (${WARMUP_RUNS} warm-up runs, median of ${BATCHES} batches, ${runs} JIT runs), node ${process.version}\n`);
console.log("| program | insns | interp ns | JIT ns |\n| --- | --- | --- | --- |");
console.log(rows.join("\n"));
