/** (d) Verifier time per program: our verifier vs the kernel's, on the same object, with instructions processed. */
import { basename, join } from "node:path";
import { EXAMPLES } from "../examples.ts";
import { type Section, skippedSection } from "../report.ts";
import type * as KernelProvider from "../providers/kernel.ts";
import { type BenchOptions, type Providers, missing, noteObject, withTempObjectSync } from "./common.ts";

/** (d) Verifier time per program: our verifier on our object vs the kernel's verifier on the same object. */
export function verifierSection(p: Providers, objects: Map<string, Uint8Array | string>, o: BenchOptions): Section {
  const title = "(d) verifier time per program (µs) and instructions processed";
  if (missing(p.verifier) && missing(p.kernel)) return skippedSection(title, `no verifier (${p.verifier}) and no kernel (${p.kernel})`);
  const runs = o.quick ? 5 : 20;
  let logLevel1 = false;
  const rows: Section["rows"] = [];
  const notes: string[] = [];
  if (missing(p.verifier)) notes.push(`tsbpf verifier: ${p.verifier}`);
  if (missing(p.kernel)) notes.push(`kernel: ${p.kernel}`);
  for (const ex of EXAMPLES) {
    const obj = objects.get(ex.source)!;
    if (typeof obj === "string") noteObject(notes, ex, obj);
    const ours = typeof obj === "string" ? undefined : obj;
    let kOurs: Map<string, KernelProvider.VerifierStats> | undefined;
    let kClang: Map<string, KernelProvider.VerifierStats> | undefined;
    if (!missing(p.kernel)) {
      const k = p.kernel;
      try {
        kClang = k.kernelVerifierStats(join(o.root, ex.twinObject));
        if (ours) kOurs = withTempObjectSync(ours, basename(ex.source, ".ts"), (path) => k.kernelVerifierStats(path));
      } catch (err) {
        notes.push(`${ex.source} kernel: ${(err as Error).message.split("\n")[0]}`);
      }
    }
    for (const prog of ex.programs) {
      let us: number | string = "n/a";
      let processed: number | string = "n/a";
      if (ours && !missing(p.verifier)) {
        try {
          const r = p.verifier.verifyTime(ours, prog.name, runs);
          if (r.error) {
            // A rejection is not a verification time: say so in the cell, the reason in a note.
            notes.push(`${prog.name}: tsbpf verifier rejected the program: ${r.error}`);
            us = "rejected";
          } else {
            us = Math.round(r.ms * 1000);
            processed = r.processed ?? "n/a";
          }
        } catch (err) {
          notes.push(`${prog.name}: tsbpf verifier threw: ${(err as Error).message.split("\n")[0]}`);
          us = "error";
        }
      }
      const ko = kOurs?.get(prog.name);
      const kc = kClang?.get(prog.name);
      for (const k of [ko, kc]) if (k?.method === "log1") logLevel1 = true;
      rows.push([prog.name, us, processed, ko?.usec ?? "n/a", ko?.processed ?? "n/a", kc?.usec ?? "n/a", kc?.processed ?? "n/a"]);
    }
  }
  if (!missing(p.verifier)) notes.push(`tsbpf: median wall time of ${runs} verifications of the program, warm (in-process, after at least 250 ms and up to 500 runs of warm-up), for the running kernel as target`);
  if (!missing(p.kernel)) notes.push("kernel: 'verification time' (median of 5 loads) and 'processed N insns' of BPF_LOG_STATS, loading through our ELF reader and the kernel bridge");
  if (logLevel1) notes.push("  (some figures came from `bpftool -d prog loadall` because our reader failed: log level 1, so their time includes log formatting)");
  return {
    title,
    columns: ["program", "tsbpf µs", "tsbpf processed", "kernel µs (tsbpf)", "kernel processed (tsbpf)", "kernel µs (clang)", "kernel processed (clang)"],
    rows,
    notes,
  };
}
