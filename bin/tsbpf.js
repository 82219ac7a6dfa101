#!/bin/sh
':' //; case "$1" in build|check) ;; *) exec node "$0" "$@" ;; esac
':' //; blob="$(dirname "$(readlink -f "$0")")/../dist/snapshot/tsbpf-$(node --version).blob"
':' //; [ -z "$TSBPF_NO_SNAPSHOT" ] && [ -f "$blob" ] && exec node --snapshot-blob "$blob" "$@"
':' //; exec node "$0" "$@"
// The lines above are both shell and JavaScript (`':'` is a no-op command in sh and a string in JS; the rest of each
// line is a JS comment). Run as a program, sh starts `tsbpf build`/`tsbpf check` from the V8 start-up snapshot of the
// compiler (dist/snapshot/, built by `npm run build` for the Node.js version that runs it; see
// compiler/cli/snapshot.ts), which skips loading TypeScript and parsing its lib; everything else, or a missing
// snapshot, runs this file with node. TSBPF_NO_SNAPSHOT=1 turns the snapshot off.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const cli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
if (!existsSync(cli)) {
  process.stderr.write("tsbpf: dist/cli.js is missing; run `npm run build` in the tsbpf package first\n");
  process.exit(2);
}
// `node bin/tsbpf.js build ...` bypasses the shell lines: a second node from the snapshot still starts ~0.4 s sooner
// than loading TypeScript here.
const blob = fileURLToPath(new URL(`../dist/snapshot/tsbpf-${process.version}.blob`, import.meta.url));
const command = process.argv[2];
if ((command === "build" || command === "check") && !process.env.TSBPF_NO_SNAPSHOT && existsSync(blob)) {
  const r = spawnSync(process.execPath, ["--snapshot-blob", blob, ...process.argv.slice(2)], { stdio: "inherit" });
  process.exit(r.status ?? 1);
}
await import(cli);
