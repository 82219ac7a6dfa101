/**
 * `tsbpf verify`: report layout (golden), exit codes and usage errors. Runs the command's `run()` in-process with
 * stdout/stderr captured.
 */
import { join } from "node:path";
import { afterEach, describe, expect, test, vi } from "vitest";
import { run } from "../../compiler/cli/verify.ts";
import { InputFileError, UsageError } from "../../compiler/cli/usage.ts";

const fixtures = join(import.meta.dirname, "..", "fixtures");
const cases = join(fixtures, "verifier", "cases.o");

async function capture(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  vi.spyOn(process.stdout, "write").mockImplementation((s) => ((out += String(s)), true));
  vi.spyOn(process.stderr, "write").mockImplementation((s) => ((err += String(s)), true));
  const code = await run(args);
  vi.restoreAllMocks();
  return { code, out, err };
}

afterEach(() => vi.restoreAllMocks());

describe("tsbpf verify", () => {
  test("reports every program of the clang corpus; exit 1 because some are rejected", async () => {
    const r = await capture([cases]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("ok_redirect: accepted for Linux 5.10 (");
    expect(r.out).toContain("bad_unchecked_assign: rejected for Linux 5.10 at insn 12: call 0x7c\n  error: R2 type=map_value_or_null expected=sock");
    await expect(r.out).toMatchFileSnapshot("golden/verify-cases.txt");
  });

  test("exit 0 when the selected program is accepted", async () => {
    const r = await capture([cases, "--prog", "ok_dispatch"]);
    expect(r).toMatchObject({ code: 0, out: expect.stringMatching(/^ok_dispatch: accepted for Linux 5\.10 \(\d+ instructions processed\)\n$/) });
  });

  test("source line and TS-terms note for a rejection", async () => {
    const r = await capture([cases, "--prog", "bad_release_ctx_sk"]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("source: ./cases.c:");
    expect(r.out).toContain("bpf_sk_release(sk);");
    expect(r.out).toContain("note: only sockets returned by a SockMap/SockHash lookup may be released");
    expect(r.out).toContain("state: R1=sock(id=1) R10=fp0");
  });

  test("--json gives the VerifyResult of each program", async () => {
    const r = await capture([cases, "--prog", "bad_leak", "--json"]);
    const parsed = JSON.parse(r.out);
    expect(parsed.bad_leak.ok).toBe(false);
    expect(parsed.bad_leak.error.message).toMatch(/^Unreleased reference id=2 alloc_insn=\d+/);
  });

  test("usage errors: no file, unknown option, unknown program; a missing file is an input error", async () => {
    await expect(run([])).rejects.toThrow(UsageError);
    await expect(run([cases, "--bogus"])).rejects.toThrow(UsageError);
    await expect(run(["/nonexistent.o"])).rejects.toThrow(InputFileError);
    await expect(run(["/nonexistent.o"])).rejects.toThrow(/^cannot read \/nonexistent.o: no such file$/);
    await expect(run([cases, "--prog", "nope"])).rejects.toThrow(/no program nope/);
  });

  test("--target-kernel: an unsupported or unknown target is a usage error naming what is accepted", async () => {
    await expect(run([cases, "--target-kernel", "4.19"])).rejects.toThrow(UsageError);
    await expect(run([cases, "--target-kernel", "4.19"])).rejects.toThrow("kernel target 4.19 cannot run sk_lookup programs: sk_lookup needs Linux 5.9+");
    await expect(run([cases, "--target-kernel", "newest"])).rejects.toThrow("unknown kernel target 'newest'");
  });

  test("a file that is not an ELF object is reported, exit 1", async () => {
    const r = await capture([join(fixtures, "verifier", "cases.c")]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^tsbpf verify: .*cases\.c: /);
  });
});
