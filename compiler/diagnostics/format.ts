/**
 * Text rendering of diagnostics, esbuild-like:
 *
 * ```
 * x.ts:3:11 - error TSBPF1001: strings are not supported here
 *
 *     3 │ const s = "hello";
 *       │           ~~~~~~~
 *   = help: Strings exist only as `trace` formats ...
 * ```
 *
 * The first line is the stable, grep-able part; tests assert it exactly.
 */
import type { Diagnostic } from "./index.ts";

/** The first line: `FILE:LINE:COL - error TSBPFnnnn: message`. */
export function headline(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.column} - error ${d.code}: ${d.message}`;
}

/**
 * Formats one diagnostic: the headline, then (when `source` is the file's text) a code frame underlining the span,
 * then notes and the suggestion.
 */
export function formatDiagnostic(d: Diagnostic, source?: string): string {
  const out = [headline(d)];
  // No frame without text (e.g. a file that could not be read): an empty frame would only add noise.
  const lines = source ? source.split("\n") : undefined;
  const text = lines?.[d.line - 1];
  if (text !== undefined) {
    const gutter = String(d.line).length + 4;
    const shown = text.replace(/\t/g, " ");
    // Underline to the end column on a one-line span, else to the end of the line (at least one caret).
    const endCol = d.endLine === d.line && d.endColumn !== undefined ? d.endColumn : shown.length + 1;
    const width = Math.max(1, endCol - d.column);
    out.push("");
    out.push(`${String(d.line).padStart(gutter - 1)} │ ${shown}`);
    out.push(`${" ".repeat(gutter - 1)} │ ${" ".repeat(d.column - 1)}${"^".repeat(width)}`);
  }
  for (const note of d.notes ?? []) out.push(`  note: ${note}`);
  if (d.suggestion) out.push(`  = help: ${d.suggestion}`);
  return out.join("\n") + "\n";
}

/** Formats a list, reading each file's text through `sources` (file name → text), separated by blank lines. */
export function formatDiagnostics(list: Diagnostic[], sources: ReadonlyMap<string, string> = new Map()): string {
  return list.map((d) => formatDiagnostic(d, sources.get(d.file))).join("\n");
}
