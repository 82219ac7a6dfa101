/** Result tables of the benchmark and their plain-text rendering (what `npm run bench` prints). */

/** One printed table. A section that cannot run at all carries `skipped` (one line saying why) instead of rows. */
export interface Section {
  /** e.g. "(a) code size: instructions per program". */
  title: string;
  columns: string[];
  rows: Array<Array<string | number>>;
  /** Lines printed under the table: how figures were taken, per-row problems. */
  notes: string[];
  skipped?: string;
  /** The issue-12 goals this section measures, for the summary table printed last. */
  goals?: GoalRow[];
}

/** One line of the goals summary: what we measured, its reference, the ratio and the target. */
export interface GoalRow {
  goal: string;
  ours: string;
  reference: string;
  ratio: string;
  target: string;
}

/** A section that could not run, with the reason. */
export const skippedSection = (title: string, reason: string): Section => ({ title, columns: [], rows: [], notes: [], skipped: reason });

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Formats a number with at most `digits` fraction digits (integers stay integers). */
export function fmt(n: number, digits = 1): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(digits);
}

/** Ratio `a / b` as "1.23x", or "-" when either side is missing. */
export function ratio(a: number | undefined, b: number | undefined): string {
  return a === undefined || b === undefined || b === 0 ? "-" : `${(a / b).toFixed(2)}x`;
}

/** Renders a section as an aligned text table (numbers right-aligned). */
export function renderSection(s: Section): string {
  const out = [s.title];
  if (s.skipped !== undefined) {
    out.push(`  skipped: ${s.skipped}`);
    return out.join("\n");
  }
  const cells = [s.columns, ...s.rows.map((r) => r.map((c) => (typeof c === "number" ? fmt(c) : c)))];
  const widths = s.columns.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? "").length)));
  // A column with any number in it is numeric: its header and every cell (n/a included) are right-aligned.
  const numeric = s.columns.map((_, i) => s.rows.some((r) => typeof r[i] === "number" || /^-?[\d.]+x$/.test(String(r[i]))));
  const line = (r: Array<string | number>) =>
    "  " +
    r
      .map((c, i) => (numeric[i] ? String(c ?? "").padStart(widths[i]!) : String(c ?? "").padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  out.push(line(s.columns), "  " + widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of cells.slice(1)) out.push(line(r));
  for (const n of s.notes) out.push(`  ${n}`);
  return out.join("\n");
}
