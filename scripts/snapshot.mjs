// Builds the V8 start-up snapshot of `tsbpf build`/`tsbpf check` (see compiler/cli/snapshot.ts) in two steps:
//   1. bundle: compiler/cli/snapshot.ts into dist/snapshot/tsbpf-snapshot-entry.cjs with TypeScript left out (needs
//      esbuild; the bundle does not depend on the Node.js version, so a published package can ship it, and TypeScript
//      is already in the package's dependency @ts-morph/common: shipping it twice made the tarball 10x larger);
//   2. blob: dist/snapshot/make-blob.cjs (plain node) joins that bundle and the installed @ts-morph/common's
//      typescript.js into one script (a snapshot's entry may require only Node's built-ins) and runs
//      `node --build-snapshot` on it, writing dist/snapshot/tsbpf-<node version>.blob.
// A blob only loads in the Node.js build that made it, so its name carries the version and bin/tsbpf.js uses it only
// when `node --version` matches; otherwise tsbpf runs without it (slower start, same results).
// Run by scripts/build.mjs; `node scripts/snapshot.mjs` rebuilds both. `npm install` of the published package runs
// step 2 (the bundle ships; the blob is made for the installing Node.js from the TypeScript installed with it).
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Path of the snapshot blob for the running Node.js (bin/tsbpf.js computes the same name). */
export function snapshotBlobPath(dir = join(root, "dist", "snapshot")) {
  return join(dir, `tsbpf-${process.version}.blob`);
}

/** The lib files DSL programs are checked against (compiler/frontend/project.ts: `lib: ["lib.es2022.d.ts"]`). */
const ROOT_LIB = "lib.es2022.d.ts";

/**
 * esbuild plugin: @ts-morph/common embeds every lib.*.d.ts as a string literal (dom and webworker alone are 5 MB), and
 * V8 would keep each twice in the snapshot (in the script source and as a string). Only the closure of ROOT_LIB stays
 * inline; the others (reachable only through a user's `/// <reference lib="..." />`) become getters that load the
 * installed package's copy when first read.
 */
const trimLibFiles = {
  name: "tsbpf-trim-lib-files",
  setup(b) {
    b.onLoad({ filter: /[\\/]@ts-morph[\\/]common[\\/]dist[\\/]ts-morph-common\.js$/ }, (args) => {
      const src = readFileSync(args.path, "utf8");
      const start = src.indexOf("const libFiles = [");
      const end = src.indexOf("];\n", start);
      if (start < 0 || end < 0) throw new Error("@ts-morph/common changed: no `const libFiles = [...]` to trim");
      const libFiles = new Function(`${src.slice(start, end + 2)}\nreturn libFiles;`)();
      const texts = new Map(libFiles.map((f) => [f.fileName, f.text]));
      const keep = new Set();
      const visit = (name) => {
        if (keep.has(name) || !texts.has(name)) return;
        keep.add(name);
        for (const m of texts.get(name).matchAll(/<reference lib="([^"]+)"/g)) visit(`lib.${m[1]}.d.ts`);
      };
      visit(ROOT_LIB);
      const entries = libFiles.map((f) =>
        keep.has(f.fileName)
          ? JSON.stringify(f)
          : `{ fileName: ${JSON.stringify(f.fileName)}, get text() { return tsbpfInstalledLibText(${JSON.stringify(f.fileName)}); } }`,
      );
      const lazy = `
function tsbpfInstalledLibText(name) {
  const at = process.execArgv.indexOf("--snapshot-blob");
  const from = at >= 0 ? require("node:path").resolve(process.execArgv[at + 1]) : __filename;
  const common = require("node:module").createRequire(from)("@ts-morph/common");
  return common.getLibFiles().find((f) => f.fileName === name).text;
}
`;
      return { contents: `${src.slice(0, start)}const libFiles = [${entries.join(",\n")}];${src.slice(end + 2)}${lazy}`, loader: "js" };
    });
  },
};

/**
 * The id under which the shipped bundle asks for TypeScript: @ts-morph/common's `require('./typescript')` is left
 * out of the bundle under this name, and make-blob.cjs's prelude answers it with the installed typescript.js.
 */
const TYPESCRIPT_ID = "@ts-morph/common/dist/typescript.js";

/** esbuild plugin: @ts-morph/common's TypeScript stays out of the bundle (make-blob.cjs adds the installed one). */
const leaveOutTypeScript = {
  name: "tsbpf-leave-out-typescript",
  setup(b) {
    b.onResolve({ filter: /^\.\/typescript$/ }, (args) =>
      /[\\/]@ts-morph[\\/]common[\\/]dist[\\/]/.test(args.importer) ? { path: TYPESCRIPT_ID, external: true } : undefined,
    );
  },
};

const snapshotDir = join(root, "dist", "snapshot");
const bundlePath = join(snapshotDir, "tsbpf-snapshot-entry.cjs");

/** Step 1: bundles the snapshot entry, without TypeScript, into one CommonJS script (plus make-blob.cjs). */
export async function bundleSnapshot() {
  const { build } = await import("esbuild");
  mkdirSync(snapshotDir, { recursive: true });
  // The bundle of earlier builds held TypeScript under this name; make-blob.cjs writes (and removes) it now.
  rmSync(join(snapshotDir, "tsbpf-snapshot.cjs"), { force: true });
  const result = await build({
    entryPoints: [join(root, "compiler", "cli", "snapshot.ts")],
    outfile: bundlePath,
    bundle: true,
    // A snapshot's entry is one CommonJS script that may require only Node's built-in modules (make-blob.cjs
    // provides TypeScript).
    format: "cjs",
    platform: "node",
    target: "node20",
    // V8 keeps the script's source in the heap, so in the snapshot: one byte per character (a single non-ASCII
    // character would make it a two-byte string, twice the size) and no whitespace. Names stay readable.
    charset: "ascii",
    minifyWhitespace: true,
    plugins: [trimLibFiles, leaveOutTypeScript],
    metafile: true,
    logLevel: "error",
  });
  const inputs = Object.keys(result.metafile.inputs);
  if (inputs.some((p) => /@ts-morph[\\/]common[\\/]dist[\\/]typescript\.js$/.test(p))) {
    throw new Error("the snapshot bundle still holds TypeScript (@ts-morph/common no longer requires './typescript'?)");
  }
  writeFileSync(join(snapshotDir, "make-blob.cjs"), MAKE_BLOB);
}

/**
 * Step 2's script, written next to the bundle so that the published package (which ships dist/, not scripts/) can
 * make the blob at install time: `node dist/snapshot/make-blob.cjs` builds tsbpf-<node version>.blob for the Node.js
 * running it. Exit 1 with a one-line warning when that fails; tsbpf then only starts slower.
 */
const MAKE_BLOB = `"use strict";
// Generated by scripts/snapshot.mjs. Builds the start-up snapshot blob of tsbpf build/check for this Node.js from
// tsbpf-snapshot-entry.cjs (the compiler, shipped) and the typescript.js of the installed @ts-morph/common.
const { spawnSync } = require("node:child_process");
const { readFileSync, readdirSync, rmSync, writeFileSync } = require("node:fs");
const { createRequire } = require("node:module");
const { dirname, join } = require("node:path");

/**
 * One script from the two parts: Node 20's --build-snapshot entry can only require built-in modules, so TypeScript's
 * text runs inline in a CommonJS-like wrapper and the bundle's require() answers ${JSON.stringify(TYPESCRIPT_ID)} with it.
 */
function assemble(entry, typescript) {
  // V8 keeps the source in the snapshot: a non-ASCII character would store all of it two bytes per character.
  // \\uXXXX means the same code unit in strings, regular expressions, identifiers and comments.
  const ascii = typescript.replace(/[^\\x00-\\x7f]/g, (c) => "\\\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
  return (
    "var tsbpfInstalledTypeScript=(function(){var module={exports:{}};(function(exports,module){\\n" + ascii +
    "\\n})(module.exports,module);return module.exports})();\\n" +
    "(function(require){" + entry + "\\n})(function(id){return id===" + ${JSON.stringify(JSON.stringify(TYPESCRIPT_ID))} +
    "?tsbpfInstalledTypeScript:require(id)});\\n"
  );
}

// Blobs of other Node.js versions would be stale: only the current one is kept.
for (const f of readdirSync(__dirname)) if (f.endsWith(".blob")) rmSync(join(__dirname, f));
const blob = join(__dirname, "tsbpf-" + process.version + ".blob");
const script = join(__dirname, "tsbpf-snapshot.cjs");
let problem;
try {
  // The TypeScript the compiler runs with when there is no snapshot: @ts-morph/common's, resolved from here.
  const common = createRequire(__filename).resolve("@ts-morph/common");
  const typescript = readFileSync(join(dirname(common), "typescript.js"), "utf8");
  writeFileSync(script, assemble(readFileSync(join(__dirname, "tsbpf-snapshot-entry.cjs"), "utf8"), typescript));
  const r = spawnSync(process.execPath, ["--snapshot-blob", blob, "--build-snapshot", script], {
    encoding: "utf8",
    env: { ...process.env, TSBPF_SNAPSHOT_STDLIB: join(__dirname, "..", "..", "stdlib", "index.d.ts") },
  });
  if (r.status !== 0) problem = String(r.stderr || (r.error && r.error.message) || "exit " + r.status);
} catch (e) {
  problem = String((e && e.message) || e);
}
// The assembled script is TypeScript plus the bundle (8 MB) and only needed while the blob is built.
rmSync(script, { force: true });
if (problem !== undefined) {
  rmSync(blob, { force: true });
  const why = problem.trim().split("\\n").slice(-3).join(" | ");
  console.warn("tsbpf: the start-up snapshot was not built (tsbpf works without it, slower to start): " + why);
  process.exitCode = 1;
}
`;

/** Step 2: builds the blob for the running Node.js from the bundle; returns an error line, or undefined. */
export function buildBlob() {
  const r = spawnSync(process.execPath, [join(snapshotDir, "make-blob.cjs")], { encoding: "utf8" });
  return r.status === 0 ? undefined : (r.stderr || r.error?.message || "").trim().replace(/^tsbpf: /, "");
}

/** Both steps; returns an error line, or undefined. */
export async function buildSnapshot() {
  await bundleSnapshot();
  return buildBlob();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const problem = await buildSnapshot();
  if (problem) {
    console.error(problem);
    process.exit(1);
  }
  console.log(`wrote ${snapshotBlobPath()}`);
}
