// Bundles the TypeScript sources into dist/ so the CLI and the package entry points run on plain Node 20.
// @ts-morph/common (TypeScript) stays external: it is large and installed as a dependency.
import { build } from "esbuild";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join, relative } from "node:path";
import { requireTypeScript } from "./esbuild-require-ts.mjs";
import { buildSnapshot } from "./snapshot.mjs";

const entries = {
  cli: "compiler/cli/main.ts",
  compiler: "compiler/index.ts",
  runtime: "runtime/index.ts",
  esbuild: "compiler/esbuild-plugin.ts",
  testing: "runtime/testing/index.ts",
};
const entryPoints = Object.fromEntries(Object.entries(entries).filter(([, p]) => existsSync(p)));
const result = await build({
  entryPoints,
  outdir: "dist",
  bundle: true,
  // Shared code goes into chunks loaded on demand, so `tsbpf objdump`/`run x.o` never load ts-morph.
  splitting: true,
  chunkNames: "chunks/[name]-[hash]",
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: true,
  packages: "external",
  logLevel: "warning",
  metafile: true,
  plugins: [requireTypeScript],
});

// Chunk names carry content hashes, so each build leaves the previous build's chunks behind; remove those (after
// writing, so a CLI started meanwhile still finds its chunks) to keep the package free of dead files.
const written = new Set(Object.keys(result.metafile.outputs).map((p) => relative("dist", p)));
for (const file of readdirSync("dist/chunks")) {
  const rel = join("chunks", file);
  if (!written.has(rel)) rmSync(join("dist", rel));
}

// The compile server's client (compiler/server/client.ts): one small CommonJS file that plain `node` starts on every
// `tsbpf build`/`check` (no ESM loader, no TypeScript, no snapshot); only Node's built-ins are left outside.
await build({
  entryPoints: ["compiler/server/client-main.ts"],
  outfile: "dist/server/client.cjs",
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  logLevel: "warning",
});

// Declarations for every export path (dist/types/), so consumers type-check .d.ts files, not our sources.
const { buildTypes } = await import("./build-types.mjs");
buildTypes();

// The start-up snapshot of `tsbpf build`/`check` (scripts/snapshot.mjs); without it the CLI still works, slower.
const snapshotProblem = await buildSnapshot();
if (snapshotProblem) console.warn(`tsbpf: ${snapshotProblem}`);
