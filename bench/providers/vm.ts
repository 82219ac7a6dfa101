/**
 * Bench provider: the embedded VM (runtime/vm). Loads an object, fills its maps as the bench table says, checks one
 * run against the expected behaviour, then times `runs` runs of the chosen tier on pre-built ctx bytes (the same hot
 * path a netns lookup uses), after a warm-up that also lets the JIT compile.
 */
import { performance } from "node:perf_hooks";
import type { BenchProgram } from "../examples.ts";
import { buildCtx } from "../../runtime/vm/ctx.ts";
import { VmObject } from "../../runtime/vm/object.ts";
import { parseIp4 } from "../../runtime/kernel/ctx.ts";

/** ns per run of `prog` in `tier`, and what differed from the expected behaviour (empty when nothing). */
export function measureVm(objectBytes: Uint8Array, prog: BenchProgram, tier: "interp" | "jit", runs: number): { nsPerRun: number; mismatch: string } {
  const obj = VmObject.fromBytes(objectBytes);
  const names: string[] = [];
  for (const fill of prog.fills) {
    const map = obj.map(fill.map);
    if (fill.kind === "socket") {
      const name = `S${names.length}`;
      names.push(name);
      map.set(fill.key, { name, ...fill.socket, state: "listen", ip: fill.socket.family === "inet6" ? "::" : "127.0.0.1", port: 40000 + names.length });
    } else {
      // Raw key bytes: {prefixLen u32 host order, protocol be16, port be16, addr be32}, whatever the BTF field names.
      const key = new Uint8Array(12);
      const view = new DataView(key.buffer);
      view.setUint32(0, fill.prefixLen, true);
      view.setUint16(4, fill.protocol, false);
      view.setUint16(6, fill.port, false);
      key.set(parseIp4(fill.addr), 8);
      map.set(key, fill.value);
    }
  }
  const program = obj.program(prog.name);
  const problems: string[] = [];
  const once = program.run(prog.ctx, { tier });
  if (once.verdict !== prog.verdict) problems.push(`verdict ${once.verdict}, expected ${prog.verdict}`);
  const selected = once.selected !== null && names.includes(once.selected.name ?? "");
  if (selected !== prog.selects) problems.push(prog.selects ? "no socket selected" : "a socket was selected");
  if (once.leakedRefs.length) problems.push(`leaked references: ${once.leakedRefs.join(", ")}`);
  const ctx = buildCtx(prog.ctx);
  // Warm-up as long as one measured batch, then the best of 7 batches: V8 tiers up the interpreter and the
  // JIT-generated function during the first thousands of runs, and on a shared machine noise (GC, other processes)
  // only ever adds time, so the fastest batch is the steadiest figure.
  const batch = Math.max(100, Math.floor(runs / 7));
  for (let i = 0; i < batch; i++) program.runCtx(ctx, { tier });
  const perRun: number[] = [];
  for (let b = 0; b < 7; b++) {
    const t0 = performance.now();
    for (let i = 0; i < batch; i++) program.runCtx(ctx, { tier });
    perRun.push(((performance.now() - t0) * 1e6) / batch);
  }
  return { nsPerRun: Math.round(Math.min(...perRun)), mismatch: problems.join("; ") };
}
