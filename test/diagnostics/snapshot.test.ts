/**
 * The start-up snapshot (dist/snapshot, compiler/cli/snapshot.ts) changes how fast `tsbpf build`/`check` start, never
 * what they say: the same objects byte for byte, the same diagnostics, from the snapshot (bin/tsbpf.js run as a
 * program: its sh lines exec `node --snapshot-blob`) and without it (TSBPF_NO_SNAPSHOT=1, TypeScript loaded from
 * node_modules).
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "tsbpf-snapshot-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs bin/tsbpf.js as a program (shebang: sh), with or without the snapshot. */
function tsbpf(snapshot: boolean, ...args: string[]) {
  const env = { ...process.env };
  if (snapshot) delete env.TSBPF_NO_SNAPSHOT;
  else env.TSBPF_NO_SNAPSHOT = "1";
  const r = spawnSync("./bin/tsbpf.js", args, { encoding: "utf8", env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("tsbpf build/check from the start-up snapshot", () => {
  test("npm run build wrote the blob for this Node.js (otherwise every run below would skip the snapshot)", () => {
    expect(existsSync(`dist/snapshot/tsbpf-${process.version}.blob`)).toBe(true);
  });

  test("the blob loads: node --snapshot-blob BLOB build --help runs the snapshot's CLI", () => {
    // `node --snapshot-blob` aborts on a blob it cannot use (other Node.js, corrupt file) instead of running it.
    const r = spawnSync(process.execPath, ["--snapshot-blob", `dist/snapshot/tsbpf-${process.version}.blob`, "build", "--help"], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^usage: tsbpf build FILE\.ts/);
  });

  test("bin/tsbpf.js run as a program starts node from the blob for build and check, and without it otherwise", () => {
    // A `node` first on PATH that logs its arguments, then runs the real one.
    const bin = join(dir, "bin");
    const log = join(dir, "node-args.log");
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, "node"), `#!/bin/sh\necho "$*" >> '${log}'\nexec '${process.execPath}' "$@"\n`);
    chmodSync(join(bin, "node"), 0o755);
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
    delete env.TSBPF_NO_SNAPSHOT;
    const out = join(dir, "logged.o");
    expect(spawnSync("./bin/tsbpf.js", ["build", "examples/redirect-port.ts", "-o", out], { env }).status).toBe(0);
    expect(spawnSync("./bin/tsbpf.js", ["objdump", out], { env }).status).toBe(0);
    const lines = readFileSync(log, "utf8").trim().split("\n");
    expect(lines).toEqual([
      "--version",
      `--snapshot-blob ${realpathSync(process.cwd())}/dist/snapshot/tsbpf-${process.version}.blob build examples/redirect-port.ts -o ${out}`,
      `./bin/tsbpf.js objdump ${out}`,
    ]);
  });

  test.each(["examples/redirect-port.ts", "examples/dispatcher.ts", "examples/redirect-ip6.ts"])("%s: the same object bytes", (file) => {
    const a = join(dir, "snap.o");
    const b = join(dir, "plain.o");
    const rs = tsbpf(true, "build", file, "-o", a);
    const rp = tsbpf(false, "build", file, "-o", b);
    expect(rs).toEqual({ ...rp, stdout: rp.stdout.replace(b, a) });
    expect(rs.code).toBe(0);
    expect(Buffer.compare(readFileSync(a), readFileSync(b))).toBe(0);
  });

  test.each([
    "test/diagnostics/cases/any.ts", // a TypeScript-level problem
    "test/diagnostics/cases/recursion.ts", // a subset error
    "test/diagnostics/cases/verifier-unchecked.ts", // a verifier rejection
  ])("%s: the same diagnostics and exit code", (file) => {
    const rs = tsbpf(true, "check", file);
    expect(rs.code).toBe(1);
    expect(rs).toEqual(tsbpf(false, "check", file));
  });

  test("a TypeScript error in the user's file, and a lib outside es2022 (loaded lazily by the snapshot): same output", () => {
    const file = join(dir, "dom.ts");
    writeFileSync(file, `/// <reference lib="dom" />
import { type SkLookup, type Verdict, SK_PASS } from "tsbpf";
const w: Window | undefined = undefined;
export function p(ctx: SkLookup): Verdict {
  const n: string = ctx.localPort;
  return SK_PASS;
}
`);
    const rs = tsbpf(true, "check", file);
    expect(rs.stderr).toContain("error TSBPF0001: Type 'number' is not assignable to type 'string'. (TS2322)");
    expect(rs).toEqual(tsbpf(false, "check", file));
  });
});
