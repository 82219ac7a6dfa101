/** (e) LPM trie scale (goal 5 of issue 12): VM vs kernel at 1k, 100k and 1M prefixes (see ../lpm-scale.ts). */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LPM_SOURCE, kernelScale, makePrefixes, vmScale, type ScaleFigures } from "../lpm-scale.ts";
import { type GoalRow, type Section, ratio, skippedSection } from "../report.ts";
import { type BenchOptions, type Providers, missing } from "./common.ts";

const mib = (bytes: number) => (Number.isFinite(bytes) ? Number((bytes / 2 ** 20).toFixed(2)) : "n/a");

/** (e) LPM trie scale. */
export async function lpmScaleSection(p: Providers, o: BenchOptions): Promise<Section> {
  const title = "(e) LPM trie scale: one lookup of the local address (fill ms, MiB, ns per run)";
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
  const vmNs = new Map<number, number>();
  const kNs = new Map<number, number>();
  for (const n of sizes) {
    const { keys, hitIp } = makePrefixes(n);
    let vm: ScaleFigures | string;
    let k: ScaleFigures | string;
    try {
      vm = vmScale(object, keys, hitIp, o.smoke ? 2000 : 200_000);
    } catch (err) {
      vm = (err as Error).message.split("\n")[0]!;
    }
    if (missing(p.kernel)) k = p.kernel;
    else {
      try {
        k = kernelScale(object, keys, hitIp, o.smoke ? 1000 : 100_000, o.smoke ? 1 : 5);
      } catch (err) {
        k = (err as Error).message.split("\n")[0]!;
      }
    }
    for (const [side, f] of [["VM", vm], ["kernel", k]] as const) {
      if (typeof f === "string") notes.push(`${n} prefixes, ${side}: ${f}`);
      else if (f.verdict !== "SK_PASS") notes.push(`${n} prefixes, ${side}: verdict ${f.verdict} on an address inside a stored prefix (expected SK_PASS)`);
    }
    const v = typeof vm === "string" ? undefined : vm;
    const kk = typeof k === "string" ? undefined : k;
    if (v) vmNs.set(n, v.nsPerRun);
    if (kk) kNs.set(n, kk.nsPerRun);
    rows.push([n, v?.fillMs ?? "n/a", kk?.fillMs ?? "n/a", v ? mib(v.bytes) : "n/a", kk ? mib(kk.bytes) : "n/a", v?.nsPerRun ?? "n/a", kk?.nsPerRun ?? "n/a", ratio(v?.nsPerRun, kk?.nsPerRun)]);
  }
  notes.push("prefixes: /8 to /32 IPv4 (under protocol 6, port 0: key {prefixLen, protocol, port, addr}), distinct, deterministic; the looked-up address lies in one of them");
  notes.push("VM: JIT ns per run (runtime/vm/bench.ts timeRuns); fill = map updates from JS and the first lookup (which builds the lookup index); MiB = heap + array buffers grown by both, after a GC");
  notes.push("kernel: BPF_PROG_TEST_RUN mean over 100000 runs, median of 5; fill = one bpf(BPF_MAP_UPDATE_ELEM) per prefix; MiB = the map's memlock (fdinfo)");
  const goals: GoalRow[] = [];
  const big = sizes.at(-1)!;
  const small = sizes[0]!;
  const growth = (m: Map<number, number>) => (m.has(big) && m.has(small) ? `${(m.get(big)! / m.get(small)!).toFixed(2)}x from ${small} to ${big}` : "n/a");
  goals.push({ goal: `5. LPM lookup at ${big} prefixes`, ours: vmNs.has(big) ? `${vmNs.get(big)!.toFixed(1)} ns (VM JIT)` : "n/a", reference: kNs.has(big) ? `kernel ${kNs.get(big)!.toFixed(1)} ns` : "n/a", ratio: ratio(vmNs.get(big), kNs.get(big)), target: "<= 1.0x" });
  goals.push({ goal: "5. LPM lookup growth", ours: growth(vmNs), reference: `kernel ${growth(kNs)}`, ratio: "-", target: "logarithmic" });
  return { title, columns: ["prefixes", "VM fill ms", "kernel fill ms", "VM MiB", "kernel MiB", "VM JIT ns", "kernel ns", "VM/kernel"], rows, notes, goals };
}
