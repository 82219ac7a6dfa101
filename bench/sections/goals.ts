/**
 * The last table of `npm run bench`: the five goals of issue 12, each with our figure, its reference measured in the
 * same run, the ratio and the target. Sections (b) and (e) state their goals; the others' are read from their rows by
 * column name (so a section can change its columns without touching this file, as long as the names stay).
 */
import { type GoalRow, type Section } from "../report.ts";

const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

function column(s: Section, name: string): number {
  return s.columns.indexOf(name);
}

/** Goal 2 from (a): total and worst program, ours vs clang -O2. */
function sizeGoals(s: Section): GoalRow[] {
  const [ours, clang, prog] = [column(s, "tsbpf"), column(s, "clang -O2"), column(s, "program")];
  if (ours < 0 || clang < 0) return [];
  const out: GoalRow[] = [];
  const total = s.rows.find((r) => r[0] === "total");
  if (total && num(total[ours]) && num(total[clang])) {
    out.push({ goal: "2. code size, total", ours: `${total[ours]} insns`, reference: `clang ${total[clang]}`, ratio: `${(num(total[ours])! / num(total[clang])!).toFixed(3)}x`, target: "<= 1.0x" });
  }
  let worst: { name: string; a: number; b: number } | undefined;
  for (const r of s.rows) {
    const [a, b] = [num(r[ours]), num(r[clang])];
    if (r[0] === "total" || a === undefined || b === undefined) continue;
    if (!worst || a / b > worst.a / worst.b) worst = { name: String(r[prog]), a, b };
  }
  if (worst) out.push({ goal: "2. code size, worst program", ours: `${worst.a} insns (${worst.name})`, reference: `clang ${worst.b}`, ratio: `${(worst.a / worst.b).toFixed(2)}x`, target: "<= 1.1x" });
  return out;
}

/** Goal 3 from (c): the worst JIT/kernel ratio over every program and object. */
function runtimeGoals(s: Section): GoalRow[] {
  const [jit, kernel, prog, obj] = [column(s, "VM JIT"), column(s, "kernel test_run"), column(s, "program"), column(s, "object")];
  if (jit < 0 || kernel < 0) return [];
  let worst: { name: string; a: number; b: number } | undefined;
  for (const r of s.rows) {
    const [a, b] = [num(r[jit]), num(r[kernel])];
    if (a === undefined || b === undefined) continue;
    if (!worst || a / b > worst.a / worst.b) worst = { name: `${r[prog]}, ${r[obj]}`, a, b };
  }
  return worst ? [{ goal: "3. VM JIT vs kernel test_run, worst program", ours: `${worst.a.toFixed(1)} ns (${worst.name})`, reference: `kernel ${worst.b.toFixed(1)} ns`, ratio: `${(worst.a / worst.b).toFixed(2)}x`, target: "<= 1.0x" }] : [];
}

/** Goal 4 from (d): the worst time ratio of our verifier vs the kernel's on our object. */
function verifierGoals(s: Section): GoalRow[] {
  const [ours, kernel, prog] = [column(s, "tsbpf µs"), column(s, "kernel µs (tsbpf)"), column(s, "program")];
  if (ours < 0 || kernel < 0) return [];
  let worst: { name: string; a: number; b: number } | undefined;
  for (const r of s.rows) {
    const [a, b] = [num(r[ours]), num(r[kernel])];
    if (a === undefined || b === undefined || b === 0) continue;
    if (!worst || a / b > worst.a / worst.b) worst = { name: String(r[prog]), a, b };
  }
  return worst ? [{ goal: "4. verifier time, worst program", ours: `${worst.a} µs (${worst.name})`, reference: `kernel ${worst.b} µs`, ratio: `${(worst.a / worst.b).toFixed(2)}x`, target: "<= 1.0x" }] : [];
}

/** The goals table from the sections that ran (a goal whose section did not run says so). */
export function goalsSection(results: Section[]): Section {
  const by = (letter: string) => results.find((s) => s.title.startsWith(`(${letter})`) && s.skipped === undefined);
  const rows: GoalRow[] = [];
  const notRun = (goal: string, letter: string) => rows.push({ goal, ours: `section (${letter}) not run`, reference: "", ratio: "-", target: "" });
  const a = by("a");
  if (a) rows.push(...sizeGoals(a));
  else notRun("2. code size", "a");
  const b = by("b");
  if (b?.goals?.length) rows.push(...b.goals);
  else notRun("1. cold build", "b");
  const c = by("c");
  if (c) rows.push(...runtimeGoals(c));
  else notRun("3. VM JIT vs kernel", "c");
  const d = by("d");
  if (d) rows.push(...verifierGoals(d));
  else notRun("4. verifier time", "d");
  const e = by("e");
  if (e?.goals?.length) rows.push(...e.goals);
  else notRun("5. LPM trie scale", "e");
  rows.sort((x, y) => x.goal.localeCompare(y.goal, "en", { numeric: true }));
  return {
    title: "issue 12 goals: ours next to the reference measured in this run",
    columns: ["goal", "tsbpf", "reference", "ratio", "target"],
    rows: rows.map((g) => [g.goal, g.ours, g.reference, g.ratio, g.target]),
    notes: ["each line is taken from its section above (same run); ratios are tsbpf / reference"],
  };
}
