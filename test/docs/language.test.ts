/**
 * docs/LANGUAGE.md stays true: every code of the catalogue (compiler/diagnostics/codes.ts) has an entry with its
 * title and fix; each entry's snippet, compiled as written, yields exactly that code and the headline shown; every
 * reference snippet marked `ts valid` compiles with no diagnostics into an object with the programs it declares.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { compile } from "../../compiler/index.ts";
import { Codes } from "../../compiler/diagnostics/codes.ts";
import { headline } from "../../compiler/diagnostics/format.ts";
import { catalogue, fencedBlocks, type Block } from "./markdown.ts";

const ROOT = join(import.meta.dirname, "../..");
const MD = readFileSync(join(ROOT, "docs/LANGUAGE.md"), "utf8");
const BLOCKS = fencedBlocks(MD);
const SECTIONS = catalogue(MD);
/** The phrase that marks a code no source file can trigger. */
const UNTRIGGERABLE = "Cannot be triggered from a source file";

/** The `text headline` block right after `b`, if any. */
function headlineBlock(b: Block): Block | undefined {
  const next = BLOCKS[BLOCKS.findIndex((x) => x.offset === b.offset) + 1];
  return next && next.lang === "text" && next.flags.has("headline") ? next : undefined;
}

describe("error catalogue", () => {
  test("every code in Codes has exactly one entry, in code order, and no entry names an unknown code", () => {
    const codes = Object.values(Codes).map((c) => c.code);
    expect(SECTIONS.map((s) => s.code)).toEqual(codes);
  });

  for (const info of Object.values(Codes)) {
    test(`${info.code}: title, fix, and a snippet producing exactly this code and headline`, () => {
      const section = SECTIONS.find((s) => s.code === info.code);
      expect(section, `a "### ${info.code} — ${info.title}" heading`).toBeDefined();
      expect(section!.title).toBe(info.title);
      expect(section!.text).toContain(`Fix: ${info.suggestion}`);
      const snippets = section!.blocks.filter((b) => b.attrs.get("snippet") !== undefined);
      if (snippets.length === 0) {
        expect(section!.text, `${info.code} has no snippet, so it must say why`).toContain(UNTRIGGERABLE);
        return;
      }
      expect(section!.text).not.toContain(UNTRIGGERABLE);
      for (const b of snippets) {
        expect(b.lang).toBe("ts");
        expect(b.attrs.get("snippet")).toBe(info.code);
        const fileName = b.attrs.get("file") ?? "snippet.ts";
        // `target=V` compiles the snippet for kernel target V (as `tsbpf build --target-kernel V` would).
        const target = b.attrs.get("target");
        const r = compile(b.flags.has("nosource") ? { fileName } : { fileName, source: b.body }, target ? { target } : {});
        expect(r.diagnostics.length, `line ${b.line}: the snippet must fail`).toBeGreaterThan(0);
        expect(new Set(r.diagnostics.map((d) => d.code)), `line ${b.line}`).toEqual(new Set([info.code]));
        expect(r.object).toBeUndefined();
        const shown = headlineBlock(b);
        if (!b.flags.has("noheadline")) expect(shown, `a \`text headline\` block after line ${b.line}`).toBeDefined();
        if (shown) expect(r.diagnostics.map(headline).join("\n") + "\n", `headline block after line ${b.line}`).toBe(shown.body);
      }
    });
  }

  test("only the entries no source file can trigger lack a snippet: a socket mix (now supported), a newer-kernel-only program and the internal error", () => {
    const without = SECTIONS.filter((s) => !s.blocks.some((b) => b.attrs.has("snippet"))).map((s) => s.code);
    expect(without).toEqual([Codes.SocketVar.code, Codes.NewerKernel.code, Codes.Internal.code]);
  });
});

describe("reference snippets", () => {
  const valid = BLOCKS.filter((b) => b.lang === "ts" && b.flags.has("valid"));

  test("there are reference snippets, and every ts block is marked (valid, snippet=) or is an API example", () => {
    expect(valid.length).toBeGreaterThanOrEqual(10);
    const unmarked = BLOCKS.filter((b) => b.lang === "ts" && !b.flags.has("valid") && !b.attrs.has("snippet"));
    // Unmarked ts blocks are test code for tsbpf/testing, not DSL files.
    for (const b of unmarked) expect(b.body, `line ${b.line}`).toContain('from "tsbpf/testing"');
  });

  for (const b of valid) {
    test(`line ${b.line} compiles cleanly`, () => {
      const r = compile({ fileName: "snippet.ts", source: b.body });
      expect(r.diagnostics.map(headline)).toEqual([]);
      expect(r.object).toBeInstanceOf(Uint8Array);
      const declared = [...b.body.matchAll(/^export function (\w+)\(ctx: SkLookup\)/gm)].map((m) => m[1]);
      expect(r.programs.map((p) => p.name)).toEqual(declared);
    });
  }
});
