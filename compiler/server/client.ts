/**
 * The node client of the compile server: what `tsbpf build` / `tsbpf check` run where the native client
 * (native/client.c, which does the same in ~1 ms of CPU) is not built, or hands a command on (bin/tsbpf.js or it execs
 * dist/server/client.cjs, this file bundled as CommonJS so that plain `node` starts it without the ESM loader,
 * TypeScript or the snapshot). It sends the command to the warm server of this installation and prints the answer; with no
 * server it starts one (detached) and waits for it to listen. Whenever the server cannot answer (it fails to start,
 * dies, hangs past the timeout, belongs to another version, or declines), the command runs locally exactly as it
 * would without the server: output is held until the server's exit code arrives, so nothing is printed twice.
 *
 * TSBPF_SERVER=0 turns the server off; TSBPF_SERVER_TIMEOUT (seconds, default 120) bounds a request;
 * TSBPF_SERVER_LOG=FILE appends one line per command saying which client (`node:`; native/client.c writes `native:`)
 * and who ran it (tests prove with it that the server answered).
 */
import { appendFileSync, existsSync, statSync, writeFileSync, writeSync } from "node:fs";
import { createConnection } from "node:net";
import { join } from "node:path";
import { isatty } from "node:tty";
import { FrameReader, PROTOCOL_VERSION, SERVE_FLAG, encodeRequest, forwardedEnv, isServerCommand, serverKey, socketPath, type ServerFrame, type ServerRequest } from "./protocol.ts";

/** How long a new server may take to listen (a start without the snapshot loads TypeScript: ~1 s on a busy machine). */
const START_TIMEOUT_MS = 15_000;
const DEFAULT_REQUEST_TIMEOUT_S = 120;
/**
 * After a server failed to start, builds run locally for this long without trying again: a start that cannot succeed
 * (say, something that is not a socket sits at the socket path) would otherwise cost every build a second process.
 */
const RETRY_START_AFTER_MS = 10 * 60_000;

/** The file that marks a failed start of the server of `socket`. */
const failedStartMark = (socket: string) => `${socket}.failed`;

/** True when a server for `socket` failed to start less than RETRY_START_AFTER_MS ago. */
function failedRecently(socket: string): boolean {
  try {
    return Date.now() - statSync(failedStartMark(socket)).mtimeMs < RETRY_START_AFTER_MS;
  } catch {
    return false;
  }
}

/** The local run: what bin/tsbpf.js did before the server (the start-up snapshot when it exists, else dist/cli.js). */
function localArgs(root: string, env: NodeJS.ProcessEnv): string[] {
  const blob = join(root, "dist", "snapshot", `tsbpf-${process.version}.blob`);
  return !env.TSBPF_NO_SNAPSHOT && existsSync(blob) ? ["--snapshot-blob", blob] : [join(root, "dist", "cli.js")];
}

/** Runs the command in a child node with this process's streams; its exit code (a signal is re-raised here). */
async function runLocally(root: string, argv: string[]): Promise<number> {
  // Loaded on demand, like the process streams below: each costs the client ~1 ms of CPU on every build.
  const { spawnSync } = await import("node:child_process");
  const r = spawnSync(process.execPath, [...localArgs(root, process.env), ...argv], { stdio: "inherit" });
  if (r.signal) process.kill(process.pid, r.signal);
  return r.status ?? 70;
}

/** What one attempt to ask a server gave. */
type Answer =
  | { kind: "done"; frames: ServerFrame[]; code: number; pid: number | undefined }
  | { kind: "absent" }
  | { kind: "no"; why: string };

/** Sends `request` to `socket` and collects the answer (absent: nothing listens there). */
function ask(socket: string, request: ServerRequest, timeoutMs: number): Promise<Answer> {
  return new Promise((done) => {
    const frames: ServerFrame[] = [];
    const reader = new FrameReader();
    let pid: number | undefined;
    let connected = false;
    let settled = false;
    const conn = createConnection(socket);
    const settle = (a: Answer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      conn.destroy();
      done(a);
    };
    const timer = setTimeout(() => {
      // A server that does not answer in time is stuck: stop it, so the next build starts a fresh one.
      if (pid !== undefined) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
      settle({ kind: "no", why: "timed out" });
    }, timeoutMs);
    conn.on("connect", () => {
      connected = true;
      conn.write(encodeRequest(request));
    });
    conn.on("data", (chunk: Buffer) => {
      let messages: ServerFrame[];
      try {
        messages = reader.push(chunk);
      } catch {
        return settle({ kind: "no", why: "unreadable answer" });
      }
      for (const m of messages) {
        if (m.t === "hello") pid = m.pid;
        else if (m.t === "out" || m.t === "err") frames.push(m);
        else if (m.t === "exit") return settle({ kind: "done", frames, code: m.code, pid });
        else if (m.t === "fallback") return settle({ kind: "no", why: m.why });
      }
    });
    conn.on("error", (err: NodeJS.ErrnoException) => settle(connected ? { kind: "no", why: err.message } : { kind: "absent" }));
    conn.on("close", () => settle({ kind: "no", why: "the server went away" }));
  });
}

/** Starts a detached server for `socket`; returns a function telling whether it has already failed. */
async function startServer(root: string, socket: string, key: string): Promise<() => boolean> {
  let failed = false;
  try {
    const { spawn } = await import("node:child_process");
    const child = spawn(process.execPath, [...localArgs(root, process.env), SERVE_FLAG, socket, key, root], {
      detached: true,
      stdio: "ignore",
      cwd: "/",
    });
    child.on("error", () => (failed = true));
    // Exit 0 is a server that found another one already listening: keep trying to connect.
    child.on("exit", (code) => (failed ||= code !== 0));
    child.unref();
  } catch {
    failed = true;
  }
  return () => failed;
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** Asks the server, starting it first when there is none; undefined when the command must run locally. */
async function throughServer(root: string, argv: string[]): Promise<Answer> {
  const key = serverKey(root, process.env);
  const socket = socketPath(key);
  if (!socket) return { kind: "no", why: "no private directory for the socket" };
  const timeoutS = Number(process.env.TSBPF_SERVER_TIMEOUT);
  const timeoutMs = (Number.isFinite(timeoutS) && timeoutS > 0 ? timeoutS : DEFAULT_REQUEST_TIMEOUT_S) * 1000;
  const request: ServerRequest = {
    v: PROTOCOL_VERSION,
    key,
    argv,
    cwd: process.cwd(),
    env: forwardedEnv(process.env),
    umask: process.umask(),
    stdoutIsTTY: isatty(1),
    stderrIsTTY: isatty(2),
  };
  let answer = await ask(socket, request, timeoutMs);
  if (answer.kind === "absent") {
    if (failedRecently(socket)) return { kind: "no", why: "the server failed to start recently" };
    const failed = await startServer(root, socket, key);
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (answer.kind === "absent" && !failed() && Date.now() < deadline) {
      await sleep(10);
      answer = await ask(socket, request, timeoutMs);
    }
    if (answer.kind === "absent" && failed()) {
      try {
        writeFileSync(failedStartMark(socket), "", { mode: 0o600 });
      } catch {
        // Unmarked, the next build tries again.
      }
      return { kind: "no", why: "the server did not start" };
    }
    if (answer.kind === "absent") return { kind: "no", why: "the server did not listen in time" };
  }
  return answer;
}

/** Appends `line` to $TSBPF_SERVER_LOG when it is set. */
function log(line: string): void {
  const file = process.env.TSBPF_SERVER_LOG;
  if (!file) return;
  try {
    appendFileSync(file, `node: ${line}\n`);
  } catch {
    // A log that cannot be written changes nothing else.
  }
}

/** Descriptors that refused a write (EAGAIN: non-blocking and full); they get the rest through their stream. */
const throughStream = new Set<number>();

/**
 * Writes `data` to file descriptor `fd` directly (creating process.stdout/stderr costs more than the write); a
 * non-blocking descriptor that is full (EAGAIN) gets this and later text through its stream, which waits, in order.
 */
function writeAll(fd: 1 | 2, data: string | Uint8Array): void {
  const stream = () => (fd === 1 ? process.stdout : process.stderr);
  if (throughStream.has(fd)) return void stream().write(data);
  const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  let at = 0;
  try {
    while (at < bytes.length) at += writeSync(fd, bytes, at);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // A reader that went away (`| head`): the rest has nowhere to go, as with a local run.
    if (code === "EPIPE") return;
    if (code !== "EAGAIN") throw err;
    throughStream.add(fd);
    stream().write(bytes.subarray(at));
  }
}

/**
 * Runs `argv` (a tsbpf command line) for the installation at `root`: through the compile server when it applies and
 * answers, else locally. Resolves to the exit code.
 */
export async function runClient(root: string, argv: string[]): Promise<number> {
  const answer: Answer = process.env.TSBPF_SERVER !== "0" && isServerCommand(argv) ? await throughServer(root, argv) : { kind: "no", why: "not for the server" };
  if (answer.kind !== "done") {
    log(`local (${answer.kind === "no" ? answer.why : "no server"}): ${argv.join(" ")}`);
    return runLocally(root, argv);
  }
  log(`server ${answer.pid}: ${argv.join(" ")}`);
  for (const f of answer.frames) if (f.t === "out" || f.t === "err") writeAll(f.t === "out" ? 1 : 2, f.d);
  return answer.code;
}
