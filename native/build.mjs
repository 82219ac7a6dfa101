// npm install hook: builds native/bpf.c with node-gyp, offline. node-gyp needs Node's C headers; by default it
// downloads them, which fails without network. Node installs (distro packages and the official tarballs alike) ship
// them next to the binary, in <prefix>/include/node, so point node-gyp there when they exist and no nodedir is set.
// A failed build does not fail the install: the compiler and the VM work without the addon, and openKernel() says
// that the addon is missing. Set TSBPF_NATIVE_REQUIRED=1 to make the failure fatal (CI on kernel-capable machines).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

if (process.platform !== "linux") {
  console.log("tsbpf: the kernel bridge is Linux-only; skipping the native build");
  process.exit(0);
}
const args = ["rebuild"];
const env = { ...process.env };
const prefix = dirname(dirname(process.execPath));
if (!env.npm_config_nodedir && existsSync(join(prefix, "include/node/node_api.h"))) {
  delete env.npm_config_nodedir; // an empty value would still win over the flag
  args.push(`--nodedir=${prefix}`);
}
// npm exposes its bundled node-gyp; outside npm, look for npm's copy next to Node, then for one on PATH.
const bundled = join(prefix, "lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js");
const gyp = env.npm_config_node_gyp || (existsSync(bundled) ? bundled : undefined);
const opts = { stdio: "inherit", env };
const r = gyp ? spawnSync(process.execPath, [gyp, ...args], opts) : spawnSync("node-gyp", args, opts);
if (r.status !== 0) {
  const why = r.error ? r.error.message : `node-gyp exited with ${r.status}`;
  console.warn(`tsbpf: building the native kernel bridge failed (${why}); the kernel loader will be unavailable.`);
  console.warn("tsbpf: it needs gcc, make, python3 and Node's headers (see docs/attach.md); retry with `npm run build:native`.");
  process.exit(process.env.TSBPF_NATIVE_REQUIRED === "1" ? 1 : 0);
}
