// Builds the native parts with node-gyp, offline: the kernel bridge (native/bpf.c, an addon) and the compile server's
// client (native/client.c, the executable bin/tsbpf.js runs for `tsbpf build`/`check`). Three uses:
//
//   node native/build.mjs               npm's install hook: nothing to do when the package ships a prebuild that
//                                       loads here (prebuilds/<platform>-<arch>/); otherwise build from source.
//   node native/build.mjs --from-source `npm run build:native`: always build build/Release/tsbpf_bpf.node.
//   node native/build.mjs --prebuild    `npm pack` (prepack): build from source and copy both binaries into
//                                       prebuilds/, the Node-API convention (one binary serves every Node version).
// With a prebuild, install copies the prebuilt client to prebuilds/tsbpf-client (the one name bin/tsbpf.js looks
// for besides build/Release/tsbpf-client) once it has run here; a client that does not run is left out: builds then
// go through the node client (dist/server/client.cjs), slower to start, same results.
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
// Keep these in step with bin/tsbpf.js's sh lines.
const prebuiltClient = join(prebuildDir, "tsbpf-client");
const installedClient = join(root, "prebuilds", "tsbpf-client");
// Keep in step with binding.gyp's tsbpf-client target.
const CLIENT_SOURCES = ["client.c", "client-key.c", "client-start.c"];
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
// The prebuilt client is static: it runs where the prebuilt addon does not load (musl), so it is installed on its
// own; a client built from source below (build/Release/) comes first in bin/tsbpf.js.
if (mode === "--install" && existsSync(prebuiltClient)) {
  if (runs(prebuiltClient)) copyFileSync(prebuiltClient, installedClient);
  else console.log("tsbpf: the prebuilt compile-server client does not run here; `tsbpf build` uses the node client");
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
  // The client is linked statically: a dynamically linked one would need the glibc it was built with (2.34 for
  // __libc_start_main here), and a static one runs on any Linux of this architecture, musl systems included.
  const cc = spawnSync(process.env.CC || "cc", ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-static", "-s", "-o", prebuiltClient, ...CLIENT_SOURCES.map((f) => join(root, "native", f))], { stdio: "inherit" });
  if (cc.status !== 0) {
    console.warn(`tsbpf: linking the compile-server client statically failed (${cc.error?.message ?? `exit ${cc.status}`}); install libc6-dev (glibc's libc.a)`);
    process.exit(1);
  }
  console.log(`tsbpf: prebuilt ${prebuild} and ${prebuiltClient}`);
}

/** True when the executable at `path` exists and runs here (its `--probe` exits 0). */
function runs(path) {
  return existsSync(path) && spawnSync(path, ["--probe"], { stdio: "ignore" }).status === 0;
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
