/**
 * The package as a user gets it: a clean copy of the sources is packed (`npm pack`, which runs prepack = the
 * native prebuild and prepare = dist/ + declarations), the tarball is installed into an empty project with
 * `npm install --offline` (its dependency ts-morph comes from npm's cache, filled by the repo's own install), and
 * the project uses it the documented ways: the CLI, compile(), loadObject().run(), a vitest file with
 * tsbpf/testing, an esbuild bundle importing a handler as `./x.bpf.ts?object`, openKernel() on the prebuild, and
 * `tsc --noEmit` (strict + exactOptionalPropertyTypes, no skipLibCheck) under moduleResolution nodenext and bundler.
 * typescript, vitest, esbuild and @types/node are the repo's own, linked in: nothing is downloaded.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { kernelUnavailableReason } from "../support/kernel.ts";
import { CONSUMER_FILES, consumerLock, tsconfig } from "./consumer-files.ts";

const ROOT = join(import.meta.dirname, "../..");
const TSC = join(ROOT, "node_modules/typescript/bin/tsc");
const VITEST = join(ROOT, "node_modules/vitest/vitest.mjs");

/** The environment of the child processes: ours without vitest's worker variables (the inner vitest is its own run). */
const ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("VITEST") && k !== "NODE_OPTIONS"));

/** Runs a command; returns exit code and output (never throws, so assertions show what went wrong). */
function sh(cmd: string, args: string[], cwd: string, env: Record<string, string | undefined> = {}) {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", env: { ...ENV, ...env }, timeout: 180_000 });
  return { code: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "", error: r.error?.message };
}

const work = mkdtempSync(join(tmpdir(), "tsbpf-consumer-"));
const src = join(work, "tsbpf");
const app = join(work, "app");
let tarball = "";
let tarballFiles: string[] = [];
let install: ReturnType<typeof sh>;
afterAll(() => rmSync(work, { recursive: true, force: true }));

beforeAll(() => {
  // A clean checkout: what git tracks (plus new files not yet committed), no dist/, build/ or prebuilds/.
  const files = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: ROOT }).toString().split("\0");
  for (const f of files) {
    if (!f || !existsSync(join(ROOT, f))) continue;
    mkdirSync(dirname(join(src, f)), { recursive: true });
    copyFileSync(join(ROOT, f), join(src, f));
  }
  symlinkSync(join(ROOT, "node_modules"), join(src, "node_modules")); // the build tools (esbuild, typescript)
  const pack = sh("npm", ["pack", "--pack-destination", work, "--loglevel=error"], src);
  if (pack.code !== 0) throw new Error(`npm pack failed (${pack.code}):\n${pack.stdout}\n${pack.stderr}`);
  tarball = join(work, pack.stdout.trim().split("\n").at(-1)!);
  tarballFiles = execFileSync("tar", ["tzf", tarball], { encoding: "utf8" }).trim().split("\n").map((p) => p.replace(/^package\//, ""));

  mkdirSync(app);
  for (const [name, text] of Object.entries(CONSUMER_FILES)) writeFileSync(join(app, name), text);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module", dependencies: { tsbpf: `file:${tarball}` } }));
  const pkg = JSON.parse(execFileSync("tar", ["xzOf", tarball, "package/package.json"], { encoding: "utf8" })) as Record<string, unknown>;
  const registry = execFileSync("npm", ["config", "get", "registry"], { encoding: "utf8", env: ENV }).trim();
  const repoLock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as Parameters<typeof consumerLock>[0];
  writeFileSync(join(app, "package-lock.json"), consumerLock(repoLock, tarball, pkg, registry));
  install = sh("npm", ["install", "--offline", "--no-audit", "--no-fund", "--loglevel=error"], app);
  // The tools a project would have as devDependencies: the repo's own copies.
  for (const pkg of ["vitest", "esbuild", "@types/node"]) {
    mkdirSync(dirname(join(app, "node_modules", pkg)), { recursive: true });
    symlinkSync(join(ROOT, "node_modules", pkg), join(app, "node_modules", pkg));
  }
}, 240_000);

// Each step starts Node processes that load TypeScript or esbuild: generous limits for a busy 2-core machine.
describe("npm pack → npm install → use", { timeout: 180_000 }, () => {
  test("the tarball holds the runtime files, declarations, native sources, prebuild and LICENSE; no tests or benches", () => {
    expect(tarballFiles).toEqual(expect.arrayContaining(["LICENSE", "README.md", "package.json", "bin/tsbpf.js", "binding.gyp", "native/bpf.c", "native/client.c", "native/client-start.c", "native/build.mjs", "stdlib/index.d.ts", "stdlib/index.js", "dist/cli.js", "dist/server/client.cjs", "dist/compiler.js", "dist/runtime.js", "dist/testing.js", "dist/esbuild.js", "dist/types/compiler/index.d.ts", "dist/types/compiler/object.d.ts", "dist/types/runtime/testing/vitest.d.ts", "prebuilds/linux-x64/tsbpf_bpf.napi.glibc.node", "prebuilds/linux-x64/tsbpf-client"]));
    const stray = tarballFiles.filter((f) => /^(test|bench|examples|scripts|docs|compiler|runtime|\.ci|build)\//.test(f) || /\.(map|o|ts)$/.test(f.replace(/\.d\.ts$/, "")) || /tsconfig|vitest\.config|package-lock/.test(f));
    expect(stray).toEqual([]);
    // Every declaration import is relative .js (resolved to .d.ts) or a package we depend on: no .ts, no node: types.
    const pkgDir = join(app, "node_modules/tsbpf");
    const specifiers = new Set<string>();
    for (const f of tarballFiles.filter((x) => x.endsWith(".d.ts"))) {
      const text = readFileSync(join(pkgDir, f), "utf8");
      for (const m of text.matchAll(/^\/\/\/\s*<reference\s+(?:types|path|lib)="([^"]+)"/gm)) specifiers.add(`reference ${m[1]}`);
      const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
      for (const m of code.matchAll(/(?<![\w"-])(from|import|declare module)\s*\(?\s*"([^"]+)"/g)) {
        specifiers.add(`${m[1]} ${m[2]!.startsWith(".") ? m[2]!.replace(/^.*(\.[a-z]+)$/, "relative$1") : m[2]!}`);
      }
    }
    // `declare module "vitest"` augments vitest's matchers (only when the user references tsbpf/testing/vitest).
    expect([...specifiers].sort()).toEqual(["declare module *?object", "declare module vitest", "from relative.js"]);
  });

  test("the prebuilt compile-server client is linked statically: it needs no libc of the machine it runs on", () => {
    const client = join(app, "node_modules/tsbpf/prebuilds/linux-x64/tsbpf-client");
    // No program interpreter (ld.so) and no dynamic section: nothing to resolve at start.
    expect(execFileSync("readelf", ["-lW", client], { encoding: "utf8" })).not.toMatch(/INTERP|DYNAMIC/);
    expect(execFileSync("readelf", ["-hW", client], { encoding: "utf8" })).toMatch(/Machine:\s+Advanced Micro Devices X86-64/);
  });

  test("the prebuild needs no glibc symbol newer than 2.28 (the oldest glibc Node 20's own binaries run on)", () => {
    const prebuild = join(app, "node_modules/tsbpf/prebuilds/linux-x64/tsbpf_bpf.napi.glibc.node");
    const versions = [...new Set(execFileSync("objdump", ["-T", prebuild], { encoding: "utf8" }).match(/GLIBC_[\d.]+/g) ?? [])];
    const newer = versions.filter((v) => v.slice(6).split(".").map(Number).reduce((a, x, i) => a + x * 1000 ** (2 - i), 0) > 2 * 1e6 + 28 * 1e3);
    expect(versions.length).toBeGreaterThan(0);
    expect(newer).toEqual([]);
  });

  test("npm install --offline of the tarball succeeds and uses the prebuild (no source build)", () => {
    expect(install.code, install.stderr).toBe(0);
    expect(existsSync(join(app, "node_modules/tsbpf/dist/cli.js"))).toBe(true);
    // The start-up snapshot's blob is not in the tarball (it is specific to a Node.js build): install made it.
    expect(tarballFiles.filter((f) => f.endsWith(".blob"))).toEqual([]);
    expect(existsSync(join(app, `node_modules/tsbpf/dist/snapshot/tsbpf-${process.version}.blob`))).toBe(true);
    // Nor is TypeScript (the dependency @ts-morph/common has it): the snapshot ships as the compiler's part only, and
    // install joined it with the installed typescript.js into a script that it removed once the blob was made.
    expect(tarballFiles.filter((f) => f.startsWith("dist/snapshot/")).sort()).toEqual(["dist/snapshot/make-blob.cjs", "dist/snapshot/tsbpf-snapshot-entry.cjs"]);
    const entry = readFileSync(join(app, "node_modules/tsbpf/dist/snapshot/tsbpf-snapshot-entry.cjs"), "utf8");
    expect(entry).not.toMatch(/function createScanner\(/);
    expect(entry).toContain('require("@ts-morph/common/dist/typescript.js")');
    expect(readdirSync(join(app, "node_modules/tsbpf/dist/snapshot")).sort()).toEqual(["make-blob.cjs", "tsbpf-snapshot-entry.cjs", `tsbpf-${process.version}.blob`]);
    expect(existsSync(join(app, "node_modules/tsbpf/build"))).toBe(false);
    // The prebuilt compile-server client ran here, so install put it where bin/tsbpf.js looks for it.
    expect(install.stdout + install.stderr).not.toContain("client does not run here");
    expect(readFileSync(join(app, "node_modules/tsbpf/prebuilds/tsbpf-client"))).toEqual(readFileSync(join(app, "node_modules/tsbpf/prebuilds/linux-x64/tsbpf-client")));
  });

  test("CLI: tsbpf build x.bpf.ts writes x.bpf.o; verify and run read it", () => {
    const tsbpf = join(app, "node_modules/.bin/tsbpf");
    const build = sh(tsbpf, ["build", "handler.bpf.ts"], app);
    expect([build.code, build.stderr]).toEqual([0, ""]);
    expect(build.stdout).toMatch(/^wrote handler\.bpf\.o: redirect \(\d+ insns\); maps: sockets, hits\n$/);
    const verify = sh(tsbpf, ["verify", "handler.bpf.o"], app);
    expect([verify.code, verify.stdout]).toEqual([0, expect.stringMatching(/^redirect: accepted for Linux 5\.10 \(\d+ instructions processed\)\n$/)]);
    const ctx = JSON.stringify({ family: "inet", protocol: "tcp", remoteIp: "127.0.0.2", remotePort: 9, localIp: "127.0.0.1", localPort: 7007 });
    const maps = JSON.stringify({ sockets: { 0: { name: "A", family: "inet", protocol: "tcp", state: "listen", ip: "127.0.0.1", port: 1234 } } });
    const run = sh(tsbpf, ["run", "handler.bpf.o", "--ctx", ctx, "--maps", maps], app);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ verdict: "SK_PASS", selected: "A", maps: { hits: { "0": 1 } } });
    expect(sh(tsbpf, ["verify", "missing.o"], app).code).toBe(1);
  });

  test("CLI through the compile server: the installed client starts a server from the installed blob; same output as without", () => {
    const tsbpf = join(app, "node_modules/.bin/tsbpf");
    const cache = join(work, "server-cache");
    const log = join(work, "server.log");
    const env = { TSBPF_SERVER: undefined, TSBPF_CACHE_DIR: cache, TSBPF_SERVER_LOG: log };
    try {
      const local = sh(tsbpf, ["build", "handler.bpf.ts", "-o", "local.o"], app, { TSBPF_SERVER: "0" });
      const served = sh(tsbpf, ["build", "handler.bpf.ts", "-o", "served.o"], app, env);
      expect(served).toEqual({ ...local, stdout: local.stdout.replace("local.o", "served.o") });
      expect(Buffer.compare(readFileSync(join(app, "served.o")), readFileSync(join(app, "local.o")))).toBe(0);
      const bad = sh(tsbpf, ["check", "missing.bpf.ts"], app, env);
      expect(bad).toEqual(sh(tsbpf, ["check", "missing.bpf.ts"], app, { TSBPF_SERVER: "0" }));
      const lines = readFileSync(log, "utf8").trim().split("\n");
      // Both through the installed native client; the first started the server.
      expect(lines).toEqual([expect.stringMatching(/^native: server \d+: build handler\.bpf\.ts -o served\.o$/), expect.stringMatching(/^native: server \d+: check missing\.bpf\.ts$/)]);
      const pid = Number(/^native: server (\d+)/.exec(lines[0]!)![1]);
      expect(lines[1]).toContain(`server ${pid}:`);
      // Started from the installed package's blob, as the client found it.
      expect(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")).toContain(join(app, `node_modules/tsbpf/dist/snapshot/tsbpf-${process.version}.blob`));
    } finally {
      const dir = join(cache, "server");
      for (const f of existsSync(dir) ? readdirSync(dir).filter((x) => x.endsWith(".pid")) : []) {
        try {
          process.kill(Number(readFileSync(join(dir, f), "utf8")), "SIGTERM");
        } catch {
          // Gone already.
        }
      }
    }
  });

  test("esbuild bundle: `import handler from './handler.bpf.ts?object'`, then compile() and loadObject().run()", () => {
    const build = sh(process.execPath, ["build.mjs"], app);
    expect([build.code, build.stderr]).toEqual([0, ""]);
    const run = sh(process.execPath, ["out/run.mjs"], app);
    expect(run.stderr).toBe("");
    expect(JSON.parse(run.stdout)).toEqual({
      compiled: { programs: ["redirect"], diagnostics: [], sameAsBundled: true },
      bundled: { verdict: "SK_PASS", selected: "A", hits: "1", hitsType: "bigint" },
      // formatDiagnostics takes the source text as formatDiagnostic does: a code frame under the headline.
      formatted: expect.stringContaining(`handler.bpf.ts:1:30 - error TSBPF0003: imports from 'node:fs' are not supported; import only from "tsbpf"\n\n   1 │ import { readFileSync } from "node:fs";\n`),
    });
  });

  test("a vitest file using tsbpf/testing passes (matchers, u64 counters as bigint)", () => {
    const r = sh(process.execPath, [VITEST, "run", "--root", app, "--testTimeout=60000"], app); // compiling loads TypeScript: slow on a busy machine
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/Tests\s+.*2 passed/);
  });

  for (const resolution of ["nodenext", "bundler"] as const) {
    test(`tsc --noEmit: strict, exactOptionalPropertyTypes, moduleResolution ${resolution}, no skipLibCheck → 0 errors`, () => {
      writeFileSync(join(app, `tsconfig.${resolution}.json`), tsconfig(resolution, ["node", "tsbpf/object", "tsbpf/testing/vitest"], ["*.ts"]));
      const r = sh(process.execPath, [TSC, "-p", `tsconfig.${resolution}.json`], app);
      expect(r.stdout + r.stderr).toBe("");
      expect(r.code).toBe(0);
    });
  }

  test("the declarations need no @types/node: every export path type-checks with types: []", () => {
    writeFileSync(join(app, "tsconfig.bare.json"), tsconfig("nodenext", ["tsbpf/object"], ["api-types.ts", "handler.bpf.ts"]));
    const r = sh(process.execPath, [TSC, "-p", "tsconfig.bare.json"], app);
    expect(r.stdout + r.stderr).toBe("");
  });

  test.skipIf(kernelUnavailableReason() !== null)("openKernel() loads the prebuild; without any addon it says what to install and to run npm rebuild tsbpf", () => {
    const probe = join(app, "kernel.mjs");
    const ok = sh(process.execPath, [probe], app, { TSBPF_NATIVE_ADDON: undefined });
    expect(ok.stdout.trim()).toBe("ok");
    const pre = join(app, "node_modules/tsbpf/prebuilds");
    renameSync(pre, `${pre}.away`);
    try {
      const missing = sh(process.execPath, [probe], app, { TSBPF_NATIVE_ADDON: undefined });
      expect(missing.stdout.trim()).toBe(
        `KernelUnavailableError: the native addon tsbpf_bpf.node is not built and no prebuild fits ${process.platform}-${process.arch}: install a C toolchain (gcc, make and python3, e.g. \`apt-get install gcc make python3\`), then run \`npm rebuild tsbpf\` in your project (\`npm run build:native\` in a tsbpf clone)`,
      );
    } finally {
      renameSync(`${pre}.away`, pre);
    }
    expect(readdirSync(pre)).toEqual([`${process.platform}-${process.arch}`, "tsbpf-client"]);
  });
});
