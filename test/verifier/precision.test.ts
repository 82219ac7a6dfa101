/**
 * Precision tracking (compiler/verifier/precision.ts) against the live kernel: the issue-10 loop (128 iterations, a
 * struct-key map lookup, a conditional counter) compiles, passes our verifier and loads into the kernel; bytecode
 * loops that load only because a conditional counter stays imprecise; a counter tested after its loop is still tracked
 * exactly (the bad path is found, as the kernel finds it); and a rejection for size names its real cause.
 * Processed counts are printed next to the kernel's own. Kernel comparisons verify for the running kernel as target.
 */
import { describe, expect, test } from "vitest";
import { compile } from "../../compiler/index.ts";
import { readObject } from "../../compiler/elf/reader.ts";
import { verifyProgram } from "../../compiler/verifier/index.ts";
import { ASM_CASES, MAPS } from "../fixtures/verifier/asm-cases.ts";
import { describeKernel } from "../support/kernel.ts";
import { asmProgram, hostTarget, kernelVerdict, objectOf } from "./kernel-harness.ts";

/** The loop of issue 10, as a user writes it; `tail` is what the handler does with the counter afterwards. */
const loopHandler = (tail: string): string => `
import { type SkLookup, type Verdict, SK_PASS, SK_DROP, HashMap, ArrayMap, type u32 } from "tsbpf";

interface Key { protocol: u32; port: u32 }

export const allowed = new HashMap<Key, u32>({ maxEntries: 256 });
export const stats = new ArrayMap<u32>({ maxEntries: 1 });

export function scan(ctx: SkLookup): Verdict {
  let hits = 0;
  for (let i = 0; i < 128; i++) {
    const v = allowed.lookup({ protocol: ctx.protocol, port: ctx.localPort + i });
    if (v !== null) hits++;
  }
${tail}
}
`;

/** The counter is only stored: no decision depends on it. */
const STORED = loopHandler("  stats.update(0, hits);\n  return SK_PASS;");
/** The counter decides the verdict: every combination of lookup outcomes is a different path (kernel: too large). */
const TESTED = loopHandler("  return hits > 0 ? SK_PASS : SK_DROP;");

const PRECISION_CASES = ["imprecise_counter_in_loop", "imprecise_spilled_counter_in_loop", "imprecise_counter_stored_in_map"];

describeKernel("precision tracking: verdicts and processed counts next to the kernel's", () => {
  test("the issue-10 loop compiles, passes our verifier and loads into the kernel", { timeout: 60_000 }, () => {
    const target = hostTarget();
    const r = compile({ fileName: "issue10-loop.ts", source: STORED }, { target });
    expect(r.diagnostics.map((d) => d.message)).toEqual([]);
    const obj = readObject(r.object!);
    const prog = obj.programs.find((p) => p.name === "scan")!;
    const ours = verifyProgram(prog, obj.maps, { license: obj.license, btf: obj.btf, target });
    const kernel = kernelVerdict(obj, "scan");
    console.log(`issue-10 loop: processed ours ${ours.insnsProcessed}, kernel ${kernel.processed}`);
    expect({ ours: ours.ok, kernel: kernel.ok }).toEqual({ ours: true, kernel: true });
    // Before precision tracking this hit the 1,000,000 limit; now it is close to the kernel's own count.
    expect(ours.insnsProcessed).toBeLessThanOrEqual(1.5 * kernel.processed!);
    // Comparing every scalar exactly (no precision tracking) cannot merge the paths of the conditional counter.
    const exact = verifyProgram(prog, obj.maps, { license: obj.license, btf: obj.btf, target, precision: false, maxInsns: 100_000 });
    expect(exact.error?.message).toBe("BPF program is too large. Processed 100001 insn");
  });

  test.each(PRECISION_CASES)("%s: loads thanks to an imprecise counter, as in the kernel", (name) => {
    const c = ASM_CASES.find((x) => x.name === name)!;
    const prog = asmProgram(c.name, c.insns);
    const maps = (c.maps ?? []).map((m) => MAPS[m]!);
    const kernel = kernelVerdict(objectOf(prog, maps), c.name);
    const ours = verifyProgram(prog, maps, { target: hostTarget() });
    console.log(`${name}: processed ours ${ours.insnsProcessed}, kernel ${kernel.processed}`);
    expect({ ours: ours.ok, kernel: kernel.ok }).toEqual({ ours: true, kernel: true });
    expect(ours.insnsProcessed).toBeLessThanOrEqual(1.5 * kernel.processed!);
    const exact = verifyProgram(prog, maps, { target: hostTarget(), precision: false, maxInsns: 100_000 });
    expect(exact.error?.message).toBe("BPF program is too large. Processed 100001 insn");
  });

  test("a counter tested after its loop stays precise: the one bad combination is found, as the kernel finds it", { timeout: 60_000 }, () => {
    const c = ASM_CASES.find((x) => x.name === "precise_counter_tested_after_loop")!;
    const prog = asmProgram(c.name, c.insns);
    const kernel = kernelVerdict(objectOf(prog, []), c.name);
    const ours = verifyProgram(prog, [], { target: hostTarget() });
    console.log(`${c.name}: processed ours ${ours.insnsProcessed}, kernel ${/processed (\d+) insns/.exec(kernel.log)?.[1]}`);
    expect(kernel.ok).toBe(false);
    expect(kernel.log).toContain("At program exit the register R0 has smin=2 smax=2");
    expect(ours.error?.message).toBe("At program exit the register R0 has smin=2 smax=2 should have been in [0, 1]");
  });

  test("too large: the kernel rejects the tested counter too, and our hint names why paths do not merge", { timeout: 120_000 }, () => {
    const target = hostTarget();
    const unverified = compile({ fileName: "issue10-tested.ts", source: TESTED }, { verify: false, target });
    const kernel = kernelVerdict(readObject(unverified.object!), "scan");
    expect(kernel.ok).toBe(false);
    expect(kernel.log).toContain("BPF program is too large");
    const r = compile({ fileName: "issue10-tested.ts", source: TESTED }, { target });
    expect(r.diagnostics).toHaveLength(1);
    const d = r.diagnostics[0]!;
    expect(d.message).toContain("BPF program is too large. Processed 1000001 insn");
    const hint = d.notes?.find((n) => n.includes("paths reached")) ?? "";
    // The place is the loop body, the cause two values kept apart (the counter and the loop index), not a missing bound.
    expect(hint).toMatch(/^\d+ paths reached line 1[1-3] \(insn \d+\) and could not be merged: they differ in R\d and R\d, values that a later branch/);
    expect(hint).toContain("A value updated under a condition inside a loop and tested after it doubles the paths");
    expect(d.notes?.join("\n")).not.toContain("no bound");
  });
});

describe("complexity hints without the kernel", () => {
  test("a loop the verifier never sees end keeps the 'no bound' hint", () => {
    const c = ASM_CASES.find((x) => x.name === "unbounded_loop_counter")!;
    const r = verifyProgram(asmProgram(c.name, c.insns), [], { maxInsns: 20_000 });
    expect(r.error?.message).toBe("BPF program is too large. Processed 20001 insn");
    expect(r.error?.explain).toMatch(/^\d+ paths reached insn 2 in the same state without any of them reaching an exit: a loop has no bound the verifier can see/);
  });

  test("a counted loop longer than the budget names its counter", () => {
    const c = ASM_CASES.find((x) => x.name === "imprecise_counter_in_loop")!;
    const r = verifyProgram(asmProgram(c.name, c.insns), [], { maxInsns: 1_000 });
    expect(r.error?.message).toBe("BPF program is too large. Processed 1001 insn");
    expect(r.error?.explain).toMatch(/^a loop is walked one iteration at a time and did not end within the verifier's budget: at insn \d+ the states kept differ only in R2, its counter/);
  });
});
