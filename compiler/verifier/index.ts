/**
 * tsbpf's own verifier for BPF_PROG_TYPE_SK_LOOKUP programs: structural checks (cfg.ts), then abstract interpretation
 * of every path (interp.ts) over register types and scalar ranges (state.ts, scalar.ts, tnum.ts), memory rules
 * (memory.ts), pointer arithmetic (alu.ts) and helper prototypes with reference tracking (helpers.ts). Messages follow
 * the kernel's wording; `explain` adds what they mean for a tsbpf program.
 */
import type { MapDef } from "../abi/maps.ts";
import type { LineInfo, ObjProgram, ObjectFile } from "../elf/object.ts";
import { isCfgError } from "./cfg.ts";
import { programFacts } from "./program-facts.ts";
import { Env, type VerifyOptions } from "./env.ts";
import { explain } from "./explain.ts";
import { globalFunctions } from "./globals.ts";
import { explore, insnText } from "./interp.ts";
import { targetInsnError } from "./target.ts";
import {
  type KernelTarget,
  type KernelVersion,
  FEATURE_ROWS,
  HELPER_ROWS,
  KNOWN_VERSIONS,
  MAX_HELPER_ID_ROWS,
  compareVersions,
  describeTarget,
  formatVersion,
  resolveTarget,
  targetForVersion,
} from "../target/index.ts";

/** TS-terms explanation of a verifier message (explain.ts). */
export { explain } from "./explain.ts";
/** Options of verifyProgram/verifyObject (env.ts). */
export type { VerifyOptions } from "./env.ts";
/** Helper ids sk_lookup may call on the target kernel, and the subset tsbpf models (helpers.ts). */
export { SK_LOOKUP_HELPERS, MODELLED_HELPERS } from "./helpers.ts";
/** Per-program timing for `npm run bench` (bench.ts). */
export { benchVerify, benchVerifyObjects, formatBench, type VerifyBenchRow } from "./bench.ts";
import { benchVerify } from "./bench.ts";

/** Why a program was rejected. */
export interface VerifyError {
  /** Slot of the offending instruction. */
  pc: number;
  /** The instruction, llvm-objdump style. */
  insn: string;
  /** Kernel-style message (e.g. `R2 type=map_value_or_null expected=sock`). */
  message: string;
  /** Register and stack state at `pc`, human-readable. */
  state: string;
  /** Source line covering `pc`, from the program's BTF line info. */
  line?: LineInfo;
  /** What the message means in TypeScript terms. */
  explain?: string;
}

/** The verdict on one program. */
export interface VerifyResult {
  ok: boolean;
  /** The kernel the verdict is for: "Linux 5.10", or "the running kernel (Linux 6.18.44-...)" for `host`. */
  target: string;
  /**
   * For a rejection: the oldest release (newer than the target) whose verifier would accept the program, e.g. "6.14";
   * absent when even the newest release tsbpf knows rejects it.
   */
  loadsFrom?: string;
  /** Instructions processed over all explored paths (comparable to the kernel's `processed N insns`). */
  insnsProcessed: number;
  error?: VerifyError;
}

/** The line-info entry covering `pc` (the last one at or before it). */
export function lineFor(lines: readonly LineInfo[], pc: number): LineInfo | undefined {
  let best: LineInfo | undefined;
  for (const l of lines) if (l.slot <= pc && (!best || l.slot >= best.slot)) best = l;
  return best;
}

/**
 * Verifies one linked program against the object's maps, for `opts.target` (default Linux 5.10). A rejection also
 * says from which newer release the program would load, when one would.
 */
export function verifyProgram(prog: ObjProgram, maps: MapDef[], opts: VerifyOptions = {}): VerifyResult {
  const target = opts.target ?? resolveTarget();
  const { result: r, limited } = verifyFor(prog, maps, { ...opts, target });
  if (r.ok || !limited) return r;
  const from = loadsFrom(prog, maps, { ...opts, target });
  return from ? { ...r, loadsFrom: formatVersion(from) } : r;
}

/** Releases where some row of the table changes, plus the named ones: the candidates for "would load from". */
function candidateVersions(): KernelVersion[] {
  const all = [...KNOWN_VERSIONS, ...Object.values(FEATURE_ROWS).map((r) => r.since), ...HELPER_ROWS.map((r) => r.since), ...MAX_HELPER_ID_ROWS.map((r) => r.since)];
  const uniq = new Map(all.map((v) => [formatVersion(v), v] as const));
  return [...uniq.values()].sort(compareVersions);
}

/** The oldest release newer than the target that accepts the program (features only grow: the first accept wins). */
function loadsFrom(prog: ObjProgram, maps: MapDef[], opts: VerifyOptions & { target: KernelTarget }): KernelVersion | undefined {
  const newer = candidateVersions().filter((v) => compareVersions(v, opts.target.version) > 0);
  const accepts = (v: KernelVersion): boolean => verifyFor(prog, maps, { ...opts, target: targetForVersion(v) }).result.ok;
  if (newer.length === 0 || !accepts(newer[newer.length - 1]!)) return undefined;
  return newer.find(accepts);
}

/** The verdict for one target, and whether a missing feature of the target took part in a rejection. */
function verifyFor(prog: ObjProgram, maps: MapDef[], opts: VerifyOptions & { target: KernelTarget }): { result: VerifyResult; limited: boolean } {
  const target = describeTarget(opts.target);
  const fail = (pc: number, message: string, state: string, processed: number, cause?: { pc: number; text: string }): VerifyResult => ({
    ok: false,
    target,
    insnsProcessed: processed,
    error: { pc, insn: insnText(prog.insns, pc), message, state, line: lineFor(prog.lineInfo, pc), explain: cause ? causeText(cause) : explain(message) },
  });
  /** A complexity diagnosis with its place named by source line when line info has it. */
  const causeText = (c: { pc: number; text: string }): string => {
    const l = lineFor(prog.lineInfo, c.pc);
    return c.text.replace("{at}", l ? `line ${l.line} (insn ${c.pc})` : `insn ${c.pc}`);
  };
  const facts = programFacts(prog.insns);
  const cfg = facts.cfg;
  if (isCfgError(cfg)) return { result: fail(cfg.pc, cfg.message, "", 0), limited: false };
  const unknown = targetInsnError(prog.insns, opts.target);
  if (unknown) return { result: fail(unknown.pc, unknown.message, "", 0), limited: true };
  const env = new Env(prog.insns, maps, prog.mapRelocs, opts);
  const done = (result: VerifyResult) => ({ result, limited: env.targetLimited });
  env.globals = globalFunctions(opts.btf, prog.funcInfo);
  let r;
  try {
    r = explore(env, cfg, facts.explore!);
    // Then every global function it calls, each on its own (the kernel's "global and assumed valid" functions).
    const done = new Set<number>();
    for (;;) {
      const next = [...env.globalsCalled].find((g) => !done.has(g));
      if (next === undefined || r.failure) break;
      done.add(next);
      const g = explore(env, cfg, facts.explore!, next);
      r = { processed: r.processed + g.processed, failure: g.failure };
    }
  } catch (err) {
    // A bug in the verifier itself must not crash the build, and must never let a program through.
    return done(fail(0, `tsbpf verifier internal error (please report): ${(err as Error)?.message ?? String(err)}`, "", 0));
  }
  if (r.failure) return done(fail(r.failure.pc, r.failure.message, r.failure.state, r.processed, r.failure.cause));
  return done({ ok: true, target, insnsProcessed: r.processed });
}

/** Verifies every program of an object (license taken from the object) for `opts.target` (default Linux 5.10). */
export function verifyObject(obj: ObjectFile, opts: VerifyOptions = {}): Map<string, VerifyResult> {
  const out = new Map<string, VerifyResult>();
  const target = opts.target ?? resolveTarget();
  for (const p of obj.programs) out.set(p.name, verifyProgram(p, obj.maps, { license: obj.license || "GPL", btf: obj.btf, ...opts, target }));
  return out;
}

/** Same as {@link benchVerify} (the name the bench provider used first). */
export const verifyTime = benchVerify;
