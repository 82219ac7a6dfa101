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
 * The source text a diagnostic's code frame is cut from, the same shape for {@link formatDiagnostic} and
 * {@link formatDiagnostics}: one file's text (used for the diagnostics in any file, the common single-file case),
 * or a map from file name to text.
 */
export type DiagnosticSources = string | ReadonlyMap<string, string>;

function sourceOf(d: Diagnostic, sources: DiagnosticSources | undefined): string | undefined {
  return typeof sources === "string" || sources === undefined ? sources : sources.get(d.file);
}

/**
 * Formats one diagnostic: the headline, then (when `sources` holds the file's text) a code frame underlining the
 * span, then notes and the suggestion.
 */
export function formatDiagnostic(d: Diagnostic, sources?: DiagnosticSources): string {
  const out = [headline(d)];
  // No frame without text (e.g. a file that could not be read): an empty frame would only add noise.
  const source = sourceOf(d, sources);
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

/** Formats a list (code frames from `sources`, as for {@link formatDiagnostic}), separated by blank lines. */
export function formatDiagnostics(list: readonly Diagnostic[], sources?: DiagnosticSources): string {
  return list.map((d) => formatDiagnostic(d, sources)).join("\n");
}
