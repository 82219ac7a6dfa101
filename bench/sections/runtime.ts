/** (c) ns per run: the VM tiers vs BPF_PROG_TEST_RUN, for our object and clang's twin, same ctx and map contents. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { EXAMPLES } from "../examples.ts";
import { type Section, skippedSection } from "../report.ts";
import { type BenchOptions, type Providers, type VmResult, missing, noteObject, withTempObject } from "./common.ts";

/** (c) ns per run: VM tiers vs BPF_PROG_TEST_RUN on our object and on clang's twin, same ctx and map contents. */
export async function runtimeSection(p: Providers, objects: Map<string, Uint8Array | string>, o: BenchOptions): Promise<Section> {
  const title = "(c) ns per run on the example's hit path (VM interpreter / JIT vs kernel BPF_PROG_TEST_RUN)";
  if (missing(p.kernel) && missing(p.vm)) return skippedSection(title, `no VM (${p.vm}) and no kernel (${p.kernel})`);
  const repeat = o.smoke ? 1_000 : o.quick ? 20_000 : 200_000;
  const trials = o.smoke ? 1 : o.quick ? 3 : 5;
  const vmRuns = o.smoke ? 700 : o.quick ? 2_100 : 28_000;
  // The JIT runs a hit path in 15-200 ns: 28,000 runs were 100 µs batches, short enough for one hiccup to move a
  // median (one program per run read about twice its figure); ten times as many make 1 ms batches, like bench:vm's.
  const jitRuns = vmRuns * 10;
  const rows: Section["rows"] = [];
  const notes: string[] = [];
  if (missing(p.vm)) notes.push(`VM columns: ${p.vm}`);
  if (missing(p.kernel)) notes.push(`kernel columns: ${p.kernel}`);
  const attempt = async (fn: () => Promise<VmResult> | VmResult): Promise<VmResult | string> => {
    try {
      return await fn();
    } catch (err) {
      return (err as Error).message.split("\n")[0]!;
    }
  };
  for (const ex of EXAMPLES) {
    const obj = objects.get(ex.source)!;
    if (typeof obj === "string") noteObject(notes, ex, obj);
    const clangBytes = new Uint8Array(readFileSync(join(o.root, ex.twinObject)));
    for (const prog of ex.programs) {
      // One row for our object, one for clang's twin: same ctx, same map contents.
      for (const [label, bytes, path] of [
        ["tsbpf", typeof obj === "string" ? undefined : obj, undefined],
        ["clang", clangBytes, join(o.root, ex.twinObject)],
      ] as const) {
        const cell = (m: VmResult | string, what: string): number | string => {
          if (typeof m === "string") {
            notes.push(`${prog.name} (${label}) ${what}: ${m}`);
            return "error";
          }
          if (m.mismatch) notes.push(`${prog.name} (${label}) ${what}: behaves differently: ${m.mismatch}`);
          return m.nsPerRun;
        };
        if (!bytes) {
          rows.push([prog.name, label, "n/a", "n/a", "n/a"]);
          continue;
        }
        const vm = p.vm;
        const kernel = p.kernel;
        const interp = !missing(vm) ? cell(await attempt(() => vm.measureVm(bytes, prog, "interp", vmRuns)), "VM interpreter") : "n/a";
        const jit = !missing(vm) ? cell(await attempt(() => vm.measureVm(bytes, prog, "jit", jitRuns)), "VM JIT") : "n/a";
        const k = !missing(kernel)
          ? cell(
              await attempt(() =>
                path ? kernel.measure(path, prog, repeat, trials) : withTempObject(bytes, prog.name, (tmp) => kernel.measure(tmp, prog, repeat, trials)),
              ),
              "kernel",
            )
          : "n/a";
        rows.push([prog.name, label, interp, jit, k]);
      }
    }
  }
  if (!missing(p.kernel)) notes.push(`kernel: BPF_PROG_TEST_RUN mean over ${repeat} runs, median of ${trials} trials; objects loaded by libbpf (bpftool prog loadall)`);
  if (!missing(p.vm)) notes.push(`VM: process CPU time per run (test_run's clock also stops while it reschedules), median of 7 batches of ${Math.floor(jitRuns / 7)} JIT / ${Math.floor(vmRuns / 7)} interpreter runs after 20000 warm-up runs and 300 ms (runtime/vm/bench.ts); \`npm run bench:vm\` prints every corpus program and the kernel's empty-program floor measured in the same run`);
  return { title, columns: ["program", "object", "VM interp", "VM JIT", "kernel test_run"], rows, notes };
}

