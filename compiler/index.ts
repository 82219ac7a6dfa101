/**
 * `compile()`: a TypeScript sk_lookup file → an ELF64 BPF object, or diagnostics. It reads as the list of passes:
 *
 *   1. parse + type-check (TypeScript's errors → TSBPF0001)         frontend/project.ts
 *   2. subset check (constructs outside the DSL)                       frontend/subset.ts
 *   3. lower to IR (programs, local functions, maps, license)          frontend/lower.ts
 *   4. socket-release insertion                                        ir/release.ts
 *   5. back end per program (inline, simplify, regalloc, isel)         backend/
 *      and per subprogram (large integer helpers called from several places)  ir/outline.ts
 *   6. ELF writer (BTF, .BTF.ext line info pointing at the TS source)  elf/writer.ts
 *   7. tsbpf's verifier on every program, as the kernel will load it   verifier/
 *     (rejections are mapped back to the TS line through line info)
 *
 * Every pass's output can be dumped (`dump: ["ir", "asm", ...]`). No exception escapes for a user mistake: problems
 * are diagnostics; a failure inside tsbpf itself becomes a TSBPF9001 diagnostic.
 */
import { InputError, MAX_SOURCE_BYTES, readBoundedText } from "./bounded-input.ts";
import type { MapDef } from "./abi/maps.ts";
import { isLddw, type Instruction } from "./asm/instruction.ts";
import { BackendError, codegenFeatures, generate, generateSubprogram } from "./backend/index.ts";
import { diag, type Diagnostic } from "./diagnostics/index.ts";
import { ObjectError, readObject, writeObject } from "./elf/index.ts";
import { verifyObject } from "./verifier/index.ts";
import { frontend } from "./frontend/index.ts";
import type { Module } from "./ir/ir.ts";
import { chooseOutlined, type OutlineMode } from "./ir/outline.ts";
import { printModule } from "./ir/print.ts";
import { insertSocketReleases } from "./ir/release.ts";
import { type KernelTarget, TargetError, resolveTarget } from "./target/index.ts";

/** Diagnostics and their text format, for callers that print them. */
export type { Diagnostic } from "./diagnostics/index.ts";
export { formatDiagnostic, formatDiagnostics, type DiagnosticSources } from "./diagnostics/index.ts";

/** Stages whose output can be dumped: IR after lowering, after release insertion, and the backend's stages. */
export type DumpStage = "ir" | "ir-release" | "ir-opt" | "regalloc" | "asm";

/** Options of {@link compile}. */
export interface CompileOptions {
  /** Stages to dump into `result.dumps` (program-level stages are prefixed with `; program NAME`). */
  dump?: DumpStage[];
  /** Stop after the IR (no backend, no object). */
  irOnly?: boolean;
  /** Run tsbpf's verifier on the object (default true); a rejection is a TSBPF3002 diagnostic and no object. */
  verify?: boolean;
  /**
   * The kernels the object must load on: "5.10" (default: the oldest LTS with sk_lookup), another release, "host"
   * (probe the running kernel) or a resolved target. Code generation uses nothing newer than the target has.
   */
  target?: string | KernelTarget;
  /**
   * "auto" (default): large integer-only local functions called from several places become BPF subprograms
   * (ir/outline.ts); "never": every local function is inlined.
   */
  outline?: OutlineMode;
}

/** What {@link compile} returns. */
export interface CompileResult {
  /** The ELF object, when there are no diagnostics. */
  object: Uint8Array | undefined;
  /** Programs with their instruction count (llvm-objdump count: a 16-byte lddw counts once). */
  programs: { name: string; insnCount: number }[];
  /** Local functions emitted as BPF subprograms (`.text`), with their instruction count. */
  subprograms?: { name: string; insnCount: number }[];
  maps: MapDef[];
  diagnostics: Diagnostic[];
  /** The IR after all IR passes, when lowering succeeded. */
  ir?: Module;
  /** Emitted instructions per program and per subprogram. */
  insns?: Map<string, Instruction[]>;
  /** Requested dumps, by stage. */
  dumps: Partial<Record<DumpStage, string>>;
  /** The source text (for code frames). */
  source?: string;
}

/** Input: a file on disk, or a file name with its text. */
export type CompileInput = { fileName: string; source?: string };

/** Compiles one DSL file. Never throws for bad input; see {@link CompileResult.diagnostics}. */
export function compile(input: CompileInput, opts: CompileOptions = {}): CompileResult {
  const { fileName } = input;
  const want = new Set(opts.dump ?? []);
  const dumps: CompileResult["dumps"] = {};
  const add = (stage: DumpStage, text: string) => {
    if (want.has(stage)) dumps[stage] = (dumps[stage] ?? "") + text;
  };
  const fail = (diagnostics: Diagnostic[], source?: string, ir?: Module): CompileResult => ({
    object: undefined, programs: [], maps: ir?.maps ?? [], diagnostics, dumps, ...(ir ? { ir } : {}), ...(source !== undefined ? { source } : {}),
  });

  let source = input.source;
  if (source === undefined) {
    try {
      source = readBoundedText(fileName, MAX_SOURCE_BYTES);
    } catch (err) {
      const why = err instanceof InputError ? err.code : ((err as NodeJS.ErrnoException).code ?? (err as Error).message);
      return fail([diag("FileNotFound", { file: fileName, line: 1, column: 1 }, `cannot read '${fileName}': ${why}${err instanceof InputError && err.code !== "ENOENT" ? ` (${err.message})` : ""}`)]);
    }
  }

  // 1-3. Front end.
  const fe = frontend(fileName, source);
  if (!fe.module) return fail(fe.diagnostics, source);
  const ir = fe.module;
  add("ir", printModule(ir));

  // 4. Socket references are released on every exit path.
  insertSocketReleases(ir);
  add("ir-release", printModule(ir));
  if (opts.irOnly) return { object: undefined, programs: [], maps: ir.maps, diagnostics: [], ir, dumps, source };

  // 5. Back end, one program at a time, with the instruction forms the target kernel accepts.
  let target: KernelTarget;
  try {
    target = resolveTarget(opts.target);
  } catch (err) {
    if (!(err instanceof TargetError)) return fail([internal(fileName, err)], source, ir);
    return fail([diag("BadTarget", { file: fileName, line: 1, column: 1 }, err.message)], source, ir);
  }
  const features = codegenFeatures(target);
  const outlined = chooseOutlined(ir, opts.outline);
  let insns: Map<string, Instruction[]>, diagnostics: Diagnostic[];
  try {
    ({ insns, diagnostics } = generateAll(ir, fileName, { features, outlined, dump: add }));
  } catch (err) {
    return fail([internal(fileName, err)], source, ir);
  }
  if (diagnostics.length) return fail(diagnostics, source, ir);
  const programNames = new Set(ir.functions.filter((f) => f.isProgram).map((f) => f.name));
  const programs = [...insns].filter(([name]) => programNames.has(name)).map(([name, list]) => ({ name, insnCount: countInsns(list) }));
  const subFns = ir.functions.filter((f) => !f.isProgram && insns.has(f.name));
  const subprograms = subFns.map((f) => ({ name: f.name, insnCount: countInsns(insns.get(f.name)!) }));

  // 6. The object file.
  let object: Uint8Array;
  try {
    object = writeObject({
      fileName, source, license: ir.license, maps: ir.maps,
      programs: programs.map(({ name }) => ({ name, insns: insns.get(name)! })),
      subprograms: subFns.map((f) => ({ name: f.name, insns: insns.get(f.name)!, params: f.params.map((_, i) => `arg${i + 1}`) })),
    });
  } catch (err) {
    if (!(err instanceof ObjectError)) return fail([internal(fileName, err)], source, ir);
    return fail([diag("Backend", { file: fileName, line: 1, column: 1 }, `cannot write the object: ${err.message}`)], source, ir);
  }
  // 7. Our verifier, on the object as a loader would read it.
  if (opts.verify !== false) {
    let rejected: Diagnostic[];
    try {
      rejected = verifierDiagnostics(fileName, object, insns, target);
    } catch (err) {
      return { ...fail([internal(fileName, err)], source, ir), programs, insns };
    }
    if (rejected.length) return { ...fail(rejected, source, ir), programs, insns };
  }
  return { object, programs, ...(subprograms.length ? { subprograms } : {}), maps: ir.maps, diagnostics: [], ir, insns, dumps, source };
}

/**
 * Runs the verifier for `target` on every program of `object` (compiled from `fileName` into `insns`); one diagnostic
 * per rejected program, at its TS line. A program that a newer release would accept says from which one (TSBPF3003):
 * compile() itself only meets that for a tsbpf bug, since code generation uses nothing newer than the target, but an
 * object built for a newer target and checked against an older one does.
 */
export function verifierDiagnostics(fileName: string, object: Uint8Array, insns: Map<string, Instruction[]>, target: KernelTarget): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const [name, r] of verifyObject(readObject(object), { target })) {
    if (r.ok || !r.error) continue;
    const e = r.error;
    // Line info has one record per line; the emitted instruction itself knows the exact expression.
    const exact = locAtSlot(insns.get(name) ?? [], e.pc);
    const at = exact ?? (e.line ? { file: e.line.file, line: e.line.line, column: Math.max(1, e.line.column) } : { file: fileName, line: 1, column: 1 });
    const notes = [`${e.pc}: ${e.insn}`, e.message, ...(e.explain ? [e.explain] : []), ...(e.state ? [`state: ${e.state}`] : [])];
    if (r.loadsFrom) {
      const suggestion = `Rewrite it so that the verifier of ${r.target} accepts it (see the notes), or build with --target-kernel ${r.loadsFrom} if every host runs Linux ${r.loadsFrom} or newer.`;
      out.push(diag("NewerKernel", at, `program '${name}' loads only from Linux ${r.loadsFrom}: the verifier of ${r.target} rejects it: ${e.message}`, { notes, suggestion }));
    } else {
      out.push(diag("Verifier", at, `program '${name}' would be rejected by the kernel verifier of ${r.target}: ${e.message}`, { notes }));
    }
  }
  return out;
}

/**
 * Step 5: code for every program, then for the outlined subprograms that emitted code still calls, transitively
 * (simplify may have removed a call). A BackendError becomes a diagnostic at its location; anything else is thrown.
 */
function generateAll(
  ir: Module,
  fileName: string,
  opts: { features: ReturnType<typeof codegenFeatures>; outlined: ReturnType<typeof chooseOutlined>; dump: (stage: DumpStage, text: string) => void },
): { insns: Map<string, Instruction[]>; diagnostics: Diagnostic[] } {
  const insns = new Map<string, Instruction[]>();
  const diagnostics: Diagnostic[] = [];
  const lower = (fn: Module["functions"][number], what: string): boolean => {
    try {
      const dump = (stage: string, text: string) => {
        if (stage !== "ir") opts.dump(stage as DumpStage, `; ${what} ${fn.name}\n${text}\n`);
      };
      const g = (fn.isProgram ? generate : generateSubprogram)(fn, ir, { features: opts.features, outlined: opts.outlined, dump });
      insns.set(fn.name, g.insns);
      return true;
    } catch (err) {
      if (!(err instanceof BackendError)) throw err;
      const loc = err.loc ?? fn.loc ?? { file: fileName, line: 1, column: 1 };
      diagnostics.push(diag("Backend", { file: loc.file, line: loc.line, column: loc.column }, `cannot generate code for '${fn.name}': ${err.message}`));
      return false;
    }
  };
  for (const fn of ir.functions.filter((f) => f.isProgram)) lower(fn, "program");
  const called = (list: Instruction[]) => list.flatMap((i) => (i.target !== undefined && opts.outlined.has(i.target) && !insns.has(i.target) ? [i.target] : []));
  const work = [...insns.values()].flatMap(called);
  while (work.length) {
    const name = work.pop()!;
    if (insns.has(name)) continue;
    if (lower(ir.functions.find((f) => f.name === name)!, "subprogram")) work.push(...called(insns.get(name)!));
  }
  return { insns, diagnostics };
}

/** The source location of the emitted instruction at slot `pc` (an lddw takes two slots). */
function locAtSlot(insns: Instruction[], pc: number): { file: string; line: number; column: number } | undefined {
  let slot = 0;
  for (const insn of insns) {
    if (slot === pc) return insn.loc;
    slot += isLddw(insn) ? 2 : 1;
  }
  return undefined;
}

/** Instruction count as llvm-objdump shows it (an lddw counts once): one emitted entry each. */
const countInsns = (list: readonly Instruction[]): number => list.length;

/** A bug in tsbpf, reported as a diagnostic rather than a crash. */
function internal(fileName: string, err: unknown): Diagnostic {
  const e = err as Error;
  return diag("Internal", { file: fileName, line: 1, column: 1 }, `internal compiler error: ${e?.message ?? String(err)}`, {
    notes: (e?.stack ?? "").split("\n").slice(1, 4).map((s) => s.trim()),
  });
}
