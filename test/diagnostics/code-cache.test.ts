/**
 * compiler/code-cache.ts through the dist bundles: the first process that loads TypeScript writes V8 code cache files
 * under $XDG_CACHE_HOME/tsbpf/v8, later ones read them and compile the same bytes; a corrupt file is rejected by V8,
 * ignored and rewritten; TSBPF_CODE_CACHE=0 writes nothing.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "tsbpf-code-cache-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Compiles an example with dist/compiler.js in a new process; returns the object as hex. */
function compileInChild(cacheHome: string, env: Record<string, string> = {}): string {
  const script = `import { compile } from ${JSON.stringify(join(process.cwd(), "dist", "compiler.js"))};
const r = compile({ fileName: "examples/dispatcher.ts" });
if (!r.object) throw new Error(JSON.stringify(r.diagnostics));
process.stdout.write(Buffer.from(r.object).toString("hex"));`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", env: { ...process.env, XDG_CACHE_HOME: cacheHome, ...env } });
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  return r.stdout;
}

const cacheFiles = (home: string): string[] => {
  try {
    return readdirSync(join(home, "tsbpf", "v8")).sort();
  } catch {
    return [];
  }
};

test("written by the first process, used by the next, rewritten when corrupt; same object every time", () => {
  const home = join(dir, "on");
  const first = compileInChild(home);
  const files = cacheFiles(home);
  expect(files.map((f) => f.replace(/-\d+-\d+-v[\d.]+\.cache$/, ""))).toEqual(["ts-morph-common.js", "typescript.js"]);
  expect(compileInChild(home)).toBe(first);
  const corrupt = join(home, "tsbpf", "v8", files[1]!);
  writeFileSync(corrupt, "not V8 data");
  expect(compileInChild(home)).toBe(first);
  expect(readFileSync(corrupt, "utf8")).not.toBe("not V8 data");
  expect(compileInChild(home)).toBe(first);
});

test("TSBPF_CODE_CACHE=0: nothing written", () => {
  const home = join(dir, "off");
  compileInChild(home, { TSBPF_CODE_CACHE: "0" });
  expect(cacheFiles(home)).toEqual([]);
});
