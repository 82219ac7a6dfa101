#!/usr/bin/env node
// Thin launcher: the CLI lives in dist/cli.js, built from compiler/cli/main.ts by `npm run build` (run by `npm install`).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
const cli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
if (!existsSync(cli)) {
  process.stderr.write("tsbpf: dist/cli.js is missing; run `npm run build` in the tsbpf package first\n");
  process.exit(2);
}
await import(cli);
