/**
 * Reads docs/LANGUAGE.md's fenced blocks with their info strings (```ts valid, ```ts snippet=TSBPF1001 file=x.ts
 * nosource, ```text headline) and its catalogue sections (### TSBPFnnnn — title).
 */

/** One fenced block. */
export interface Block {
  lang: string;
  /** Info-string words after the language: `valid`, `headline`, `nosource`, and `key=value` pairs. */
  flags: Set<string>;
  attrs: Map<string, string>;
  body: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** Character offset of the opening fence. */
  offset: number;
}

/** All fenced blocks of a markdown text, in order. */
export function fencedBlocks(md: string): Block[] {
  const out: Block[] = [];
  for (const m of md.matchAll(/^```([^\n]*)\n([\s\S]*?)^```[ \t]*$/gm)) {
    const [lang = "", ...words] = m[1]!.trim().split(/\s+/);
    const flags = new Set<string>();
    const attrs = new Map<string, string>();
    for (const w of words) {
      const eq = w.indexOf("=");
      if (eq > 0) attrs.set(w.slice(0, eq), w.slice(eq + 1));
      else if (w) flags.add(w);
    }
    out.push({ lang, flags, attrs, body: m[2]!, line: md.slice(0, m.index).split("\n").length, offset: m.index! });
  }
  return out;
}

/** One catalogue entry: its heading and the text up to the next heading. */
export interface CatalogueSection {
  code: string;
  title: string;
  text: string;
  /** The section's fenced blocks. */
  blocks: Block[];
}

/** The `### TSBPFnnnn — title` sections after the `## Error catalogue` heading. */
export function catalogue(md: string): CatalogueSection[] {
  const start = md.indexOf("\n## Error catalogue");
  if (start < 0) return [];
  const all = fencedBlocks(md);
  const heads = [...md.matchAll(/^### (TSBPF\d{4}) — (.+)$/gm)].filter((m) => m.index! > start);
  return heads.map((h, i) => {
    const from = h.index!;
    const to = i + 1 < heads.length ? heads[i + 1]!.index! : md.length;
    return { code: h[1]!, title: h[2]!.trim(), text: md.slice(from, to), blocks: all.filter((b) => b.offset > from && b.offset < to) };
  });
}
