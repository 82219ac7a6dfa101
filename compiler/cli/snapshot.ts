/**
 * Entry of the V8 start-up snapshot of `tsbpf build` / `tsbpf check` (built by scripts/snapshot.mjs with
 * `node --build-snapshot`, used by bin/tsbpf.js as `node --snapshot-blob BLOB build ...`).
 *
 * A cold `tsbpf build` spent ~0.7 s of CPU before compiling anything: compiling TypeScript's 9 MB of JavaScript, then
 * parsing and binding lib.es2022.d.ts and its references. Here that happens once, when the snapshot is built: this
 * module loads the compiler with TypeScript inlined (dist/snapshot/make-blob.cjs joins the installed typescript.js and
 * this module's bundle into one script), compiles a warm-up file (so the lib and the stdlib are parsed
 * and bound in the front end's cache, and the compiler's functions have bytecode), and the heap is saved. A process
 * started from the snapshot begins with all of that in memory and only checks and compiles the user's file.
 *
 * Only build and check run from the snapshot, and the compile server (compiler/server/; bin/tsbpf.js routes only
 * those here; this file exports nothing, as a snapshot entry is a plain script): the other commands do not load
 * TypeScript. The kernel addon (`--target-kernel host`) cannot be part of a snapshot; it loads after start-up, found
 * from the package root next to the blob.
 */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import v8 from "node:v8";
import { compile } from "../index.ts";
import { setStdlibPath } from "../frontend/project.ts";
import { setAddonSearchRoot } from "../../runtime/kernel/native.ts";
import { main } from "./dispatch.ts";
import { SERVE_FLAG } from "../server/protocol.ts";
import { tuneOneShot } from "./one-shot.ts";
import { serve } from "../server/server.ts";
import "./build.ts";
import "./watch.ts";
import "./check.ts";

/** A file that touches most of the front end, back end and verifier (maps, sockets, addresses, loops, helpers). */
const WARM_UP = `import {
  type SkLookup, type Verdict, type u16, type u32, SK_PASS, SK_DROP, SockMap, SockHash, HashMap, ArrayMap, LpmTrie,
  AF_INET6, IPPROTO_TCP, ip4, ip6, cidr4, cidr6, trace,
} from "tsbpf";
interface Key { prefixLen: u32; protocol: u16; port: u16; addr: u32 }
export const sockets = new SockMap({ maxEntries: 4 });
export const labels = new SockHash<u32>({ maxEntries: 8 });
export const ports = new HashMap<u16, u32>({ maxEntries: 8 });
export const hits = new ArrayMap<bigint>({ maxEntries: 8 });
export const bindings = new LpmTrie<Key, u32>({ maxEntries: 16 });
const SERVICE = ip6("fd00::1");
const RANGE = cidr6("fd00:1::/64");
const NET = cidr4("192.0.2.0/24");
export function warm_a(ctx: SkLookup): Verdict {
  if (ctx.localPort !== 7007 && ctx.protocol !== IPPROTO_TCP) return SK_PASS;
  for (const p of [22, 80] as const) if (ctx.localPort === p) return SK_DROP;
  if (ctx.family === AF_INET6 && !ctx.localIp6.equals(SERVICE) && !RANGE.has(ctx.localIp6)) return SK_PASS;
  if (ctx.localIp4 === ip4("127.0.0.1") || NET.has(ctx.localIp4)) trace("hit %d", ctx.localPort);
  const sk = sockets.lookup(ctx.localPort % 4);
  if (sk === null) return SK_PASS;
  return ctx.assign(sk) === 0 ? SK_PASS : SK_DROP;
}
export function warm_b(ctx: SkLookup): Verdict {
  const label = bindings.lookup({ prefixLen: 64, protocol: ctx.protocol, port: ctx.localPort, addr: ctx.localIp4 });
  if (label === null) return SK_PASS;
  const id: u32 = label;
  hits.increment(id);
  const mapped = ports.lookup(ctx.localPort);
  const sk = labels.lookup(mapped === null ? id : mapped);
  if (sk === null) return SK_DROP;
  return ctx.assign(sk) === 0 ? SK_PASS : SK_DROP;
}
`;

/** stdlib/index.d.ts of the package whose dist/snapshot/ holds `blob` (the checkout may have moved since the build). */
function stdlibNextTo(blob: string | undefined): string | undefined {
  if (!blob) return undefined;
  const candidate = resolve(dirname(blob), "..", "..", "stdlib", "index.d.ts");
  return existsSync(candidate) ? candidate : undefined;
}

const buildStdlib = process.env.TSBPF_SNAPSHOT_STDLIB;
if (!buildStdlib) throw new Error("scripts/snapshot.mjs sets TSBPF_SNAPSHOT_STDLIB to the stdlib it builds against");
setStdlibPath(buildStdlib);
const warm = compile({ fileName: join(dirname(buildStdlib), "snapshot-warm-up.ts"), source: WARM_UP }, { dump: ["asm"] });
if (!warm.object) throw new Error(`the snapshot's warm-up file does not compile: ${JSON.stringify(warm.diagnostics[0])}`);

v8.startupSnapshot.setDeserializeMainFunction(async () => {
  const blobAt = process.execArgv.indexOf("--snapshot-blob");
  const stdlib = stdlibNextTo(blobAt >= 0 ? process.execArgv[blobAt + 1] : undefined) ?? buildStdlib;
  setStdlibPath(stdlib);
  // The package root (stdlib/..): where --target-kernel host finds the kernel addon.
  setAddonSearchRoot(dirname(dirname(stdlib)));
  // Started as `node --snapshot-blob BLOB ARGS...`: there is no script in argv.
  const argv = process.argv.slice(1);
  // The compile server (compiler/server/) starts from here too: warm from its first request.
  if (argv[0] === SERVE_FLAG) await serve({ socket: argv[1]!, key: argv[2]!, root: argv[3]!, run: main });
  else {
    tuneOneShot(argv);
    process.exitCode = await main(argv);
  }
});
