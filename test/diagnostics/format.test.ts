/** The diagnostic catalogue and the esbuild-like text format (headline, code frame with carets, notes, help). */
import { describe, expect, test } from "vitest";
import { Codes, diag, formatDiagnostic, formatDiagnostics, lookupCode, sortDiagnostics, spanOf } from "../../compiler/diagnostics/index.ts";

const SRC = "import x from \"tsbpf\";\nexport function p(ctx: SkLookup): Verdict {\n\tconst s = \"hello\";\n  return SK_PASS;\n}\n";

describe("catalogue", () => {
  test("codes are unique, TSBPFnnnn, and each has a title and a suggestion", () => {
    const all = Object.values(Codes);
    expect(new Set(all.map((c) => c.code)).size).toBe(all.length);
    for (const c of all) {
      expect(c.code).toMatch(/^TSBPF\d{4}$/);
      expect(c.title.length).toBeGreaterThan(5);
      expect(c.suggestion.length).toBeGreaterThan(5);
      expect(lookupCode(c.code)).toBe(c);
    }
    expect(lookupCode("TSBPF4242")).toBeUndefined();
  });
});

describe("format", () => {
  test("headline, code frame with a caret underline under the span, help line", () => {
    const start = SRC.indexOf('"hello"');
    const d = diag("String", spanOf("x.ts", SRC, start, start + 7), "strings are not supported here");
    expect(d).toMatchObject({ file: "x.ts", line: 3, column: 12, endLine: 3, endColumn: 19, code: "TSBPF1001" });
    expect(formatDiagnostic(d, SRC)).toBe(
      [
        "x.ts:3:12 - error TSBPF1001: strings are not supported here",
        "",
        "   3 │  const s = \"hello\";",
        "     │            ^^^^^^^",
        `  = help: ${Codes.String.suggestion}`,
        "",
      ].join("\n"),
    );
  });

  test("a span over several lines underlines to the end of its first line; notes come before help", () => {
    const start = SRC.indexOf("export");
    const d = diag("BadProgram", spanOf("x.ts", SRC, start, SRC.length - 1), "bad", { notes: ["first", "second"], suggestion: "do this" });
    const text = formatDiagnostic(d, SRC);
    expect(text).toContain("   2 │ export function p(ctx: SkLookup): Verdict {\n     │ " + "^".repeat(43) + "\n");
    expect(text.endsWith("  note: first\n  note: second\n  = help: do this\n")).toBe(true);
  });

  test("without the source only the headline (and notes) are printed", () => {
    const d = diag("Recursion", { file: "y.ts", line: 9, column: 3 }, "'f' calls itself", { suggestion: "" });
    delete d.suggestion;
    expect(formatDiagnostic(d)).toBe("y.ts:9:3 - error TSBPF1007: 'f' calls itself\n");
  });

  test("lists are sorted by file, line, column and separated by blank lines", () => {
    const a = diag("Float", { file: "a.ts", line: 2, column: 5 }, "A");
    const b = diag("Float", { file: "a.ts", line: 1, column: 9 }, "B");
    const c = diag("Float", { file: "0.ts", line: 7, column: 1 }, "C");
    expect(sortDiagnostics([a, b, c]).map((d) => d.message)).toEqual(["C", "B", "A"]);
    const text = formatDiagnostics([b, a]);
    expect(text.split("\n").filter((l) => l.includes("error"))).toEqual(["a.ts:1:9 - error TSBPF1002: B", "a.ts:2:5 - error TSBPF1002: A"]);
  });
});

test("formatDiagnostics and formatDiagnostic take the same sources: one file's text or a file → text map", () => {
  const start = SRC.indexOf('"hello"');
  const d = diag("String", spanOf("x.ts", SRC, start, start + 7), "strings are not supported here");
  const expected = formatDiagnostic(d, SRC);
  expect(expected).toContain("│            ^^^^^^^");
  expect(formatDiagnostics([d], SRC)).toBe(expected);
  expect(formatDiagnostics([d], new Map([["x.ts", SRC]]))).toBe(expected);
  expect(formatDiagnostic(d, new Map([["x.ts", SRC]]))).toBe(expected);
  expect(formatDiagnostic(d, new Map([["other.ts", SRC]]))).toBe(formatDiagnostic(d));
});
