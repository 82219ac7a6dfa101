/**
 * The backend: one IR function → emitted-form BPF instructions.
 *
 * Stages (each can be dumped through `opts.dump(stage, text)`):
 *   "ir"        the function as received
 *   "ir-opt"    after inlining, simplification, rematerialisation and legalisation
 *   "regalloc"  vreg → register / spill slot
 *   "asm"       the final instructions, disassembled
 */
import { decode, disassemble, encode, type Instruction } from "../asm/index.ts";
import type { Function, Module } from "../ir/ir.ts";
import type { KernelTarget } from "../target/index.ts";
import { InlineError, inlineFunction } from "../ir/inline.ts";
import { eliminateDeadCode, simplify } from "../ir/passes/simplify.ts";
import { cloneFunction } from "../ir/passes/util.ts";
import { printFunction } from "../ir/print.ts";
import { BackendError } from "./errors.ts";
import { layoutFrame } from "./frame.ts";
import { select } from "./isel.ts";
import { layoutBlocks } from "./layout.ts";
import { peephole } from "./peephole.ts";
import { prepare } from "./prepare.ts";
import { allocate, printAllocation } from "./regalloc.ts";
import { lowerSignedDivision } from "./signed-div.ts";
import { elideConstKeyNullChecks } from "./elide-null.ts";
import { validate } from "./validate.ts";

export { BackendError } from "./errors.ts";
export { MAX_STACK } from "./frame.ts";

/**
 * Instruction forms newer than the default target (Linux 5.10) that code generation may use because the chosen
 * kernel target has them. Everything absent or false means the 5.10 form.
 */
export interface CodegenFeatures {
  /** cpu-v4 `sdiv`/`smod` (BPF_DIV/BPF_MOD with off=1), Linux 6.6; otherwise lowered to unsigned operations. */
  signedDivision?: boolean;
  /** cpu-v4 `movsx` and `ldsx` (one instruction instead of two shifts), Linux 6.6. */
  signExtension?: boolean;
  /** The verifier knows constant-key ARRAY lookups are non-NULL (Linux 6.14): their NULL tests are dropped. */
  constKeyArrayNonNull?: boolean;
}

/** The newer instruction forms `target` accepts. */
export function codegenFeatures(target: KernelTarget): CodegenFeatures {
  return { signedDivision: target.isaV4, signExtension: target.isaV4, constKeyArrayNonNull: target.arrayLookupConstKeyNonNull };
}

/** Options of {@link generate}. */
export interface GenerateOptions {
  /** Receives a text dump of each stage ("ir", "ir-opt", "regalloc", "asm"). */
  dump?: (stage: string, text: string) => void;
  /** Newer instruction forms the target kernel accepts (default: none, i.e. Linux 5.10). */
  features?: CodegenFeatures;
  /** Local functions emitted as subprograms (ir/outline.ts): calls to them stay BPF-to-BPF calls. */
  outlined?: ReadonlySet<string>;
}

/** What {@link generate} returns for one program. */
export interface Generated {
  /** Emitted-form instructions: one entry per lddw, symbolic jump targets and map references, source locations. */
  insns: Instruction[];
  /** Bytes of stack the program uses below r10 (slots + spills), a multiple of 8, at most 512. */
  stackSize: number;
}

/**
 * Compiles one program of `module` to BPF. Local calls are inlined first (callees are looked up in `module`), except
 * calls to `opts.outlined` functions; the input function is never modified. Throws {@link BackendError} for IR that
 * cannot be compiled.
 */
export function generate(fn: Function, module: Module, opts: GenerateOptions = {}): Generated {
  opts.dump?.("ir", printFunction(fn));
  if (!fn.isProgram) throw new BackendError(`${fn.name} is not a program: local functions are inlined into their callers or compiled by generateSubprogram`, fn.loc);
  if (fn.params.length !== 1) throw new BackendError(`program ${fn.name} must take exactly the context parameter`, fn.loc);
  return lowerFunction(fn, module, opts, true);
}

/**
 * Compiles local function `fn` of `module` as a BPF subprogram (a BPF-to-BPF call target): its integer parameters
 * arrive in r1..r5, its result leaves in r0, it has its own stack frame. Its own local calls follow the same rule as
 * a program's (inlined unless in `opts.outlined`).
 */
export function generateSubprogram(fn: Function, module: Module, opts: GenerateOptions = {}): Generated {
  opts.dump?.("ir", printFunction(fn));
  if (fn.isProgram) throw new BackendError(`${fn.name} is a program, not a subprogram`, fn.loc);
  if (fn.params.length > 5) throw new BackendError(`${fn.name} takes ${fn.params.length} parameters; a BPF subprogram takes at most 5`, fn.loc);
  return lowerFunction(fn, module, opts, false);
}

function lowerFunction(fn: Function, module: Module, opts: GenerateOptions, isProgram: boolean): Generated {
  const dump = opts.dump;
  validate(fn);
  const keep = opts.outlined ?? new Set<string>();
  const hasCalls = fn.blocks.some((b) => b.insts.some((i) => i.op === "call_local" && !keep.has(i.callee)));
  let f: Function;
  try {
    f = hasCalls ? inlineFunction(fn, new Map(module.functions.map((g) => [g.name, g])), 0, keep) : cloneFunction(fn);
  } catch (err) {
    if (err instanceof InlineError) throw new BackendError(err.message, fn.loc);
    throw err;
  }
  const ctx = isProgram ? f.params[0]! : undefined;
  // Before simplify, so that the sequence's constants fold and its parts take part in CSE.
  if (!opts.features?.signedDivision) lowerSignedDivision(f);
  simplify(f, ctx);
  prepare(f, ctx);
  eliminateDeadCode(f, ctx);
  dump?.("ir-opt", printFunction(f));
  const order = layoutBlocks(f);
  const alloc = allocate(f, order, ctx);
  dump?.("regalloc", printAllocation(alloc));
  const frame = layoutFrame(f, alloc.spillSlots);
  const selected = select({ fn: f, module, order, alloc, frame, ctx, comments: dump !== undefined, features: opts.features });
  if (opts.features?.constKeyArrayNonNull) elideConstKeyNullChecks(selected, module);
  const insns = peephole(selected);
  if (dump) dump("asm", disassembleEmitted(insns, true).join("\n") + "\n");
  return { insns, stackSize: frame.size };
}

/**
 * Disassembles emitted-form instructions (encode → decode → llvm-objdump-16 text), without raw bytes. With
 * `comments`, each instruction that starts an IR instruction's expansion is annotated with that IR instruction.
 */
export function disassembleEmitted(insns: readonly Instruction[], comments = false): string[] {
  const { bytes, slots } = encode(insns);
  const notes = new Map<number, string>();
  if (comments) insns.forEach((insn, i) => insn.comment && notes.set(slots[i]!, `; ${insn.comment}`));
  return disassemble(decode(bytes), bytes, { bytes: false, annotate: (pc) => notes.get(pc) });
}
