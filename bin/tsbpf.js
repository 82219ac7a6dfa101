#!/bin/sh
':' //; case "$1" in build|check) ;; *) exec node "$0" "$@" ;; esac
':' //; root="$(readlink -f "$0")"; root="${root%/*/*}"; here="$root/dist"
':' //; case " $* " in *" -w "*|*" --watch "*|*" --watch="*) ;; *) if [ "$TSBPF_SERVER" != 0 ]; then if [ "$TSBPF_SERVER_CLIENT" != node ]; then for c in "$root/build/Release/tsbpf-client" "$root/prebuilds/tsbpf-client"; do [ -x "$c" ] && exec "$c" "$root" "$@"; done; fi; [ -f "$here/server/client.cjs" ] && exec node "$here/server/client.cjs" "$@"; fi ;; esac
':' //; blob="$here/snapshot/tsbpf-$(node --version).blob"
':' //; [ -z "$TSBPF_NO_SNAPSHOT" ] && [ -f "$blob" ] && exec node --snapshot-blob "$blob" "$@"
':' //; exec node "$0" "$@"
// The lines above are both shell and JavaScript (`':'` is a no-op command in sh and a string in JS; the rest of each
// line is a JS comment). Run as a program, sh sends `tsbpf build`/`tsbpf check` (not --watch) to the compile server
// (compiler/server/): the native client (native/client.c: build/Release/tsbpf-client, or prebuilds/tsbpf-client that
// native/build.mjs installed) asks a warm tsbpf process for about a millisecond of CPU; without it, or with
// TSBPF_SERVER_CLIENT=node, dist/server/client.cjs (a small CommonJS file) asks with node, and it is also what starts a
// server when none runs. With TSBPF_SERVER=0 sh starts the command from the V8 start-up snapshot of the compiler
// (dist/snapshot/, built by `npm run build` for the Node.js version that runs it; see compiler/cli/snapshot.ts),
// which skips loading TypeScript and parsing its lib; everything else, or a missing snapshot, runs this file with
// node. TSBPF_NO_SNAPSHOT=1 turns the snapshot off.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const cli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
if (!existsSync(cli)) {
  process.stderr.write("tsbpf: dist/cli.js is missing; run `npm run build` in the tsbpf package first\n");
  process.exit(2);
}
const command = process.argv[2];
const client = fileURLToPath(new URL("../dist/server/client.cjs", import.meta.url));
const watch = process.argv.some((a) => a === "-w" || a === "--watch" || a.startsWith("--watch="));
if ((command === "build" || command === "check") && !watch && process.env.TSBPF_SERVER !== "0" && existsSync(client)) {
  // `node bin/tsbpf.js build ...` bypasses the shell lines: the client reads process.argv as when it is run itself.
  createRequire(import.meta.url)(client);
} else {
  // A second node from the snapshot still starts ~0.4 s sooner than loading TypeScript here.
  const blob = fileURLToPath(new URL(`../dist/snapshot/tsbpf-${process.version}.blob`, import.meta.url));
  if ((command === "build" || command === "check") && !process.env.TSBPF_NO_SNAPSHOT && existsSync(blob)) {
    const r = spawnSync(process.execPath, ["--snapshot-blob", blob, ...process.argv.slice(2)], { stdio: "inherit" });
    process.exit(r.status ?? 1);
  }
  await import(cli);
}
