/**
 * `tsbpf build --watch`: builds once, rebuilds after each edit of the file (a broken edit prints its diagnostics and
 * keeps watching; the fix writes the object again), and stops with exit 0 when told to.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { readObject } from "../../compiler/elf/index.ts";
import { run as build } from "../../compiler/cli/build.ts";

const dir = mkdtempSync(join(tmpdir(), "tsbpf-watch-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("build --watch: first build, a broken edit reported, the fixed edit written, stop on abort", async () => {
  const file = join(dir, "handler.ts");
  const out = join(dir, "handler.o");
  const good = readFileSync("examples/redirect-port.ts", "utf8");
  writeFileSync(file, good);
  let stdout = "";
  let stderr = "";
  const builds: boolean[] = [];
  let next: ((ok: boolean) => void) | undefined;
  const built = () => new Promise<boolean>((r) => (next = r));
  const controller = new AbortController();
  let first = built();
  const done = build(["--watch", file, "-o", out], { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) }, controller.signal, {
    onBuild: (ok) => {
      builds.push(ok);
      next?.(ok);
    },
  });
  expect(await first).toBe(true);
  expect(stdout).toMatch(/^wrote .*handler\.o: redir_port \(\d+ insns\); maps: sockets\n$/);
  expect(stderr).toMatch(/^built in \d+ ms; watching .*handler\.ts for changes \(Ctrl-C stops\)\n$/);
  const firstObject = readFileSync(out);

  stderr = "";
  first = built();
  writeFileSync(file, good.replace("ctx.localPort !== 7007", "ctx.localPort !== \"7007\""));
  expect(await first).toBe(false);
  expect(stderr).toContain("error TSBPF0001: This comparison appears to be unintentional");
  expect(stderr).toMatch(/rebuilt in \d+ ms; watching/);

  stdout = "";
  first = built();
  writeFileSync(file, good.replace("ctx.localPort !== 7007", "ctx.localPort !== 7008"));
  expect(await first).toBe(true);
  expect(stdout).toMatch(/^wrote .*handler\.o: redir_port/);
  const rebuilt = readFileSync(out);
  expect(Buffer.compare(rebuilt, firstObject)).not.toBe(0); // the new port is in the new object
  expect(readObject(new Uint8Array(rebuilt)).programs.map((p) => p.name)).toEqual(["redir_port"]);
  expect(statSync(out).size).toBeGreaterThan(0);

  controller.abort();
  expect(await done).toBe(0);
  expect(builds).toEqual([true, false, true]);
});
