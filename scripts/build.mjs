// Bundles the TypeScript sources into dist/ so the CLI and the package entry points run on plain Node 20.
// ts-morph/typescript stay external: they are large and already installed as dependencies.
import { build } from "esbuild";
import { existsSync } from "node:fs";

const entries = {
  cli: "compiler/cli/main.ts",
  compiler: "compiler/index.ts",
  runtime: "runtime/index.ts",
  esbuild: "compiler/esbuild-plugin.ts",
  testing: "runtime/testing/index.ts",
};
const entryPoints = Object.fromEntries(Object.entries(entries).filter(([, p]) => existsSync(p)));
await build({
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
});
