// Emits the package's declaration files into dist/types/, one tree mirroring the sources, so that a consumer
// type-checks declarations rather than our .ts sources (which would be checked under the consumer's own flags).
//
// 1. `tsc --declaration --emitDeclarationOnly` (the repo's TypeScript, native tsc 7) over the entry points into a
//    scratch directory. tsc follows every import, including the compiler internals the entry points load lazily.
// 2. Only the declarations reachable from the entry points' static imports are kept (about a third of what tsc
//    emits), and `./x.ts` specifiers become `./x.js`, which every moduleResolution maps back to `./x.d.ts`.
// 3. Hand-written declarations (runtime/testing/vitest.d.ts, compiler/object.d.ts) are copied alongside.
//
// Run by scripts/build.mjs; `node scripts/build-types.mjs` alone refreshes just the declarations.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** Entry points of the package's export paths (see package.json "exports"). */
export const TYPE_ENTRIES = ["compiler/index.ts", "runtime/index.ts", "runtime/testing/index.ts", "compiler/esbuild-plugin.ts"];
/** Declarations written by hand, shipped as they are. */
const HAND_WRITTEN = ["runtime/testing/vitest.d.ts", "compiler/object.d.ts"];
const outDir = join(root, "dist/types");

/** A relative module specifier in a declaration: `from "./x.ts"`, `import("./x.ts")`, `import "./x.ts"`. */
const RELATIVE_SPECIFIER = /((?:\bfrom|\bimport)\s*\(?\s*)"(\.{1,2}\/[^"]+)"/g;

/** Writes dist/types/ (see the header); returns how many declaration files it holds. Throws on errors in shipped files. */
export function buildTypes() {
  const scratch = mkdtempSync(join(tmpdir(), "tsbpf-types-"));
  try {
    const errors = emit(scratch);
    rmSync(outDir, { recursive: true, force: true });
    const kept = copyReachable(scratch);
    // Type errors in a file whose declarations ship would ship wrong types: fail. Elsewhere (compiler internals the
    // entry points load lazily) they do not reach the declarations; `npm run typecheck` is where they get fixed.
    const shipped = errors.filter((e) => kept.has(e.file.replace(/\.ts$/, ".d.ts")));
    if (shipped.length) throw new Error(`declaration emit: type errors in shipped files:\n${shipped.map((e) => e.line).join("\n")}`);
    if (errors.length) console.warn(`tsbpf: declarations emitted; ${errors.length} type error(s) in files that are not shipped (npm run typecheck)`);
    for (const file of HAND_WRITTEN) write(file, rewriteSpecifiers(readFileSync(join(root, file), "utf8")));
    return kept.size + HAND_WRITTEN.length;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function emit(scratch) {
  const tsc = join(dirname(createRequire(import.meta.url).resolve("typescript/package.json")), "bin/tsc");
  const config = join(scratch, "tsconfig.json");
  // Extends the repo's config (strict, the same lib and module settings) but emits declarations only.
  writeFileSync(
    config,
    JSON.stringify({
      extends: join(root, "tsconfig.json"),
      compilerOptions: {
        noEmit: false,
        declaration: true,
        emitDeclarationOnly: true,
        rootDir: root,
        outDir: join(scratch, "out"),
        typeRoots: [join(root, "node_modules/@types")],
      },
      include: [],
      files: TYPE_ENTRIES.map((f) => join(root, f)),
    }),
  );
  const r = spawnSync(process.execPath, [tsc, "-p", config, "--pretty", "false"], { encoding: "utf8", cwd: root });
  // tsc emits despite type errors (exit 2); collect them by file (relative to the repo) for the caller to judge.
  const errors = [...`${r.stdout}`.matchAll(/^(.+?)\((\d+),(\d+)\): error .*$/gm)].map((m) => ({ file: relative(root, resolve(root, m[1])), line: m[0] }));
  if (r.status !== 0 && errors.length === 0) throw new Error(`declaration emit failed (tsc exit ${r.status}):\n${r.stdout}${r.stderr}`);
  return errors;
}

/** Copies the declarations the entry points reach through relative imports; returns their paths (`x/y.d.ts`). */
function copyReachable(scratch) {
  const out = join(scratch, "out");
  const seen = new Set();
  const visit = (rel) => {
    if (seen.has(rel)) return;
    seen.add(rel);
    const text = readFileSync(join(out, rel), "utf8");
    for (const m of text.matchAll(RELATIVE_SPECIFIER)) {
      const target = relative(out, resolve(dirname(join(out, rel)), m[2].replace(/\.(ts|js)$/, ".d.ts")));
      visit(target);
    }
    write(rel, rewriteSpecifiers(text));
  };
  for (const entry of TYPE_ENTRIES) visit(entry.replace(/\.ts$/, ".d.ts"));
  return seen;
}

function rewriteSpecifiers(text) {
  return text.replace(RELATIVE_SPECIFIER, (_, lead, spec) => `${lead}"${spec.replace(/\.ts$/, ".js")}"`);
}

function write(rel, text) {
  const path = join(outDir, rel);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(`tsbpf: wrote ${buildTypes()} declaration files to dist/types`);
}
