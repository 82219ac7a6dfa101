/**
 * Bench provider: the live kernel. Loads an object with libbpf (bpftool, see ../pinned.ts), fills its maps the way a
 * {@link BenchProgram} says, checks that the run behaves as expected and times BPF_PROG_TEST_RUN (the kernel's own
 * mean ns per run over `repeat` runs; the median over `trials`).
 */
import { spawnSync } from "node:child_process";
import { loadPinned } from "../pinned.ts";
import { type LiveSocket, makeSocket } from "../sockets.ts";
import type { BenchProgram } from "../examples.ts";
import { benchTestRun, median } from "../../runtime/kernel/bench.ts";
import { kernelBridgeUnavailableReason, openKernel } from "../../runtime/kernel/open.ts";
import { parseIp4 } from "../../runtime/kernel/ctx.ts";
import { readFileSync } from "node:fs";
import { readObject } from "../../compiler/elf/reader.ts";

/** Why the kernel cannot be used (bpftool missing, bridge unavailable), or null. */
export function unavailable(): string | null {
  const r = spawnSync("bpftool", ["version"], { encoding: "utf8" });
  if (r.error || r.status !== 0) return "bpftool is not installed (apt-get install bpftool)";
  return kernelBridgeUnavailableReason();
}

/** One measured program. */
export interface KernelMeasure {
  nsPerRun: number;
  /** Empty when the run did what the bench table says; otherwise what differed. */
  mismatch: string;
}

/** Fills maps, checks one run, then times `trials` × `repeat` runs of `prog` from the object at `objectPath`. */
export async function measure(objectPath: string, prog: BenchProgram, repeat: number, trials: number): Promise<KernelMeasure> {
  const kernel = openKernel();
  const obj = loadPinned(kernel.bpf, objectPath);
  const sockets: LiveSocket[] = [];
  try {
    const cookies: bigint[] = [];
    for (const fill of prog.fills) {
      const map = obj.maps.get(fill.map);
      if (!map) throw new Error(`${objectPath} has no map ${fill.map} (maps: ${[...obj.maps.keys()].join(", ")})`);
      if (fill.kind === "socket") {
        const s = await makeSocket({ ...fill.socket, ip: fill.socket.family === "inet6" ? "::" : "127.0.0.1" });
        sockets.push(s);
        cookies.push(map.setSocket(fill.key, s.handle));
      } else if (fill.kind === "bytes") {
        map.update(Uint8Array.from(Buffer.from(fill.key, "hex")), Uint8Array.from(Buffer.from(fill.value, "hex")));
      } else {
        const key = new Uint8Array(map.def.keySize);
        const view = new DataView(key.buffer);
        view.setUint32(0, fill.prefixLen, true);
        view.setUint16(4, fill.protocol, false);
        view.setUint16(6, fill.port, false);
        key.set(parseIp4(fill.addr), 8);
        map.update(key, fill.value);
      }
    }
    const program = obj.programs.get(prog.name.slice(0, 15));
    if (!program) throw new Error(`${objectPath} has no program ${prog.name}`);
    const r = benchTestRun(program, prog.ctx, { repeat, trials });
    const problems: string[] = [];
    if (r.verdict !== prog.verdict) problems.push(`verdict ${r.verdict}, expected ${prog.verdict}`);
    if (prog.selects !== cookies.includes(r.cookie)) problems.push(prog.selects ? "no socket selected" : "a socket was selected");
    return { nsPerRun: r.nsPerRun, mismatch: problems.join("; ") };
  } finally {
    obj.close();
    for (const s of sockets) s.close();
  }
}

/** What the kernel made of each program of an object (loaded by libbpf): instructions after the verifier's rewrites and JIT size. */
export function programSizes(objectPath: string): Map<string, { xlated: number; jitedBytes: number }> {
  const obj = loadPinned(openKernel().bpf, objectPath);
  try {
    return new Map([...obj.programs].map(([name, p]) => {
      const info = p.info();
      return [name, { xlated: info.xlatedInsns, jitedBytes: info.jitedBytes }];
    }));
  } finally {
    obj.close();
  }
}

/** Kernel verifier figures of one program. */
export interface VerifierStats {
  usec: number;
  processed: number;
  /** "stats": loaded by the bridge with log level 4 only; "log1": from `bpftool -d` (level 1 + 4, time inflated). */
  method: "stats" | "log1";
}

/**
 * Per program of the object: the kernel verifier's time (µs) and processed instruction count. Loads through our ELF
 * reader and the bridge with BPF_LOG_STATS only (no per-instruction log, so the time is the verifier's own); falls
 * back to parsing `bpftool -d prog loadall` when our reader cannot read the object.
 */
export function kernelVerifierStats(objectPath: string, loads = 5): Map<string, VerifierStats> {
  // One load's time is a single sample (a stray 2 ms happens on a busy machine): load several times, keep medians.
  const samples: Array<Map<string, VerifierStats>> = [];
  for (let i = 0; i < loads; i++) samples.push(kernelVerifierStatsOnce(objectPath));
  const out = new Map<string, VerifierStats>();
  for (const [name, first] of samples[0]!) {
    const times = samples.map((s) => s.get(name)?.usec).filter((t): t is number => t !== undefined);
    out.set(name, { ...first, usec: median(times) });
  }
  return out;
}

function kernelVerifierStatsOnce(objectPath: string): Map<string, VerifierStats> {
  try {
    const loaded = openKernel().load(readObject(new Uint8Array(readFileSync(objectPath))), { logLevel: 4 });
    try {
      const out = new Map<string, VerifierStats>();
      for (const [name, prog] of loaded.programs) {
        const time = /verification time (\d+) usec/.exec(prog.log);
        const processed = /processed (\d+) insns/.exec(prog.log);
        if (time && processed) out.set(name, { usec: Number(time[1]), processed: Number(processed[1]), method: "stats" });
      }
      if (out.size === loaded.programs.size) return out;
    } finally {
      loaded.close();
    }
  } catch {
    // fall through to libbpf's own loader
  }
  return bpftoolVerifierStats(objectPath);
}

function bpftoolVerifierStats(objectPath: string): Map<string, VerifierStats> {
  const pin = `/sys/fs/bpf/tsbpf-bench-verify-${process.pid}`;
  try {
    const r = spawnSync("bpftool", ["-d", "prog", "loadall", objectPath, pin], { encoding: "utf8", maxBuffer: 256 << 20 });
    if (r.status !== 0) throw new Error(`bpftool prog loadall ${objectPath} failed:\n${r.stderr.slice(-2000)}`);
    const stats = new Map<string, VerifierStats>();
    let prog: string | undefined;
    for (const line of r.stderr.split("\n")) {
      const begin = /^libbpf: prog '([^']+)': -- BEGIN PROG LOAD LOG --/.exec(line);
      if (begin) prog = begin[1];
      const time = /^verification time (\d+) usec/.exec(line);
      if (time && prog) stats.set(prog, { usec: Number(time[1]), processed: 0, method: "log1" });
      const processed = /^processed (\d+) insns/.exec(line);
      if (processed && prog && stats.has(prog)) stats.get(prog)!.processed = Number(processed[1]);
    }
    return stats;
  } finally {
    spawnSync("rm", ["-rf", pin]);
  }
}
