/**
 * The compile server: a long-lived `tsbpf` process (started by client.ts, from the start-up snapshot when there is
 * one) that keeps TypeScript, its lib and the compiler warm and runs `tsbpf build` / `tsbpf check` for short-lived
 * clients. A cold process spends ~150 ms of CPU deserialising or loading the compiler before it compiles anything in
 * ~20 ms; through the server a build costs the client's Node start-up plus those ~20 ms.
 *
 * Each request runs the same `main()` (cli/dispatch.ts) as a local run, with the client's working directory, umask
 * and tsbpf environment variables, its output sent back instead of written. Requests run one at a time: chdir, the
 * environment and the umask are per process. Access control is the socket's directory (0700, protocol.ts).
 *
 * The server exits after an idle time (TSBPF_SERVER_IDLE seconds, default 600), when the files of its installation
 * change (a rebuilt or upgraded tsbpf is a new key, so nobody would talk to it again), when another server took its
 * socket name, and on SIGTERM/SIGINT.
 */
import { createServer, createConnection, type Server, type Socket } from "node:net";
import { linkSync, readFileSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import v8 from "node:v8";
import { optimisingCompiler } from "../cli/one-shot.ts";
import { runInNewContext } from "node:vm";
import type { CliIO } from "../cli/usage.ts";
import { PROTOCOL_VERSION, encodeFrame, forwardedEnv, installStamp, isServerCommand, pidFile, type ServerFrame, type ServerRequest } from "./protocol.ts";

/** How a server is started: `tsbpf __tsbpf_serve SOCKET KEY ROOT`. */
export interface ServeOptions {
  socket: string;
  key: string;
  /** The package root of the installation the server belongs to (its files are watched). */
  root: string;
  /** The command line's main() (cli/dispatch.ts). */
  run(argv: string[], io: CliIO): Promise<number>;
}

const DEFAULT_IDLE_SECONDS = 600;
/** How often the server looks at its installation's files and its socket name. */
const CHECK_MS = 2_000;

/** How long after its last request the server collects its garbage (V8 then gives unused heap pages back). */
const COLLECT_AFTER_MS = 3_000;

/**
 * V8's full collection, reached at run time (the server is started without --expose-gc). Without it, the heap of a
 * server that just ran many builds stays at its high-water mark while it idles; undefined if V8 refuses.
 */
function garbageCollector(): (() => void) | undefined {
  try {
    v8.setFlagsFromString("--expose-gc");
    return runInNewContext("gc") as () => void;
  } catch {
    return undefined;
  }
}

function idleMs(): number {
  const s = Number(process.env.TSBPF_SERVER_IDLE);
  return (Number.isFinite(s) && s > 0 ? s : DEFAULT_IDLE_SECONDS) * 1000;
}

/** True when something accepts connections at `path`. */
function answers(path: string): Promise<boolean> {
  return new Promise((done) => {
    const c = createConnection(path);
    c.once("connect", () => (c.destroy(), done(true)));
    c.once("error", () => done(false));
  });
}

function inode(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone.
  }
}

/**
 * Binds the listening socket at a private name, then claims `socket` with link(2), which fails when the name exists:
 * two servers started at once cannot both win, and a live server's socket is never replaced. A name nobody answers
 * at is a stale socket (a killed server) and is removed first. Resolves to the socket's inode, or undefined when
 * another live server holds the name; throws when the name can be neither taken nor freed.
 */
async function claim(server: Server, socket: string): Promise<number | undefined> {
  const temporary = `${socket}.${process.pid}`;
  removeQuietly(temporary);
  await new Promise<void>((done, fail) => {
    server.once("error", fail);
    server.listen(temporary, () => (server.off("error", fail), done()));
  });
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        linkSync(temporary, socket);
        return inode(socket);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      if (await answers(socket)) return undefined;
      removeQuietly(socket);
    }
    // Not a stale socket either (a directory, say): a failed start, which the client remembers for a while.
    throw new Error(`cannot claim ${socket}`);
  } finally {
    removeQuietly(temporary);
  }
}

/** Ends `conn` once what was written to it is flushed (at most a second: a client that went away is not waited for). */
function finish(conn: Socket): Promise<void> {
  return new Promise((done) => {
    if (conn.destroyed) return done();
    const timer = setTimeout(done, 1000);
    conn.end(() => (clearTimeout(timer), done()));
  });
}

/** The process state a request changes, to put back afterwards. */
function enter(request: ServerRequest): () => void {
  const cwd = process.cwd();
  const umask = process.umask(request.umask);
  const saved = forwardedEnv(process.env);
  for (const name of Object.keys(saved)) delete process.env[name];
  Object.assign(process.env, request.env);
  process.chdir(request.cwd);
  return () => {
    process.chdir(cwd);
    process.umask(umask);
    for (const name of Object.keys(forwardedEnv(process.env))) delete process.env[name];
    Object.assign(process.env, saved);
  };
}

/** Runs the compile server until it is idle, stale or told to stop; then exits the process. */
export async function serve(opts: ServeOptions): Promise<void> {
  const stamp = installStamp(opts.root);
  // Requests queue here: each runs after the previous one has answered.
  let queue: Promise<void> = Promise.resolve();
  let busy = 0;
  let served = 0;
  let stopping = false;
  let idleTimer: NodeJS.Timeout | undefined;
  let collectTimer: NodeJS.Timeout | undefined;
  const collect = garbageCollector();
  const server = createServer((conn) => void accept(conn));
  server.on("error", () => shutdown());
  const ino = await claim(server, opts.socket);
  if (ino === undefined) {
    server.close();
    return;
  }
  writeFileSync(pidFile(opts.socket), `${process.pid}\n`, { mode: 0o600 });

  function shutdown(): void {
    if (stopping) return;
    stopping = true;
    server.close();
    // Only our own names: a newer server may already have claimed the socket path.
    if (inode(opts.socket) === ino) removeQuietly(opts.socket);
    try {
      if (readFileSync(pidFile(opts.socket), "utf8").trim() === String(process.pid)) removeQuietly(pidFile(opts.socket));
    } catch {
      // No pid file (another server removed it, or the directory is gone).
    }
    // The request in progress (if any) answers first.
    void queue.then(() => process.exit(0));
  }

  function armIdle(): void {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => busy === 0 && shutdown(), idleMs());
    clearTimeout(collectTimer);
    if (collect) collectTimer = setTimeout(() => busy === 0 && collect(), COLLECT_AFTER_MS);
  }

  const watcher = setInterval(() => {
    if (inode(opts.socket) !== ino || installStamp(opts.root) !== stamp) shutdown();
  }, CHECK_MS);
  watcher.unref();
  for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(sig, shutdown);
  armIdle();

  async function accept(conn: Socket): Promise<void> {
    conn.setEncoding("utf8");
    conn.on("error", () => conn.destroy());
    const send = (frame: ServerFrame) => void (conn.destroyed || conn.write(encodeFrame(frame)));
    // A client that goes away (interrupted: Ctrl-C) no longer wants its command: not run if still queued, and its
    // files are not written (CliIO.stillWanted).
    let gone = false;
    for (const event of ["end", "close"]) conn.on(event, () => (gone = true));
    const stillWanted = async () => {
      // The client's end of the connection is seen only when the event loop polls. A build runs from an I/O
      // callback, so one setImmediate would still come before the next poll; the second comes after it.
      await new Promise((done) => setImmediate(() => setImmediate(done)));
      return !gone;
    };
    let line = "";
    const request = await new Promise<ServerRequest | undefined>((done) => {
      conn.on("data", (chunk: string) => {
        line += chunk;
        const end = line.indexOf("\n");
        if (end < 0) return;
        try {
          done(JSON.parse(line.slice(0, end)) as ServerRequest);
        } catch {
          done(undefined);
        }
      });
      conn.on("end", () => done(undefined));
      conn.on("close", () => done(undefined));
    });
    if (!request || stopping) return void conn.destroy();
    send({ t: "hello", pid: process.pid });
    if (request.v !== PROTOCOL_VERSION) return void (send({ t: "fallback", why: `protocol ${request.v}, server ${PROTOCOL_VERSION}` }), conn.end());
    if (request.key !== opts.key || installStamp(opts.root) !== stamp) {
      send({ t: "fallback", why: "stale server" });
      conn.end();
      return shutdown();
    }
    if (!isServerCommand(request.argv)) return void (send({ t: "fallback", why: "not a command the server runs" }), conn.end());
    busy++;
    queue = queue
      .then(() => (gone ? undefined : runOne(request, send, stillWanted)))
      // Not expected (main() reports its own errors): the client discards what it got and runs the command itself.
      .catch((err: unknown) => send({ t: "fallback", why: String((err as Error)?.message ?? err) }))
      // The answer is flushed before the next request (or a shutdown's exit) runs.
      .then(() => finish(conn))
      .finally(() => {
        busy--;
        armIdle();
      });
  }

  async function runOne(request: ServerRequest, send: (frame: ServerFrame) => void, stillWanted: () => Promise<boolean>): Promise<void> {
    // The first build in a new server is the user's first build: it runs like a one-shot process (compiler/cli/
    // one-shot.ts, without TurboFan); later ones get it back, so a busy server optimises what it runs over and over.
    optimisingCompiler(served++ > 0);
    let leave: () => void;
    try {
      leave = enter(request);
    } catch (err) {
      // A working directory that no longer exists, say: the client's own run says what a local run says.
      return send({ t: "fallback", why: (err as Error).message });
    }
    try {
      const code = await opts.run(request.argv, { stdout: (d) => send({ t: "out", d }), stderr: (d) => send({ t: "err", d }), stillWanted });
      send({ t: "exit", code });
    } finally {
      leave();
    }
  }
}
