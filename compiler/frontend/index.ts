/**
 * The front end: TypeScript file → diagnostics and IR. Runs TypeScript's checker, the subset checker, then (when
 * nothing is wrong) the lowering. Never throws for a user mistake.
 */
import type { Module } from "../ir/ir.ts";
import { diag, sortDiagnostics, type Diagnostic } from "../diagnostics/index.ts";
import { FileContext } from "./context.ts";
import { lowerModule } from "./lower.ts";
import { ModuleInfo } from "./module.ts";
import { InputLimitError } from "./limits.ts";
import { parseFile } from "./project.ts";
import { checkSubset } from "./subset.ts";

export { stdlibPath } from "./project.ts";

/** What the front end produced for one file. */
export interface FrontendResult {
  /** The IR, when the file has no errors. */
  module?: Module;
  diagnostics: Diagnostic[];
  /** The file's text (for code frames). */
  source?: string;
}

/** Parses, checks and lowers `fileName` (its text is `source`, or read from disk). */
export function frontend(fileName: string, source?: string): FrontendResult {
  let parsed;
  try {
    parsed = parseFile(fileName, source);
  } catch (err) {
    if (err instanceof InputLimitError) return { diagnostics: err.diagnostics, ...(source !== undefined ? { source } : {}) };
    if (err instanceof RangeError && /call stack/.test(err.message)) {
      // Nesting the limits did not foresee (a chain of unary operators...): still the input's fault, not a missing file.
      return { diagnostics: [diag("TooDeep", { file: fileName, line: 1, column: 1 }, "the file is nested too deeply for the TypeScript parser")] };
    }
    const msg = (err as Error).message ?? String(err);
    return { diagnostics: [diag("FileNotFound", { file: fileName, line: 1, column: 1 }, `cannot read '${fileName}': ${msg.split("\n")[0]}`)] };
  }
  try {
    const fx = new FileContext(parsed.program.getTypeChecker(), parsed.sourceFile, parsed.displayName);
    checkSubset(fx);
    const mod = new ModuleInfo(fx);
    mod.collect();
    // A TypeScript error at the same place as one of ours (e.g. writing a readonly ctx field) is the same problem:
    // keep the more specific TSBPF one.
    const covered = (d: Diagnostic) =>
      fx.diagnostics.some((o) => o.line === d.line && d.column >= o.column && (o.endLine !== o.line || d.column < (o.endColumn ?? o.column + 1)));
    const tsDiags = parsed.diagnostics.filter((d) => !covered(d));
    if (mod.programs.length === 0 && fx.diagnostics.length === 0 && tsDiags.length === 0) {
      fx.diagnostics.push(diag("NoPrograms", { file: fx.file, line: 1, column: 1 }, "the file exports no sk_lookup program (a function taking `ctx: SkLookup`)"));
    }
    if (fx.diagnostics.length || tsDiags.length) return { diagnostics: sortDiagnostics([...tsDiags, ...fx.diagnostics]), source: parsed.text };
    const module = lowerModule(fx, mod);
    // An unrolled loop lowers its body once per iteration: the same mistake is reported once.
    const seen = new Set<string>();
    const unique = fx.diagnostics.filter((d) => {
      const key = `${d.code}:${d.line}:${d.column}:${d.message}`;
      return !seen.has(key) && !!seen.add(key);
    });
    if (unique.length) return { diagnostics: sortDiagnostics(unique), source: parsed.text };
    return { module, diagnostics: [], source: parsed.text };
  } catch (err) {
    if (err instanceof RangeError && /call stack/.test(err.message)) {
      return { diagnostics: [diag("TooDeep", { file: fileName, line: 1, column: 1 }, "the file is nested too deeply for the TypeScript checker or tsbpf's lowering")], source: parsed.text };
    }
    return {
      diagnostics: [diag("Internal", { file: fileName, line: 1, column: 1 }, `internal error in the front end: ${(err as Error)?.message ?? String(err)}`, { notes: [String((err as Error)?.stack ?? "").split("\n").slice(1, 4).join(" | ")] })],
      source: parsed.text,
    };
  } finally {
    parsed.dispose();
  }
}
