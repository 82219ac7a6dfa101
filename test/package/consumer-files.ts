/**
 * The files of the consumer project that test/package/consumer.test.ts installs tsbpf into: a handler, app code
 * bundled by esbuild (the documented `?object` import, compile(), loadObject().run(), formatDiagnostics), a vitest
 * file using tsbpf/testing, and small scripts. Written the way the README tells a user to.
 */

/** A handler with a socket map and a u64 counter (the counter checks that 64-bit values read back as bigint). */
const HANDLER = `import { type SkLookup, type Verdict, type u64, SK_PASS, SK_DROP, SockMap, ArrayMap } from "tsbpf";

export const sockets = new SockMap({ maxEntries: 4 });
export const hits = new ArrayMap<u64>({ maxEntries: 1 });

export function redirect(ctx: SkLookup): Verdict {
  if (ctx.localPort !== 7007) return SK_PASS;
  hits.increment(0);
  const sk = sockets.lookup(0);
  if (sk === null) return SK_PASS;
  return ctx.assign(sk) === 0 ? SK_PASS : SK_DROP;
}
`;

/** App code: bundled by build.mjs; its default export is what run.mjs prints. Needs no @types/node. */
const APP = `import handler from "./handler.bpf.ts?object";
import { compile, formatDiagnostics } from "tsbpf/compiler";
import { loadObject } from "tsbpf/runtime";

// The bundle lives in out/, next to which the handler's source is ../handler.bpf.ts.
const result = compile({ fileName: new URL("../handler.bpf.ts", import.meta.url).pathname });
const same = result.object !== undefined && result.object.length === handler.length && result.object.every((b, i) => b === handler[i]);

const obj = loadObject(handler);
obj.map("sockets").set(0, { name: "A", family: "inet", protocol: "tcp", state: "listen", ip: "127.0.0.1", port: 1234 });
const r = obj.run("redirect", { family: "inet", protocol: "tcp", remoteIp: "127.0.0.2", remotePort: 9, localIp: "127.0.0.1", localPort: 7007 });
const hits: bigint | null = obj.map("hits").get<bigint>(0);

const bad = 'import { readFileSync } from "node:fs";\\n';
const rejected = compile({ fileName: "handler.bpf.ts", source: bad });

export default {
  compiled: { programs: result.programs.map((p) => p.name), diagnostics: result.diagnostics.map((d) => d.code), sameAsBundled: same },
  bundled: { verdict: r.verdict, selected: r.selected?.name ?? null, hits: String(hits), hitsType: typeof hits },
  formatted: formatDiagnostics(rejected.diagnostics, bad),
};
`;

const BUILD = `import { build } from "esbuild";
import tsbpf from "tsbpf/esbuild";

await build({
  entryPoints: ["app.ts"],
  bundle: true,
  outfile: "out/app.mjs",
  format: "esm",
  platform: "node",
  packages: "external",
  plugins: [tsbpf()],
  logLevel: "error",
});
await import("node:fs").then((fs) => fs.writeFileSync("out/run.mjs", 'import summary from "./app.mjs";\\nconsole.log(JSON.stringify(summary));\\n'));
`;

const VITEST_FILE = `import { expect, test } from "vitest";
import { handler, installMatchers } from "tsbpf/testing";

installMatchers(expect);

test("port 7007 goes to A and is counted", async () => {
  const h = await handler(new URL("./handler.bpf.ts", import.meta.url));
  h.map("sockets").set(0, h.socket({ name: "A", ip: "127.0.0.1", port: 1234 }));
  expect(h.lookup("tcp 127.0.0.2:40000 -> 127.0.0.1:7007")).toSelect("A");
  const hits: bigint | null = h.map("hits").get<bigint>(0);
  expect(hits).toBe(1n);
});

test("other ports continue to the regular lookup, uncounted", async () => {
  const h = await handler(new URL("./handler.bpf.ts", import.meta.url));
  expect(h.run("tcp 127.0.0.2:40000 -> 127.0.0.1:80")).toPass();
  expect(h.map("hits").get(0)).toBe(0n);
});
`;

/** Every export path's declarations, referenced from code that uses no Node globals (checked with types: []). */
const API_TYPES = `import type { compile, CompileResult, Diagnostic, DiagnosticSources } from "tsbpf/compiler";
import type { loadObject, openKernel, VmObject, MapData, SocketLike } from "tsbpf/runtime";
import type { handler, Handler, MapView } from "tsbpf/testing";
import type tsbpf from "tsbpf/esbuild";
import type { SkLookup } from "tsbpf";
import type handlerObject from "./handler.bpf.ts?object";

export type Api = [typeof compile, CompileResult, Diagnostic, DiagnosticSources, typeof loadObject, typeof openKernel, VmObject, MapData, SocketLike, typeof handler, Handler, MapView, typeof tsbpf, SkLookup, typeof handlerObject];
`;

const KERNEL = `import { openKernel } from "tsbpf/runtime";
try {
  openKernel();
  console.log("ok");
} catch (e) {
  console.log(e.name + ": " + e.message);
}
`;

/** File name → text, written into the consumer project's root. */
export const CONSUMER_FILES: Record<string, string> = {
  "handler.bpf.ts": HANDLER,
  "app.ts": APP,
  "build.mjs": BUILD,
  "handler.test.ts": VITEST_FILE,
  "kernel.mjs": KERNEL,
  "api-types.ts": API_TYPES,
};

/** A consumer tsconfig: strict + exactOptionalPropertyTypes, no skipLibCheck, the given resolution, types and files. */
export function tsconfig(resolution: "nodenext" | "bundler", types: string[], include: string[]): string {
  const module = resolution === "nodenext" ? "nodenext" : "esnext";
  return JSON.stringify({
    compilerOptions: {
      target: "es2022",
      lib: ["es2022"],
      module,
      moduleResolution: resolution,
      strict: true,
      exactOptionalPropertyTypes: true,
      noEmit: true,
      types,
    },
    include,
  });
}

/**
 * The consumer's package-lock.json: tsbpf from the tarball, and ts-morph with its dependencies at the versions,
 * integrities and registry addresses of the repo's own lock. With a lock npm needs no registry metadata, so
 * `npm install --offline` takes the tarballs from npm's cache (the repo's install put them there, by integrity).
 */
export function consumerLock(repoLock: { packages: Record<string, Record<string, unknown>> }, tarball: string, pkg: Record<string, unknown>, registry: string): string {
  const deps: Record<string, Record<string, unknown>> = {};
  const todo = Object.keys((pkg.dependencies ?? {}) as Record<string, string>);
  while (todo.length) {
    const name = todo.pop()!;
    const key = `node_modules/${name}`;
    if (deps[key]) continue;
    const entry = repoLock.packages[key];
    if (!entry) throw new Error(`${name} is not in the repo's package-lock.json`);
    const { dev: _dev, peer: _peer, ...kept } = entry;
    const base = name.split("/").pop()!;
    deps[key] = { ...kept, resolved: kept.resolved ?? `${registry.replace(/\/$/, "")}/${name}/-/${base}-${String(kept.version)}.tgz` };
    todo.push(...Object.keys((entry.dependencies ?? {}) as Record<string, string>));
  }
  const own = ["version", "license", "dependencies", "peerDependencies", "peerDependenciesMeta", "bin", "engines"];
  const tsbpf = Object.fromEntries(own.filter((k) => pkg[k] !== undefined).map((k) => [k, pkg[k]]));
  return JSON.stringify({
    name: "app",
    lockfileVersion: 3,
    requires: true,
    packages: {
      "": { name: "app", dependencies: { tsbpf: `file:${tarball}` } },
      "node_modules/tsbpf": { ...tsbpf, resolved: `file:${tarball}`, hasInstallScript: true },
      ...deps,
    },
  });
}
