// The benchmark's own pieces: llvm-objdump counting (cross-checked against our ELF reader), table rendering, and a
// quick run of `scripts/bench.mjs` whose code-size table must list every example program with clang's counts.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { EXAMPLES } from "../../bench/examples.ts";
import { instructionCounts, objdumpUnavailableReason } from "../../bench/objdump.ts";
import { median, ratio, renderSection } from "../../bench/report.ts";
import { readObject } from "../../compiler/elf/reader.ts";
import { describeKernel } from "../support/kernel.ts";
import { loadCorpus, corpusPath } from "./manifest.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const noObjdump = objdumpUnavailableReason();
if (noObjdump) console.warn(`[skip] objdump counts: ${noObjdump}`);

/** Instructions of a linked program as llvm-objdump counts them: slots minus the second halves of lddw. */
const countLinked = (insns: { opcode: number }[]) => insns.filter((_, i) => i === 0 || insns[i - 1]!.opcode !== 0x18).length;

describe.skipIf(noObjdump !== null)("instructionCounts (llvm-objdump-16)", () => {
  it("agrees with our ELF reader on every corpus and twin program without subprograms", () => {
    const corpusFiles = loadCorpus().objects.map((o) => corpusPath(o.file));
    const files = [...corpusFiles, ...EXAMPLES.map((e) => join(ROOT, e.twinObject))];
    let checked = 0;
    for (const file of files) {
      const counts = instructionCounts(file);
      for (const prog of readObject(new Uint8Array(readFileSync(file))).programs) {
        if (prog.funcInfo.length > 1) continue; // linked with .text subprograms: objdump counts each symbol apart
        expect(counts.get(prog.name), `${file} ${prog.name}`).toBe(countLinked(prog.insns));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(25);
  });

  it("counts lddw once and keeps clang's local labels inside their function", () => {
    const c = instructionCounts(corpusPath("features.o"));
    // trace_port builds its format with three 64-bit immediates (lddw): 18 instructions in 21 slots.
    expect(c.get("trace_port")).toBe(18);
    expect([...c.keys()].some((k) => k.startsWith("LBB"))).toBe(false);
    expect(c.get("call_local")).toBe(2);
  });
});

describe("report helpers", () => {
  it("computes medians and ratios", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(ratio(30, 24)).toBe("1.25x");
    expect(ratio(undefined, 24)).toBe("-");
  });

  it("renders a table with right-aligned numbers, and a skipped section as one line", () => {
    const text = renderSection({ title: "T", columns: ["name", "n"], rows: [["a", 5], ["bb", 123]], notes: ["note"] });
    expect(text.split("\n")).toEqual(["T", "  name    n", "  ----  ---", "  a       5", "  bb    123", "  note"]);
    expect(renderSection({ title: "T", columns: [], rows: [], notes: [], skipped: "why" })).toBe("T\n  skipped: why");
  });
});

/** One smoke run of the whole bench for the tests below (sections a and c), parsed from its --json output. */
let benchRun: { status: number | null; stderr: string; sections: Array<{ title: string; rows: unknown[][]; notes: string[] }> } | undefined;
function runBench() {
  if (!benchRun) {
    const r = spawnSync("node", [join(ROOT, "scripts/bench.mjs"), "--smoke", "--only=a,c", "--json"], { encoding: "utf8", cwd: ROOT });
    const at = r.stdout.indexOf("\n[");
    benchRun = { status: r.status, stderr: r.stderr, sections: at >= 0 ? JSON.parse(r.stdout.slice(at)) : [] };
  }
  return benchRun;
}

describe.skipIf(noObjdump !== null)("npm run bench", () => {
  it("prints the code-size table with clang's count for every example program", () => {
    const r = runBench();
    expect(r.status, r.stderr).toBe(0);
    const size = r.sections.find((s) => s.title.startsWith("(a)"))!;
    for (const ex of EXAMPLES) {
      const clang = instructionCounts(join(ROOT, ex.twinObject));
      for (const prog of ex.programs) {
        const row = size.rows.find((row) => row[1] === prog.name);
        expect(row, prog.name).toBeDefined();
        expect(row![3]).toBe(clang.get(prog.name));
        // Our compiler has landed: every example must compile and be counted.
        if (existsSync(join(ROOT, "compiler/index.ts"))) expect(typeof row![2], `${prog.name}: ${JSON.stringify(size)}`).toBe("number");
      }
    }
  });
});

describeKernel("npm run bench (run time)", () => {
  it("times every program on the kernel and in the VM, each behaving as the bench table says", () => {
    const r = runBench();
    expect(r.status, r.stderr).toBe(0);
    const run = r.sections.find((s) => s.title.startsWith("(c)"))!;
    // No object, ours or clang's, may select differently from what bench/examples.ts expects, in any tier.
    expect(run.notes.filter((n) => /behaves differently|error/.test(n))).toEqual([]);
    for (const ex of EXAMPLES) {
      for (const prog of ex.programs) {
        const clang = run.rows.find((row) => row[0] === prog.name && row[1] === "clang")!;
        expect(clang.slice(2).map((c) => typeof c), prog.name).toEqual(["number", "number", "number"]);
      }
    }
  });
});

describeKernel("npm run bench (LPM trie scale)", () => {
  it("times the three lookup patterns in the VM and the kernel over the same prefixes, each behaving as expected", () => {
    const r = spawnSync("node", [join(ROOT, "scripts/bench.mjs"), "--smoke", "--only=e", "--json"], { encoding: "utf8", cwd: ROOT });
    expect(r.status, r.stderr).toBe(0);
    const at = r.stdout.indexOf("\n[");
    const sections = JSON.parse(r.stdout.slice(at)) as Array<{ title: string; rows: unknown[][]; notes: string[] }>;
    const lpm = sections.find((s) => s.title.startsWith("(e)"))!;
    // A wrong verdict on the stored address, a chase that left its cycle or a failed side is a note naming the row.
    expect(lpm.notes.filter((n) => /^\d+ prefixes, /.test(n))).toEqual([]);
    expect(lpm.rows.map((row) => row[1])).toEqual(["same", "random", "chase"]);
    for (const row of lpm.rows) expect(row.slice(6, 8).map((c) => typeof c), String(row[1])).toEqual(["number", "number"]);
  });
});
