/**
 * `tsbpf build` / `tsbpf check` as a user runs them. A few runs go through the bundled CLI (`node bin/tsbpf.js`,
 * after `npm run build`) for exit codes and real streams; the rest call the command modules in-process (same code,
 * captured streams) to keep the file fast.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { readObject } from "../../compiler/elf/index.ts";
import { run as build } from "../../compiler/cli/build.ts";
import { run as check } from "../../compiler/cli/check.ts";
import { UsageError } from "../../compiler/cli/usage.ts";

const tsbpf = (...args: string[]) => {
  const r = spawnSync(process.execPath, ["bin/tsbpf.js", ...args], { encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

async function inProcess(cmd: typeof build, ...args: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await cmd(args, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}

const dir = mkdtempSync(join(tmpdir(), "tsbpf-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("bundled CLI (node bin/tsbpf.js)", () => {
  test("build writes FILE.bpf.o next to a file outside the repo (tsbpf resolves to our stdlib there)", () => {
    const file = join(dir, "outside.ts");
    writeFileSync(file, readFileSync("examples/redirect-port.ts", "utf8"));
    const r = tsbpf("build", file);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^wrote .*outside\.bpf\.o: redir_port \(\d+ insns\); maps: sockets\n$/);
    const obj = readObject(new Uint8Array(readFileSync(join(dir, "outside.bpf.o"))));
    expect(obj.programs.map((p) => p.name)).toEqual(["redir_port"]);
    expect(obj.license).toBe("GPL");
  });

  test("diagnostics: exit 1, exact headline, code frame, no stack trace", () => {
    const r = tsbpf("check", "test/diagnostics/cases/recursion.ts");
    expect(r.code).toBe(1);
    expect(r.stderr.split("\n")[0]).toBe("test/diagnostics/cases/recursion.ts:3:28 - error TSBPF1007: 'fact' calls itself");
    expect(r.stderr).toContain("   3 │   return n === 0 ? 1 : n * fact(n - 1);\n     │                            ^^^^^^^^^^^");
    expect(r.stderr).not.toMatch(/\s+at .*:\d+:\d+/);
  });

  test("a missing input file is exit 1 in every subcommand (README's exit-code table)", () => {
    const cases: [string[], string][] = [
      [["build", "/nonexistent/x.ts"], "/nonexistent/x.ts:1:1 - error TSBPF0002: cannot read '/nonexistent/x.ts': ENOENT"],
      [["check", "/nonexistent/x.ts"], "/nonexistent/x.ts:1:1 - error TSBPF0002: cannot read '/nonexistent/x.ts': ENOENT"],
      [["objdump", "/nonexistent/x.o"], "tsbpf objdump: /nonexistent/x.o: no such file"],
      [["verify", "/nonexistent/x.o"], "tsbpf verify: cannot read /nonexistent/x.o: no such file"],
      [["run", "/nonexistent/x.o", "--ctx", "{}"], "tsbpf run: cannot read /nonexistent/x.o: no such file"],
      [["run", "examples/redirect-port.ts", "--ctx", "@/nonexistent/ctx.json"], "tsbpf run: cannot read /nonexistent/ctx.json: no such file"],
    ];
    for (const [args, firstLine] of cases) {
      const r = tsbpf(...args);
      expect([args.join(" "), r.code, r.stderr.split("\n")[0]]).toEqual([args.join(" "), 1, firstLine]);
    }
  });

  test("usage error: exit 2 with the reason", () => {
    const r = tsbpf("build", "examples/redirect-port.ts", "--frobnicate");
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("tsbpf build: unknown option '--frobnicate'\n");
  });

  test("--target-kernel: a release before 5.10 is a usage error; host probes the running kernel from the bundle", () => {
    const old = tsbpf("check", "examples/redirect-port.ts", "--target-kernel", "5.4");
    expect(old.code).toBe(2);
    expect(old.stderr).toBe(
      "tsbpf check: kernel target 5.4 cannot run sk_lookup programs: sk_lookup needs Linux 5.9+; tsbpf supports 5.10 (the oldest LTS with sk_lookup) to 6.18\n",
    );
    const host = tsbpf("check", "examples/redirect-port.ts", "--target-kernel", "host");
    expect(host.stderr).toBe("");
    expect(host.code).toBe(0);
  });
});

describe("build / check commands (in-process)", () => {
  test("build -o chooses the output; LICENSE is honoured", async () => {
    const file = join(dir, "lic.ts");
    writeFileSync(file, readFileSync("examples/redirect-port.ts", "utf8") + '\nexport const LICENSE = "Dual BSD/GPL";\n');
    const out = join(dir, "custom.o");
    expect((await inProcess(build, file, "-o", out)).code).toBe(0);
    expect(readObject(new Uint8Array(readFileSync(out))).license).toBe("Dual BSD/GPL");
    expect(existsSync(join(dir, "lic.bpf.o"))).toBe(false);
  });

  test("build names x.bpf.ts's object x.bpf.o (the esbuild plugin's naming), x.ts's x.bpf.o", async () => {
    writeFileSync(join(dir, "handler.bpf.ts"), readFileSync("examples/redirect-port.ts", "utf8"));
    writeFileSync(join(dir, "plain.ts"), readFileSync("examples/redirect-port.ts", "utf8"));
    expect((await inProcess(build, join(dir, "handler.bpf.ts"))).stdout).toMatch(/^wrote .*\/handler\.bpf\.o: /);
    expect((await inProcess(build, join(dir, "plain.ts"))).stdout).toMatch(/^wrote .*\/plain\.bpf\.o: /);
    expect([existsSync(join(dir, "handler.bpf.o")), existsSync(join(dir, "handler.bpf.bpf.o")), existsSync(join(dir, "plain.bpf.o"))]).toEqual([true, false, true]);
  });

  test("check: exit 0 and nothing written", async () => {
    const r = await inProcess(check, "examples/dispatcher.ts");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^examples\/dispatcher\.ts: ok \(dispatch: \d+ insns\)\n$/);
    expect(existsSync("examples/dispatcher.bpf.o")).toBe(false);
  });

  test("build with diagnostics writes nothing and exits 1", async () => {
    const out = join(dir, "never.o");
    const r = await inProcess(build, "test/diagnostics/cases/while.ts", "-o", out);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("\n1 error\n");
    expect(existsSync(out)).toBe(false);
  });

  test("a missing file is a diagnostic (exit 1), not a crash", async () => {
    const r = await inProcess(build, join(dir, "nope.ts"));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/nope\.ts:1:1 - error TSBPF0002: cannot read '.*nope\.ts': ENOENT/);
  });

  test("usage errors are UsageError (the dispatcher turns them into exit 2)", async () => {
    await expect(inProcess(build)).rejects.toThrow(UsageError);
    await expect(inProcess(check, "a.ts", "b.ts")).rejects.toThrow("expected one FILE.ts, got a.ts b.ts");
    await expect(inProcess(build, "x.ts", "-o")).rejects.toThrow("option -o needs a value");
  });

  test("--no-verify skips tsbpf's verifier (the object is still written)", async () => {
    const out = join(dir, "unchecked.o");
    expect((await inProcess(build, "test/diagnostics/cases/verifier-unchecked.ts", "-o", out)).code).toBe(1);
    expect(existsSync(out)).toBe(false);
    expect((await inProcess(build, "test/diagnostics/cases/verifier-unchecked.ts", "-o", out, "--no-verify")).code).toBe(0);
    expect(existsSync(out)).toBe(true);
  });

  test("--target-kernel reaches the verifier: the rejection names the target", async () => {
    const r = await inProcess(check, "test/diagnostics/cases/verifier-unchecked.ts", "--target-kernel", "6.6");
    expect(r.code).toBe(1);
    expect(r.stderr.split("\n")[0]).toBe(
      "test/diagnostics/cases/verifier-unchecked.ts:5:10 - error TSBPF3002: program 'p' would be rejected by the kernel verifier of Linux 6.6: R2 type=map_value_or_null expected=sock",
    );
    await expect(inProcess(build, "examples/redirect-port.ts", "--target-kernel", "7.3")).rejects.toThrow(
      "kernel target 7.3 is newer than tsbpf's kernel table (which ends at 6.18)",
    );
    const help = await inProcess(build, "--help");
    expect(help.stdout).toContain(`--target-kernel VERSION     the oldest kernel the object must load on: 5.10 (default) to 6.18, or "host" to probe the running kernel`);
  });

  test("--help on each", async () => {
    for (const cmd of [build, check]) {
      const r = await inProcess(cmd, "--help");
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`usage: tsbpf ${cmd === build ? "build" : "check"} FILE.ts`);
      expect(r.stdout).toContain("exit status: 0");
    }
  });

  test("--dump-ir and --dump-asm print the IR (with releases) and the assembly", async () => {
    const r = await inProcess(check, "examples/redirect-port.ts", "--dump-ir", "--dump-asm");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("fn redir_port(v0) program");
    expect(r.stdout).toContain("call helper#86(");
    expect(r.stdout).toMatch(/; program redir_port\n\s+0:\t/);
    expect(r.stdout).toContain("call 0x7c");
  });
});
