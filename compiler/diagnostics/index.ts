/**
 * Diagnostics: the `Diagnostic` record every pass produces, constructors, and the esbuild-like formatter
 * (`FILE:LINE:COL - error TSBPFnnnn: message` + code frame with a caret underline).
 */
import { Codes, type CodeKey } from "./codes.ts";

export { Codes, lookupCode, type CodeInfo, type CodeKey } from "./codes.ts";
export { formatDiagnostic, formatDiagnostics, type DiagnosticSources } from "./format.ts";

/** One problem in the user's program. Lines and columns are 1-based; `end*` delimit the underlined span. */
export interface Diagnostic {
  file: string;
  line: number;
  column: number;
  endLine?: number;
  endColumn?: number;
  /** `TSBPFnnnn`. */
  code: string;
  message: string;
  /** Extra lines printed after the code frame (e.g. the verifier's log). */
  notes?: string[];
  suggestion?: string;
}

/** A span in a file, 1-based. */
export interface Span {
  file: string;
  line: number;
  column: number;
  endLine?: number;
  endColumn?: number;
}

/** Builds a diagnostic of catalogue kind `key` at `span`; the suggestion defaults to the catalogue's. */
export function diag(key: CodeKey, span: Span, message: string, extra?: { notes?: string[]; suggestion?: string }): Diagnostic {
  const info = Codes[key];
  const d: Diagnostic = { ...span, code: info.code, message };
  if (extra?.notes?.length) d.notes = extra.notes;
  d.suggestion = extra?.suggestion ?? info.suggestion;
  return d;
}

/**
 * Thrown inside a pass to abandon the current construct with a diagnostic; the pass catches it, records the
 * diagnostic and carries on (or stops) — it never escapes `compile()`.
 */
export class DiagnosticError extends Error {
  override name = "DiagnosticError";
  constructor(readonly diagnostic: Diagnostic) {
    super(`${diagnostic.code}: ${diagnostic.message}`);
  }
}

/** Line and column (1-based) of a character offset in `text`. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/** The span from character offset `start` to `end` in `text` of `file`. */
export function spanOf(file: string, text: string, start: number, end: number): Span {
  const a = lineColumn(text, start);
  const b = lineColumn(text, Math.max(start, end));
  return { file, line: a.line, column: a.column, endLine: b.line, endColumn: b.column };
}

/** Orders diagnostics by file, line, column (stable), for deterministic output. */
export function sortDiagnostics(list: Diagnostic[]): Diagnostic[] {
  return [...list].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || a.column - b.column));
}
