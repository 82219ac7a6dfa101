/**
 * The compile server (compiler/server/) changes what `tsbpf build`/`check` cost, never what they do: the same commands
 * run through the server and locally (TSBPF_SERVER=0) give the same stdout, stderr, exit code and written files (bytes
 * and mode). A client whose server dies mid-answer, hangs or answers garbage runs the command itself, printing nothing
 * twice; a killed server's socket is replaced; a rebuilt installation gets a new server and the old one exits; many
 * clients at once share one server; an idle server exits. TSBPF_SERVER_LOG proves which of the two ran each command.
 * Every server started here lives under this file's own cache directory and is stopped at the end.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { closeSync, cpSync, existsSync, openSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { encodeFrame, serverKey, socketPath } from "../../compiler/server/protocol.ts";
import { writeManyPrograms } from "../../bench/many.ts";

const ROOT = join(import.meta.dirname, "../..");
const work = mkdtempSync(join(tmpdir(), "tsbpf-srv-"));
const caches: string[] = [];

/** A fresh cache directory (so a fresh set of servers) for one test. */
function cacheDir(): string {
  const dir = mkdtempSync(join(work, "c"));
  caches.push(dir);
  return dir;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface RunOptions {
  server: boolean;
  cache: string;
  cwd?: string;
  env?: Record<string, string>;
  umask?: string;
  /** Another installation's bin/tsbpf.js. */
  bin?: string;
  /** Which client bin/tsbpf.js runs: native/client.c (the default when it is built) or the node one. */
  client?: Client;
}

type Client = "native" | "node";
const CLIENTS: Client[] = ["native", "node"];

function envFor(o: RunOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TSBPF_CACHE_DIR: o.cache, TSBPF_SERVER_LOG: join(o.cache, "log"), ...o.env };
  if (o.server) delete env.TSBPF_SERVER;
  else env.TSBPF_SERVER = "0";
  if (o.client === "node") env.TSBPF_SERVER_CLIENT = "node";
  else delete env.TSBPF_SERVER_CLIENT;
  return env;
}

/** bin/tsbpf.js run as a program (sh, like a user's shell), in `cwd` with `umask`. */
function tsbpf(args: string[], o: RunOptions): Run {
  const bin = o.bin ?? join(ROOT, "bin/tsbpf.js");
  const r = spawnSync("sh", ["-c", `umask ${o.umask ?? "022"}; exec "$0" "$@"`, bin, ...args], { cwd: o.cwd ?? ROOT, env: envFor(o), encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The same, without blocking this process (a fake server in it must answer). */
function tsbpfAsync(args: string[], o: RunOptions): Promise<Run> {
  return new Promise((done) => {
    const child = spawn(o.bin ?? join(ROOT, "bin/tsbpf.js"), args, { cwd: o.cwd ?? ROOT, env: envFor(o) });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("close", (code) => done({ code, stdout, stderr }));
  });
}

/** The lines TSBPF_SERVER_LOG got in `cache` ("CLIENT: server PID: argv" or "CLIENT: local (why): argv"). */
function logLines(cache: string): string[] {
  const file = join(cache, "log");
  return existsSync(file) ? readFileSync(file, "utf8").trim().split("\n") : [];
}

/** Pids of the servers whose pid files are in `cache`. */
function serverPids(cache: string): number[] {
  const dir = join(cache, "server");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".pid"))
    .map((f) => Number(readFileSync(join(dir, f), "utf8")));
}

/**
 * A process with a thread that is not a zombie. Its main thread alone is not enough: killed, it is a zombie while
 * node's other threads are still exiting, and the process's sockets are closed only when the last thread is gone.
 */
function alive(pid: number): boolean {
  try {
    return readdirSync(`/proc/${pid}/task`).some((tid) => !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8")));
  } catch {
    return false;
  }
}

async function until(what: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!what() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  return what();
}

const servedBy = (line: string | undefined) => Number(/^(?:native|node): server (\d+): /.exec(line ?? "")?.[1] ?? NaN);
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

afterAll(async () => {
  const pids = caches.flatMap(serverPids);
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGTERM");
    } catch {
      // Already gone.
    }
  }
  await until(() => pids.every((p) => !alive(p)), 5000);
  rmSync(work, { recursive: true, force: true });
});

describe("through the server, byte for byte what a local run gives", () => {
  const cache = cacheDir();
  const cwd = join(work, "project");
  mkdirSync(join(cwd, "out"), { recursive: true });
  writeFileSync(join(cwd, "prog.ts"), readFileSync(join(ROOT, "examples/port-rules.ts"), "utf8"));
  writeFileSync(join(cwd, "bad.ts"), readFileSync(join(ROOT, "test/diagnostics/cases/recursion.ts"), "utf8"));
  const outputs = ["prog.bpf.o", "out/x.o", "y.o"].map((f) => join(cwd, f));

  /** What a run leaves behind: its streams, exit code, and each output file's bytes and mode. */
  function runAndCollect(args: string[], server: boolean, umask?: string, client?: Client) {
    for (const f of outputs) rmSync(f, { force: true });
    const run = tsbpf(args, { server, cache, cwd, umask, client });
    const files = outputs.filter(existsSync).map((f) => ({ f, mode: statSync(f).mode.toString(8), bytes: readFileSync(f).toString("base64") }));
    return { ...run, files };
  }

  test.each([
    [["build", "prog.ts"], 0],
    [["build", "prog.ts", "-o", "out/x.o", "--target-kernel", "6.6"], 0],
    [["build", "prog.ts", "--dump-asm", "--dump-ir", "-o", "y.o"], 0],
    [["check", "prog.ts"], 0],
    // A fresh cache directory: the host is probed (the kernel addon loads in the server as in a local run).
    [["check", "prog.ts", "--target-kernel", "host"], 0],
    [["check", "bad.ts"], 1],
    [["build", "missing.ts"], 1],
    [["build", "prog.ts", "-o", "/nonexistent/dir/x.o"], 1],
    [["build", "--help"], 0],
    [["check", "-h"], 0],
    [["build"], 2],
    [["build", "prog.ts", "--frobnicate"], 2],
    [["check", "prog.ts", "--target-kernel", "5.4"], 2],
  ])("tsbpf %j", (args, code) => {
    const local = runAndCollect(args, false);
    // The first command finds no server, and the native client starts one.
    const served = runAndCollect(args, true);
    expect(logLines(cache).at(-1)).toMatch(new RegExp(`^native: server \\d+: ${escape(args.join(" "))}$`));
    expect(served).toEqual(local);
    expect(served.code).toBe(code);
    const byNode = runAndCollect(args, true, undefined, "node");
    expect(logLines(cache).at(-1)).toMatch(new RegExp(`^node: server \\d+: ${escape(args.join(" "))}$`));
    expect(byNode).toEqual(local);
  });

  test.each(CLIENTS)("a written file gets the client's umask, not the server's (%s client)", (client) => {
    const local = runAndCollect(["build", "prog.ts"], false, "077");
    const served = runAndCollect(["build", "prog.ts"], true, "077", client);
    expect(logLines(cache).at(-1)).toMatch(new RegExp(`^${client}: server \\d+: `));
    expect(served.files.map((f) => f.mode)).toEqual(["100600"]);
    expect(served).toEqual(local);
  });

  test("every command above ran in one server, which is still up", () => {
    const pids = new Set(logLines(cache).map(servedBy));
    expect([...pids]).toEqual(serverPids(cache));
    expect(alive([...pids][0]!)).toBe(true);
  });

  test("objdump, run, verify and --watch never reach the client", async () => {
    const before = logLines(cache).length;
    expect(tsbpf(["objdump", "/nonexistent.o"], { server: true, cache, cwd }).code).toBe(1);
    // `build --watch` is a long-lived process of its own: sh starts it directly, so SIGINT reaches it and stops it.
    const child = spawn(join(ROOT, "bin/tsbpf.js"), ["build", "--watch", "prog.ts", "-o", "w.o"], { cwd, env: envFor({ server: true, cache }) });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    expect(await until(() => /built in \d+ ms/.test(stderr), 30_000)).toBe(true);
    const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)));
    child.kill("SIGINT");
    expect(await exited).toBe(0);
    expect(existsSync(join(cwd, "w.o"))).toBe(true);
    expect(logLines(cache).slice(before)).toEqual([]);
  });
});

describe.each(CLIENTS)("a server that fails the %s client: the command runs locally, printed once", (client) => {
  const cache = cacheDir();
  const args = ["check", "examples/redirect-port.ts"];
  let fake: Server | undefined;

  /** Listens at the socket this installation's client looks for, answering each connection with `answer`. */
  async function fakeServer(answer: (conn: import("node:net").Socket) => void): Promise<void> {
    const socket = socketPath(serverKey(ROOT, envFor({ server: true, cache })), cache)!;
    rmSync(socket, { force: true });
    fake = createServer((conn) => conn.once("data", () => answer(conn)));
    await new Promise<void>((done) => fake!.listen(socket, done));
  }

  afterAll(() => fake?.close());

  test("dies after part of the output", async () => {
    await fakeServer((conn) => {
      conn.write(Buffer.concat([encodeFrame({ t: "hello", pid: 1 }), encodeFrame({ t: "out", d: "partial\n" })]));
      conn.destroy();
    });
    const r = await tsbpfAsync(args, { server: true, cache, client });
    expect(r).toEqual(tsbpf(args, { server: false, cache }));
    expect(logLines(cache).at(-1)).toBe(`${client}: local (the server went away): ${args.join(" ")}`);
    await new Promise<void>((done) => fake!.close(() => done()));
  });

  test("answers something that is not the protocol", async () => {
    await fakeServer((conn) => conn.end("HTTP/1.1 400 Bad Request\n"));
    const r = await tsbpfAsync(args, { server: true, cache, client });
    expect(r).toEqual(tsbpf(args, { server: false, cache }));
    expect(logLines(cache).at(-1)).toBe(`${client}: local (unreadable answer): ${args.join(" ")}`);
    await new Promise<void>((done) => fake!.close(() => done()));
  });

  test("hangs: after TSBPF_SERVER_TIMEOUT the client kills it and runs the command itself", async () => {
    // The "server" announces the pid of a sleeping process, then says nothing more.
    const hung = spawn("sleep", ["60"]);
    const killed = new Promise<NodeJS.Signals | null>((done) => hung.on("exit", (_code, signal) => done(signal)));
    await fakeServer((conn) => conn.write(encodeFrame({ t: "hello", pid: hung.pid! })));
    const t0 = Date.now();
    const r = await tsbpfAsync(args, { server: true, cache, client, env: { TSBPF_SERVER_TIMEOUT: "1" } });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    expect(r).toEqual(tsbpf(args, { server: false, cache }));
    expect(logLines(cache).at(-1)).toBe(`${client}: local (timed out): ${args.join(" ")}`);
    expect(await killed).toBe("SIGKILL");
    await new Promise<void>((done) => fake!.close(() => done()));
  });
});

describe("server lifetime", () => {
  test("a killed server leaves a stale socket; the next client replaces it with a new server", async () => {
    const cache = cacheDir();
    const args = ["check", "examples/redirect-port.ts"];
    expect(tsbpf(args, { server: true, cache }).code).toBe(0);
    const [first] = serverPids(cache);
    process.kill(first!, "SIGKILL");
    expect(await until(() => !alive(first!), 5000)).toBe(true);
    const socket = socketPath(serverKey(ROOT, envFor({ server: true, cache })), cache)!;
    expect(existsSync(socket)).toBe(true);
    const r = tsbpf(args, { server: true, cache });
    expect(r).toEqual(tsbpf(args, { server: false, cache }));
    // Refused at the stale socket, the native client starts a server.
    expect(logLines(cache).at(-1)).toMatch(/^native: server \d+: /);
    const second = servedBy(logLines(cache).at(-1));
    expect(second).not.toBe(first);
    expect(serverPids(cache)).toEqual([second]);
  });

  test("a rebuilt installation gets a new server; the old one exits", async () => {
    const cache = cacheDir();
    // A copy of the installation (what a rebuild changes is its own files, not the repository's), in a folder whose
    // name is not ASCII: both clients hash its UTF-8 bytes into the same key.
    const copy = mkdtempSync(join(work, "install-ü-"));
    for (const part of ["package.json", "bin", "dist", "stdlib", "build/Release/tsbpf-client"]) cpSync(join(ROOT, part), join(copy, part), { recursive: true });
    symlinkSync(join(ROOT, "node_modules"), join(copy, "node_modules"));
    const bin = join(copy, "bin/tsbpf.js");
    const args = ["check", join(ROOT, "examples/redirect-port.ts")];
    expect(tsbpf(args, { server: true, cache, bin }).code).toBe(0);
    expect(tsbpf(args, { server: true, cache, bin }).code).toBe(0);
    expect(logLines(cache).at(-1)).toMatch(/^native: server \d+: /);
    const old = servedBy(logLines(cache).at(-1));
    expect(alive(old)).toBe(true);
    const later = new Date(Date.now() + 5000);
    utimesSync(join(copy, "dist/cli.js"), later, later);
    const r = tsbpf(args, { server: true, cache, bin });
    expect(r.code).toBe(0);
    // A new key: nobody listens at its socket, so the native client started a server for it.
    expect(logLines(cache).at(-1)).toMatch(/^native: server \d+: /);
    const fresh = servedBy(logLines(cache).at(-1));
    expect(fresh).not.toBe(old);
    expect(await until(() => !alive(old), 10_000)).toBe(true);
    expect(serverPids(cache)).toEqual([fresh]);
  });

  test("concurrent clients with no server yet: one server answers them all", async () => {
    const cache = cacheDir();
    const files = ["redirect-port", "cidr-all-ports", "l7-proxy", "dispatcher", "redirect-ip6", "port-rules"].map((f) => `examples/${f}.ts`);
    const served = await Promise.all(files.map((f) => tsbpfAsync(["check", f], { server: true, cache })));
    const local = files.map((f) => tsbpf(["check", f], { server: false, cache }));
    expect(served).toEqual(local);
    const pids = new Set(logLines(cache).map(servedBy));
    expect(pids.size).toBe(1);
    expect([...pids]).toEqual(serverPids(cache));
  });

  test("a server that cannot start: the build runs locally, and later builds do not try again for a while", () => {
    const cache = cacheDir();
    const socket = socketPath(serverKey(ROOT, envFor({ server: true, cache })), cache)!;
    // Something that is neither a live server nor a stale socket holds the name.
    mkdirSync(socket);
    const args = ["check", "examples/redirect-port.ts"];
    const local = tsbpf(args, { server: false, cache });
    expect(tsbpf(args, { server: true, cache })).toEqual(local);
    expect(tsbpf(args, { server: true, cache })).toEqual(local);
    // The native client's server fails to start, so it hands the command to the node client, which fails again and
    // remembers it; the next native client sees that mark and hands the command on at once.
    expect(logLines(cache)).toEqual([`node: local (the server did not start): ${args.join(" ")}`, `node: local (the server failed to start recently): ${args.join(" ")}`]);
    expect(serverPids(cache)).toEqual([]);
  });

  test("an idle server exits (TSBPF_SERVER_IDLE) and removes its socket and pid file", async () => {
    const cache = cacheDir();
    expect(tsbpf(["check", "examples/redirect-port.ts"], { server: true, cache, env: { TSBPF_SERVER_IDLE: "1" } }).code).toBe(0);
    const pid = servedBy(logLines(cache).at(-1));
    expect(await until(() => !alive(pid), 10_000)).toBe(true);
    expect(readdirSync(join(cache, "server"))).toEqual([]);
  });

  test("a relative TSBPF_CACHE_DIR: the server (which runs in /) listens where the client looks", () => {
    const cache = cacheDir();
    const args = ["check", "examples/redirect-port.ts"];
    const env = { TSBPF_CACHE_DIR: relative(ROOT, cache) };
    expect(tsbpf(args, { server: true, cache, env })).toEqual(tsbpf(args, { server: false, cache }));
    expect(tsbpf(args, { server: true, cache, env }).code).toBe(0);
    const lines = logLines(cache);
    expect(lines).toEqual([expect.stringMatching(/^native: server \d+: /), expect.stringMatching(/^native: server \d+: /)]);
    expect(servedBy(lines[1])).toBe(servedBy(lines[0]));
    expect(existsSync(join(cache, "server"))).toBe(true);
  });

  test("with TSBPF_NO_SNAPSHOT=1 the native client leaves the start to the node client, which starts dist/cli.js", () => {
    const cache = cacheDir();
    const args = ["check", "examples/redirect-port.ts"];
    const env = { TSBPF_NO_SNAPSHOT: "1" };
    expect(tsbpf(args, { server: true, cache, env })).toEqual(tsbpf(args, { server: false, cache, env }));
    expect(logLines(cache).at(-1)).toMatch(/^node: server \d+: /);
    const pid = servedBy(logLines(cache).at(-1));
    expect(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")).toContain(join(ROOT, "dist/cli.js"));
    expect(tsbpf(args, { server: true, cache, env }).code).toBe(0);
    expect(logLines(cache).at(-1)).toBe(`native: server ${pid}: ${args.join(" ")}`);
  });

  test.each(CLIENTS)("the socket's directory is private to the user (mode 0700), even when it existed looser (%s client)", (client) => {
    const cache = cacheDir();
    mkdirSync(join(cache, "server"), { mode: 0o755 });
    expect(tsbpf(["check", "examples/redirect-port.ts"], { server: true, cache, client }).code).toBe(0);
    expect(logLines(cache).at(-1)).toMatch(new RegExp(`^${client}: server \\d+: `));
    expect(statSync(join(cache, "server")).mode & 0o777).toBe(0o700);
  });
});

describe("the native client computes what protocol.ts computes", () => {
  const native = join(ROOT, "build/Release/tsbpf-client");

  test.each([
    ["the default cache directory", {}],
    ["TSBPF_CACHE_DIR with a trailing slash", { TSBPF_CACHE_DIR: `${join(work, "k")}//` }],
    ["XDG_CACHE_HOME, no snapshot, an addon path", { TSBPF_CACHE_DIR: "", XDG_CACHE_HOME: join(work, "xdg"), TSBPF_NO_SNAPSHOT: "1", TSBPF_NATIVE_ADDON: "/x/ä.node" }],
    ["a socket path too long for sun_path", { TSBPF_CACHE_DIR: join(work, "d".repeat(120)) }],
    ["a relative TSBPF_CACHE_DIR (from the working directory)", { TSBPF_CACHE_DIR: "node_modules/.cache/tsbpf-rel" }],
  ])("key and socket path: %s", (_what, extra: Record<string, string>) => {
    const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
    for (const [k, v] of Object.entries(extra)) if (v === "") delete env[k];
    const key = serverKey(ROOT, env);
    // socketPath() reads the cache directory from process.env, as the node client does in its own process.
    const saved = { ...process.env };
    Object.assign(process.env, env);
    for (const k of Object.keys(extra)) if (env[k] === undefined) delete process.env[k];
    let socket: string | undefined;
    try {
      socket = socketPath(key);
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
    const out = execFileSync(native, ["--key", ROOT], { env, encoding: "utf8" }).split("\n");
    expect(out.slice(0, 2)).toEqual([key, socket ?? ""]);
  });
});

/** Lines of `node --trace-opt dist/cli.js ARGS` that say V8 marks or compiles a function for optimisation. */
function optimisations(args: string[]): number {
  const r = spawnSync(process.execPath, ["--trace-opt", join(ROOT, "dist/cli.js"), ...args], { cwd: ROOT, encoding: "utf8" });
  expect(r.status, r.stderr).toBe(0);
  return (r.stdout.match(/^\[(?:marking|compiling method)/gm) ?? []).length;
}

// A process that runs one build or check turns the optimising compiler off (compiler/cli/one-shot.ts): its background
// compiles cost more CPU than one build gains; the server keeps it. The control (verify) shows --trace-opt reports.
test("a one-shot build and check compile nothing with the optimising compiler; verify still does", () => {
  const object = join(work, "one-shot.o");
  expect(optimisations(["build", "examples/port-rules.ts", "-o", object])).toBe(0);
  expect(optimisations(["check", "examples/port-rules.ts"])).toBe(0);
  expect(optimisations(["verify", object])).toBeGreaterThan(0);
});

test("the server runs its first build without the optimising compiler, and optimises the builds after it", async () => {
  const cache = cacheDir();
  const socket = socketPath(serverKey(ROOT, envFor({ server: true, cache })), cache)!;
  // A server started by hand where the client looks for it, with V8 reporting what it optimises (into a file: the
  // builds below block this process, which could not drain a pipe meanwhile).
  const traceFile = join(cache, "trace");
  const out = openSync(traceFile, "w");
  const key = serverKey(ROOT, envFor({ server: true, cache }));
  const server = spawn(process.execPath, ["--trace-opt", join(ROOT, "dist/cli.js"), "__tsbpf_serve", socket, key, ROOT], { env: envFor({ server: true, cache }), stdio: ["ignore", out, "ignore"] });
  closeSync(out);
  const traced = () => (readFileSync(traceFile, "utf8").match(/^\[(?:marking|compiling method)/gm) ?? []).length;
  try {
    expect(await until(() => existsSync(socket), 30_000)).toBe(true);
    const args = ["build", "examples/port-rules.ts", "-o", join(work, "traced.o")];
    expect(tsbpf(args, { server: true, cache }).code).toBe(0);
    expect(logLines(cache)).toEqual([`native: server ${server.pid}: ${args.join(" ")}`]);
    expect(traced()).toBe(0);
    for (let i = 0; i < 5; i++) expect(tsbpf(args, { server: true, cache }).code).toBe(0);
    expect(await until(() => traced() > 0, 5000)).toBe(true);
  } finally {
    server.kill("SIGTERM");
  }
});

test("an interrupted client's build writes nothing (as an interrupted local run), and the server goes on serving", async () => {
  const cache = cacheDir();
  // 110 programs: a cold server compiles them for a second or more, long enough to interrupt.
  const many = writeManyPrograms(ROOT, join(work, "interrupt"), 10);
  const out = join(work, "interrupt", "big.o");
  const args = ["build", many.source, "-o", out];
  const client = spawn(join(ROOT, "bin/tsbpf.js"), args, { cwd: ROOT, env: envFor({ server: true, cache }), stdio: "ignore" });
  const exited = new Promise<NodeJS.Signals | null>((done) => client.on("exit", (_code, signal) => done(signal)));
  // The server listens (its pid file is written after it claimed the socket); the client sent its request at once.
  expect(await until(() => serverPids(cache).length === 1, 30_000)).toBe(true);
  await new Promise((r) => setTimeout(r, 300));
  client.kill("SIGINT");
  expect(await exited).toBe("SIGINT");
  // Queued behind the interrupted build: when it is answered, that build has ended.
  const next = tsbpf(["check", "examples/redirect-port.ts"], { server: true, cache });
  expect(next.code).toBe(0);
  expect(existsSync(out)).toBe(false);
  expect(logLines(cache)).toEqual([`native: server ${serverPids(cache)[0]}: check examples/redirect-port.ts`]);
  // The control: not interrupted, the same command writes the object.
  expect(tsbpf(args, { server: true, cache }).code).toBe(0);
  expect(existsSync(out)).toBe(true);
});
