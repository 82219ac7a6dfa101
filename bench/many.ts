/**
 * The many-program file of the compile-time bench: every example in one DSL file (each top-level name prefixed per
 * copy, the imports from "tsbpf" merged), and the same for their C twins, so a cold `tsbpf build` and a cold clang
 * compile the same programs in one process each.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EXAMPLES } from "./examples.ts";

/** Replaces each whole-word use of `names` (not after `.`/`->`, i.e. not a member) with `prefix + name`. */
function rename(text: string, names: Iterable<string>, prefix: string): string {
  let out = text;
  for (const n of names) out = out.replace(new RegExp(`(?<![\\w$.]|->)${n}(?![\\w$])`, "g"), `${prefix}${n}`);
  return out;
}

/** Top-level names a DSL file declares (exports, constants, local functions, interfaces, types). */
function tsNames(text: string): Set<string> {
  return new Set([...text.matchAll(/^(?:export\s+)?(?:const|let|function|interface|type|enum)\s+([A-Za-z_$][\w$]*)/gm)].map((m) => m[1]!));
}

/** Top-level names a C twin declares (macros, structs, maps, functions). */
function cNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.matchAll(/^#define\s+(\w+)/gm)) names.add(m[1]!);
  for (const m of text.matchAll(/^struct\s+(\w+)\s*\{/gm)) names.add(m[1]!);
  for (const m of text.matchAll(/^\}\s*(\w+)\s+SEC\(/gm)) names.add(m[1]!);
  for (const m of text.matchAll(/^(?:static\s+)?(?:__always_inline\s+)?(?:int|long|void|bool|__[us](?:8|16|32|64))\s+\*?(\w+)\s*\(/gm)) names.add(m[1]!);
  names.delete("LICENSE");
  return names;
}

/** The generated pair: paths of the DSL file and the C file, and the number of programs in each. */
export interface ManyPrograms {
  source: string;
  twinSource: string;
  programs: number;
}

/** Writes `copies` copies of every example (and twin) into `dir`; the C file includes bench/c/common.h. */
export function writeManyPrograms(root: string, dir: string, copies = 2): ManyPrograms {
  mkdirSync(dir, { recursive: true });
  const imports = new Set<string>();
  const tsBodies: string[] = [];
  const cBodies: string[] = [];
  let programs = 0;
  for (let c = 0; c < copies; c++) {
    for (const [i, ex] of EXAMPLES.entries()) {
      const prefix = `e${c}${i}_`;
      const ts = readFileSync(join(root, ex.source), "utf8");
      const importMatch = /^import\s*\{([^}]*)\}\s*from\s*"tsbpf";\s*$/m.exec(ts);
      if (!importMatch) throw new Error(`${ex.source}: no single import from "tsbpf" to merge`);
      for (const n of importMatch[1]!.split(",").map((s) => s.trim()).filter(Boolean)) imports.add(n);
      tsBodies.push(rename(ts.replace(importMatch[0], ""), tsNames(ts), prefix));
      const cText = readFileSync(join(root, ex.twinSource), "utf8")
        .replace(/^#include "common.h"\s*$/m, "")
        .replace(/^char LICENSE\[\] SEC\("license"\) = "[^"]*";\s*$/m, "");
      cBodies.push(rename(cText, cNames(cText), prefix));
      programs += ex.programs.length;
    }
  }
  const source = join(dir, "many-programs.ts");
  const twinSource = join(dir, "many-programs.c");
  writeFileSync(source, `import { ${[...imports].join(", ")} } from "tsbpf";\n${tsBodies.join("\n")}`);
  writeFileSync(twinSource, `#include "${join(root, "bench", "c", "common.h")}"\n\nchar LICENSE[] SEC("license") = "GPL";\n${cBodies.join("\n")}`);
  return { source, twinSource, programs };
}
