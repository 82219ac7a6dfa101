/**
 * tsbpf/testing as a package user gets it: bundled like scripts/build.mjs does (esbuild, packages external), it pulls
 * in no test framework, and a node:test file using the plain assertions passes and fails with the readable message.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";
import { afterAll, beforeAll, expect, test } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const outDir = join(root, "node_modules", ".cache", `tsbpf-testing-${process.pid}`);
let externals: string[] = [];

beforeAll(async () => {
  mkdirSync(outDir, { recursive: true });
  const r = await build({
    entryPoints: { testing: join(root, "runtime/testing/index.ts") },
    outdir: outDir,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    metafile: true,
    logLevel: "silent",
  });
  externals = Object.values(r.metafile.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path));
});
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

test("the bundle imports no test framework (matchers are installed on the caller's expect)", () => {
  expect(externals.length).toBeGreaterThan(0);
  expect(externals.filter((p) => /vitest|jest|mocha|chai/.test(p))).toEqual([]);
  expect(externals.filter((p) => !p.startsWith("node:") && !["@ts-morph/common", "typescript"].includes(p))).toEqual([]);
});

test("node:test with assertSelects / assertDrops", () => {
  const file = join(outDir, "handler.test.mjs");
  writeFileSync(
    file,
    `import { test } from "node:test";
import { handler, assertSelects, assertDrops } from "./testing.mjs";
test("redirect-port", async () => {
  const h = await handler(${JSON.stringify(join(root, "examples/redirect-port.ts"))});
  h.map("sockets").set(0, h.socket({ name: "A", ip: "127.0.0.1", port: 1234 }));
  assertSelects(h.lookup("tcp 127.0.0.1:7007"), "A");
  assertDrops(h.lookup("udp 127.0.0.1:7007"));
  if (process.env.WANT_FAILURE) assertSelects(h.lookup("tcp 127.0.0.1:7007"), "B");
});
`,
  );
  const run = (env: Record<string, string>) => spawnSync(process.execPath, ["--test", file], { encoding: "utf8", cwd: root, env: { ...process.env, ...env }, timeout: 30_000 });
  const ok = run({});
  expect(ok.status, ok.stdout + ok.stderr).toBe(0);
  expect(ok.stdout).toMatch(/# pass 1/);
  const bad = run({ WANT_FAILURE: "1" });
  expect(bad.status).toBe(1);
  expect(bad.stdout).toContain("expected tcp 127.0.0.1:7007 to go to socket B, but A tcp 127.0.0.1:1234 was selected");
  expect(bad.stdout).toContain("1. redir_port returned SK_PASS, selected A tcp 127.0.0.1:1234");
  expect(bad.stdout).toContain("HandlerAssertionError");
});
