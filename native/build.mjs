// Builds the native kernel bridge (native/bpf.c) with node-gyp, offline. Three uses:
//
//   node native/build.mjs               npm's install hook: nothing to do when the package ships a prebuild that
//                                       loads here (prebuilds/<platform>-<arch>/); otherwise build from source.
//   node native/build.mjs --from-source `npm run build:native`: always build build/Release/tsbpf_bpf.node.
//   node native/build.mjs --prebuild    `npm pack` (prepack): build from source and copy the binary into
//                                       prebuilds/, the Node-API convention (one binary serves every Node version).
//   node native/build.mjs --clean-prebuild  `npm pack` (postpack): remove prebuilds/ again, so a clone keeps
//                                       loading what it builds from source.
//
// node-gyp needs Node's C headers; by default it downloads them, which fails without network. Node installs (distro
// packages and the official tarballs alike) ship them next to the binary, in <prefix>/include/node, so point
// node-gyp there when they exist and no nodedir is set.
// A failed install-time build does not fail the install: the compiler and the VM work without the addon, and
// openKernel() says what to install and to run `npm rebuild tsbpf`. TSBPF_NATIVE_REQUIRED=1 makes the failure fatal
// (CI on kernel-capable machines), and so does --prebuild (a package must not ship without its binary).
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
// Keep these two names in step with runtime/kernel/native.ts (PREBUILD_FILE, ADDON_FILE).
const prebuildDir = join(root, "prebuilds", `${process.platform}-${process.arch}`);
const prebuild = join(prebuildDir, "tsbpf_bpf.napi.glibc.node");
const built = join(root, "build/Release/tsbpf_bpf.node");
const REMEDY = "install gcc, make and python3 (e.g. `apt-get install gcc make python3`), then run `npm rebuild tsbpf`";

const mode = process.argv[2] ?? "--install";
if (mode === "--clean-prebuild") {
  rmSync(join(root, "prebuilds"), { recursive: true, force: true });
  process.exit(0);
}
if (process.platform !== "linux") {
  console.log("tsbpf: the kernel bridge is Linux-only; skipping the native build");
  process.exit(0);
}
if (mode === "--install" && loads(prebuild)) {
  console.log(`tsbpf: using the prebuilt kernel bridge ${join("prebuilds", `${process.platform}-${process.arch}`, "tsbpf_bpf.napi.glibc.node")}`);
  process.exit(0);
}

const r = nodeGyp(["rebuild"]);
if (r.status !== 0) {
  const why = r.error ? r.error.message : `node-gyp exited with ${r.status}`;
  console.warn(`tsbpf: building the native kernel bridge failed (${why}); the kernel loader will be unavailable.`);
  console.warn(`tsbpf: to use it, ${REMEDY} (see docs/attach.md).`);
  process.exit(mode === "--prebuild" || process.env.TSBPF_NATIVE_REQUIRED === "1" ? 1 : 0);
}
if (mode === "--prebuild") {
  mkdirSync(prebuildDir, { recursive: true });
  copyFileSync(built, prebuild);
  console.log(`tsbpf: prebuilt ${prebuild}`);
}

/** True when `path` exists and Node can load it (a prebuild for another libc or a newer glibc cannot). */
function loads(path) {
  if (!existsSync(path)) return false;
  try {
    createRequire(import.meta.url)(path);
    return true;
  } catch (err) {
    console.log(`tsbpf: the prebuilt kernel bridge does not load here (${String(err.message).split("\n")[0]}); building from source`);
    return false;
  }
}

function nodeGyp(args) {
  const env = { ...process.env };
  const prefix = dirname(dirname(process.execPath));
  const gypArgs = [...args];
  if (!env.npm_config_nodedir && existsSync(join(prefix, "include/node/node_api.h"))) {
    delete env.npm_config_nodedir; // an empty value would still win over the flag
    gypArgs.push(`--nodedir=${prefix}`);
  }
  // npm exposes its bundled node-gyp; outside npm, look for npm's copy next to Node, then for one on PATH.
  const bundled = join(prefix, "lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js");
  const gyp = env.npm_config_node_gyp || (existsSync(bundled) ? bundled : undefined);
  const opts = { stdio: "inherit", env, cwd: root };
  return gyp ? spawnSync(process.execPath, [gyp, ...gypArgs], opts) : spawnSync("node-gyp", gypArgs, opts);
}
