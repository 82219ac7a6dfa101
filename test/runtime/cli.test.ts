/**
 * `tsbpf run` end to end: the CLI is bundled once (esbuild, like the real build) and run as a child process on the
 * clang corpus objects. Checks the JSON output, exit codes 0/1/2 and that errors are one line without a stack trace.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";
import { call, exit, ldx, mov64, Size } from "../../compiler/asm/index.ts";
import { writeObject } from "../../compiler/elf/writer.ts";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const outDir = join(root, "node_modules", ".cache", `tsbpf-vm-cli-${process.pid}`);
const cli = join(outDir, "cli.mjs");
const BASIC = join(root, "test/fixtures/c/basic.o");
const CTX = '{"family":"inet","protocol":"tcp","remoteIp":"127.0.0.2","remotePort":8008,"localIp":"127.0.0.1","localPort":7007}';
const SOCK_A = '{"sockets":{"0":{"name":"A","family":"inet","protocol":"tcp","state":"listen","ip":"127.0.0.1","port":1234}}}';

function tsbpf(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, "run", ...args], { encoding: "utf8", cwd: root });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  mkdirSync(outDir, { recursive: true });
  // Code splitting keeps the subcommands in their own chunks, so `run` does not load the compiler (ts-morph).
  await build({
    // The compiler is its own entry, next to the CLI, where the runtime looks for it when given a .ts file.
    entryPoints: { cli: join(root, "compiler/cli/main.ts"), compiler: join(root, "compiler/index.ts") },
    outdir: outDir,
    outExtension: { ".js": ".mjs" },
    splitting: true,
    bundle: true,
    platform: "node",
    format: "esm",
    packages: "external",
    logLevel: "silent",
  });
});

afterAll(() => rmSync(outDir, { recursive: true, force: true }));

describe("tsbpf run", () => {
  for (const tier of ["interp", "jit"]) {
    test(`selects socket A on port 7007 [${tier}]`, () => {
      const r = tsbpf(BASIC, "--prog", "redir_port", "--ctx", CTX, "--maps", SOCK_A, "--tier", tier);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out).toMatchObject({ verdict: "SK_PASS", selected: "A", retval: 1, tier, trace: [] });
      expect(r.stdout.trim().split("\n")).toHaveLength(1);
    });
  }
  test("no selection on another port; SK_DROP reports selected null", () => {
    expect(JSON.parse(tsbpf(BASIC, "--prog", "redir_port", "--ctx", CTX.replace("7007", "7008"), "--maps", SOCK_A).stdout)).toMatchObject({ verdict: "SK_PASS", selected: null });
    expect(JSON.parse(tsbpf(BASIC, "--prog", "drop", "--ctx", CTX).stdout)).toMatchObject({ verdict: "SK_DROP", selected: null });
  });
  test("struct keys as JSON text, LPM keys with addresses, trace output", () => {
    const maps = {
      prefixes: { '{"prefixlen":56,"protocol":6,"port":0,"addr":"127.0.2.0"}': 3 },
      destinations: { "3": { name: "B", family: "inet", protocol: "tcp", state: "listen", ip: "127.0.0.1", port: 1 } },
    };
    const r = tsbpf(join(root, "test/fixtures/c/dispatch.o"), "--prog", "dispatch_lpm", "--ctx", CTX.replace("127.0.0.1", "127.0.2.9"), "--maps", JSON.stringify(maps), "--tier", "jit");
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ verdict: "SK_PASS", selected: "B" });
    // Maps after the run, in the --maps format: the hit counter of label 3, the trie entry, the socket by name.
    expect(out.maps.hits).toEqual({ "3": 1 });
    expect(out.maps.destinations).toEqual({ "3": "B" });
    expect(out.maps.prefixes).toEqual({ '{"prefixlen":56,"protocol":6,"port":0,"addr":"127.0.2.0"}': 3 });
    const t = tsbpf(join(root, "test/fixtures/c/features.o"), "--prog", "trace_port", "--ctx", CTX);
    expect(JSON.parse(t.stdout).trace).toEqual(["sk_lookup proto 6 port 7007"]);
  });
  test("a .ts file is compiled first; compile errors are diagnostics with exit 1", () => {
    const r = tsbpf(join(root, "examples/redirect-port.ts"), "--prog", "redir_port", "--ctx", CTX, "--maps", SOCK_A, "--tier", "jit");
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toMatchObject({ verdict: "SK_PASS", selected: "A" });
    const bad = join(outDir, "bad.ts");
    writeFileSync(bad, 'import { type SkLookup, type Verdict } from "tsbpf";\nexport function p(ctx: SkLookup): Verdict { return 2 as any; }\n');
    const e = tsbpf(bad, "--ctx", CTX);
    expect(e.code).toBe(1);
    expect(e.stderr).toMatch(/bad\.ts:2:\d+ - error TSBPF\d{4}: /);
    expect(e.stderr).not.toMatch(/\n\s+at /);
  });
  test("--ctx @file", () => {
    const f = join(outDir, "ctx.json");
    writeFileSync(f, CTX);
    expect(JSON.parse(tsbpf(BASIC, "--prog", "pass", "--ctx", `@${f}`).stdout).verdict).toBe("SK_PASS");
  });
  const usage: Array<[string, string[], RegExp]> = [
    ["malformed ctx JSON", [BASIC, "--prog", "pass", "--ctx", '{"family":'], /--ctx is not valid JSON/],
    ["unknown family", [BASIC, "--prog", "pass", "--ctx", '{"family":"ipx","protocol":"tcp"}'], /family must be inet, inet6/],
    ["bad address", [BASIC, "--prog", "pass", "--ctx", '{"family":"inet","protocol":"tcp","localIp":"1.2.3"}'], /not an IPv4 address/],
    ["port out of range", [BASIC, "--prog", "pass", "--ctx", '{"family":"inet","protocol":"tcp","localPort":70000}'], /out of range/],
    ["missing --ctx", [BASIC, "--prog", "pass"], /missing --ctx/],
    ["missing FILE", ["--ctx", CTX], /missing FILE/],
    ["unknown program", [BASIC, "--prog", "nope", "--ctx", CTX], /no program 'nope'.*programs: pass, drop/],
    ["ambiguous program", [BASIC, "--ctx", CTX], /missing --prog/],
    ["unknown map", [BASIC, "--prog", "pass", "--ctx", CTX, "--maps", '{"nope":{}}'], /no map 'nope'/],
    ["bad socket", [BASIC, "--prog", "redir_port", "--ctx", CTX, "--maps", '{"sockets":{"0":{"family":"inet","protocol":"sctp"}}}'], /protocol must be tcp, udp/],
    ["bad tier", [BASIC, "--prog", "pass", "--ctx", CTX, "--tier", "fast"], /--tier must be interp or jit/],
    ["unknown option", [BASIC, "--bogus"], /unknown option '--bogus'/],
  ];
  for (const [name, args, msg] of usage) {
    test(`usage error: ${name} → exit 2, one line`, () => {
      const r = tsbpf(...args);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(msg);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });
  }
  test("unreadable or malformed object → exit 1, one line", () => {
    const missing = tsbpf("/nonexistent/x.o", "--ctx", CTX);
    expect([missing.code, missing.stderr.trim().split("\n").length]).toEqual([1, 1]);
    const junk = join(outDir, "junk.o");
    writeFileSync(junk, "not an elf file at all");
    const r = tsbpf(junk, "--ctx", CTX);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/junk\.o: /);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });
  test("a VM fault → exit 1 with pc and instruction, no stack trace", () => {
    const file = join(outDir, "fault.o");
    writeFileSync(file, writeObject({ fileName: "fault.ts", license: "GPL", maps: [], programs: [{ name: "bad", insns: [mov64(1, 0), ldx(Size.W, 0, 1, 0), exit()] }, { name: "cookie", insns: [call(46), mov64(0, 1), exit()] }] }));
    const r = tsbpf(file, "--prog", "bad", "--ctx", CTX);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("tsbpf run: bad: pc 1 (r0 = *(u32 *)(r1 + 0x0)): read of 4 bytes through a NULL pointer\n");
    const h = tsbpf(file, "--prog", "cookie", "--ctx", CTX, "--tier", "jit");
    expect([h.code, h.stderr]).toEqual([1, "tsbpf run: cookie: pc 0 (call 0x2e): helper 46 (get_socket_cookie) is not supported\n"]);
  });
  test("--help", () => {
    const r = tsbpf("--help");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/usage: tsbpf run FILE/);
  });
});
