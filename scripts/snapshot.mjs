// Builds the V8 start-up snapshot of `tsbpf build`/`tsbpf check` (see compiler/cli/snapshot.ts) in two steps:
//   1. bundle: compiler/cli/snapshot.ts with TypeScript into dist/snapshot/tsbpf-snapshot.cjs (needs esbuild; the
//      bundle does not depend on the Node.js version, so a published package can ship it);
//   2. blob: `node --build-snapshot` of that bundle into dist/snapshot/tsbpf-<node version>.blob (plain node).
// A blob only loads in the Node.js build that made it, so its name carries the version and bin/tsbpf.js uses it only
// when `node --version` matches; otherwise tsbpf runs without it (slower start, same results).
// Run by scripts/build.mjs; `node scripts/snapshot.mjs` rebuilds both, `node scripts/snapshot.mjs --blob-only`
// only the blob (e.g. at install time, from a shipped bundle).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from "node:fs";
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

const snapshotDir = join(root, "dist", "snapshot");
const bundlePath = join(snapshotDir, "tsbpf-snapshot.cjs");

/** Step 1: bundles the snapshot entry with TypeScript into one CommonJS script. */
export async function bundleSnapshot() {
  const { build } = await import("esbuild");
  mkdirSync(snapshotDir, { recursive: true });
  await build({
    entryPoints: [join(root, "compiler", "cli", "snapshot.ts")],
    outfile: bundlePath,
    bundle: true,
    // A snapshot's entry is one CommonJS script that may require only Node's built-in modules.
    format: "cjs",
    platform: "node",
    target: "node20",
    // V8 keeps the script's source in the heap, so in the snapshot: one byte per character (a single non-ASCII
    // character would make it a two-byte string, 27 MB instead of 14) and no whitespace. Names stay readable.
    charset: "ascii",
    minifyWhitespace: true,
    plugins: [trimLibFiles],
    logLevel: "error",
  });
}

/** Step 2: builds the blob for the running Node.js from the bundle; returns an error line, or undefined. */
export function buildBlob() {
  mkdirSync(snapshotDir, { recursive: true });
  // Blobs of other Node.js versions would be stale after a rebuild: only the current one is kept.
  for (const f of readdirSync(snapshotDir)) if (f.endsWith(".blob")) rmSync(join(snapshotDir, f));
  const blob = snapshotBlobPath(snapshotDir);
  const r = spawnSync(process.execPath, ["--snapshot-blob", blob, "--build-snapshot", bundlePath], {
    encoding: "utf8",
    env: { ...process.env, TSBPF_SNAPSHOT_STDLIB: join(root, "stdlib", "index.d.ts") },
  });
  if (r.status !== 0) {
    rmSync(blob, { force: true });
    return `the start-up snapshot was not built (tsbpf works without it, slower to start): ${(r.stderr || r.error?.message || "").trim().split("\n").slice(-3).join(" | ")}`;
  }
  return undefined;
}

/** Both steps; returns an error line, or undefined. */
export async function buildSnapshot() {
  await bundleSnapshot();
  return buildBlob();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const blobOnly = process.argv.includes("--blob-only");
  // At install time (`npm install` of the package: the bundle ships, the blob is made for the Node.js installing it)
  // a missing bundle (a git checkout before its first build) or a failed blob only costs start-up time: no failure.
  if (blobOnly && !existsSync(bundlePath)) process.exit(0);
  const problem = blobOnly ? buildBlob() : await buildSnapshot();
  if (problem && blobOnly) {
    console.warn(`tsbpf: ${problem}`);
    process.exit(0);
  }
  if (problem) {
    console.error(problem);
    process.exit(1);
  }
  console.log(`wrote ${snapshotBlobPath()}`);
}
