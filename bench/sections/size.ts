/** (a) Code size: instructions per example program, ours vs clang -O2, plus the kernel's xlated and JIT sizes. */
import { basename, join } from "node:path";
import { EXAMPLES } from "../examples.ts";
import { instructionCounts, objdumpUnavailableReason } from "../objdump.ts";
import { type Section, ratio, skippedSection } from "../report.ts";
import { type BenchOptions, type Providers, missing, noteObject, withTempObjectSync } from "./common.ts";

/** (a) Instructions per program: ours vs clang -O2 on the C twin, counted as llvm-objdump-16 does. */
export function sizeSection(p: Providers, objects: Map<string, Uint8Array | string>, o: BenchOptions): Section {
  const title = "(a) code size: instructions per program (llvm-objdump-16 count, lddw = 1)";
  const noObjdump = objdumpUnavailableReason();
  if (noObjdump) return skippedSection(title, noObjdump);
  const rows: Section["rows"] = [];
  const notes: string[] = [];
  let oursTotal = 0;
  let clangTotal = 0;
  let complete = true;
  // The kernel's view of the same programs, when it is here: xlated instructions and JIT bytes.
  type Sizes = Map<string, { xlated: number; jitedBytes: number }>;
  const kernelSizes = (path: string): Sizes | undefined => {
    if (missing(p.kernel)) return undefined;
    try {
      return p.kernel.programSizes(path);
    } catch (err) {
      notes.push(`kernel sizes of ${basename(path)}: ${(err as Error).message.split("\n")[0]}`);
      return undefined;
    }
  };
  if (missing(p.kernel)) notes.push(`kernel columns: ${p.kernel}`);
  for (const ex of EXAMPLES) {
    const clang = instructionCounts(join(o.root, ex.twinObject));
    const clangK = kernelSizes(join(o.root, ex.twinObject));
    const obj = objects.get(ex.source)!;
    const ours = typeof obj === "string" ? undefined : withTempObjectSync(obj, basename(ex.source, ".ts"), (path) => ({ counts: instructionCounts(path), k: kernelSizes(path) }));
    if (typeof obj === "string") noteObject(notes, ex, obj);
    for (const prog of ex.programs) {
      const a = ours?.counts.get(prog.name);
      const b = clang.get(prog.name);
      if (a === undefined || b === undefined) complete = false;
      else {
        oursTotal += a;
        clangTotal += b;
      }
      const ko = ours?.k?.get(prog.name);
      const kc = clangK?.get(prog.name);
      rows.push([basename(ex.source), prog.name, a ?? "n/a", b ?? "n/a", ratio(a, b), ko?.xlated ?? "n/a", kc?.xlated ?? "n/a", ko?.jitedBytes ?? "n/a", kc?.jitedBytes ?? "n/a"]);
    }
  }
  if (complete) rows.push(["total", "", oursTotal, clangTotal, ratio(oursTotal, clangTotal), "", "", "", ""]);
  notes.push("clang: clang-16 -O2 -g -target bpf on bench/c/*.c (committed objects)");
  notes.push("xlated: instructions after the kernel verifier's rewrites (inlined map lookups, ctx conversions); jited: x86-64 bytes (BPF_OBJ_GET_INFO_BY_FD)");
  return {
    title,
    columns: ["example", "program", "tsbpf", "clang -O2", "tsbpf/clang", "xlated tsbpf", "xlated clang", "jited B tsbpf", "jited B clang"],
    rows,
    notes,
  };
}

