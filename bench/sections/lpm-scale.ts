/** (e) LPM trie scale (goal 5 of issue 12): VM vs kernel at 1k, 100k and 1M prefixes (see ../lpm-scale.ts). */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LPM_SOURCE, PATTERNS, kernelScale, makePrefixes, vmScale, type ScaleFigures } from "../lpm-scale.ts";
import { type GoalRow, type Section, ratio, skippedSection } from "../report.ts";
import { type BenchOptions, type Providers, missing } from "./common.ts";

const mib = (bytes: number) => (Number.isFinite(bytes) ? Number((bytes / 2 ** 20).toFixed(2)) : "n/a");

/** (e) LPM trie scale. */
export async function lpmScaleSection(p: Providers, o: BenchOptions): Promise<Section> {
  const title = "(e) LPM trie scale: one lookup per run, three address patterns (fill ms, MiB, ns per run)";
  if (missing(p.compile)) return skippedSection(title, p.compile);
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-bench-lpm-"));
  let object: Uint8Array;
  try {
    const file = join(dir, "lpm-scale.ts");
    writeFileSync(file, LPM_SOURCE);
    const r = await p.compile({ fileName: file });
    if (!r.object) return skippedSection(title, `the LPM program does not compile: ${JSON.stringify(r.diagnostics?.[0])}`);
    object = r.object;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const sizes = o.smoke ? [1000] : [1000, 100_000, 1_000_000];
  const rows: Section["rows"] = [];
  const notes: string[] = [];
  // ns per run by pattern, then by size.
  const vmNs = new Map<string, Map<number, number>>(PATTERNS.map((q) => [q.name, new Map()]));
  const kNs = new Map<string, Map<number, number>>(PATTERNS.map((q) => [q.name, new Map()]));
  for (const n of sizes) {
    const set = makePrefixes(n);
    let vm: ScaleFigures | string;
    let k: ScaleFigures | string;
    try {
      vm = vmScale(object, set, o.smoke ? 2000 : 200_000, o.smoke ? 0 : undefined);
    } catch (err) {
      vm = (err as Error).message.split("\n")[0]!;
    }
    if (missing(p.kernel)) k = p.kernel;
    else {
      try {
        k = kernelScale(object, set, o.smoke ? 1000 : 100_000, o.smoke ? 1 : 5);
      } catch (err) {
        k = (err as Error).message.split("\n")[0]!;
      }
    }
    for (const [side, f] of [["VM", vm], ["kernel", k]] as const) {
      if (typeof f === "string") notes.push(`${n} prefixes, ${side}: ${f}`);
      else for (const q of PATTERNS) if (f.patterns[q.name].problem) notes.push(`${n} prefixes, ${side}, ${q.name}: ${f.patterns[q.name].problem}`);
    }
    const v = typeof vm === "string" ? undefined : vm;
    const kk = typeof k === "string" ? undefined : k;
    PATTERNS.forEach((q, i) => {
      const vn = v?.patterns[q.name].nsPerRun;
      const kn = kk?.patterns[q.name].nsPerRun;
      if (vn !== undefined) vmNs.get(q.name)!.set(n, vn);
      if (kn !== undefined) kNs.get(q.name)!.set(n, kn);
      const fill = i === 0 ? [v?.fillMs ?? "n/a", kk?.fillMs ?? "n/a", v ? mib(v.bytes) : "n/a", kk ? mib(kk.bytes) : "n/a"] : ["", "", "", ""];
      rows.push([i === 0 ? n : "", q.name, ...fill, vn ?? "n/a", kn ?? "n/a", ratio(vn, kn)]);
    });
  }
  notes.push("prefixes: /8 to /32 IPv4 (under protocol 6, port 0: key {prefixLen, protocol, port, addr}), distinct, deterministic");
  notes.push("same: the local address (inside a stored prefix) every run; random: bpf_get_prandom_u32() (hits and misses);");
  notes.push("  chase: the value of the last match is the next address, along a cycle through up to 2^18 random stored prefixes");
  notes.push("  (VM: these programs never observe their value pointers' words, so the JIT reads each value in its record chunk, with");
  notes.push("  no Region object per value: runtime/maps/lpm.ts slabs; through a Region, chase took ~1.1-1.7x the kernel)");
  notes.push("VM: JIT ns per run (runtime/vm/bench.ts timeRuns, after 300 ms of warm-up per program); fill = map updates from JS and the first lookup; MiB = heap + array buffers grown by both, after a GC");
  notes.push("kernel: BPF_PROG_TEST_RUN mean over 100000 runs, median of 5; fill = one bpf(BPF_MAP_UPDATE_ELEM) per prefix; MiB = the map's memlock (fdinfo)");
  const goals: GoalRow[] = [];
  const big = sizes.at(-1)!;
  const small = sizes[0]!;
  const growth = (m: Map<number, number>) => (m.has(big) && m.has(small) ? `${(m.get(big)! / m.get(small)!).toFixed(2)}x from ${small} to ${big}` : "n/a");
  for (const q of PATTERNS) {
    const vq = vmNs.get(q.name)!;
    const kq = kNs.get(q.name)!;
    goals.push({ goal: `5. LPM lookup at ${big} prefixes, ${q.name}`, ours: vq.has(big) ? `${vq.get(big)!.toFixed(1)} ns (VM JIT)` : "n/a", reference: kq.has(big) ? `kernel ${kq.get(big)!.toFixed(1)} ns` : "n/a", ratio: ratio(vq.get(big), kq.get(big)), target: "<= 1.0x" });
  }
  goals.push({ goal: "5. LPM lookup growth, same", ours: growth(vmNs.get("same")!), reference: `kernel ${growth(kNs.get("same")!)}`, ratio: "-", target: "logarithmic" });
  return { title, columns: ["prefixes", "pattern", "VM fill ms", "kernel fill ms", "VM MiB", "kernel MiB", "VM JIT ns", "kernel ns", "VM/kernel"], rows, notes, goals };
}
