/**
 * What the compile server (server.ts) and its client (client.ts) agree on: where the socket is, the key that names
 * it, and the messages. The client is bundled into a small CommonJS file that plain `node` runs on every `tsbpf build`,
 * so this file imports only Node's built-ins and cache-dir.ts (which imports nothing else), and does no work at load.
 *
 * There are two clients: native/client.c (build/Release/tsbpf-client, ~1 ms of CPU: what bin/tsbpf.js runs when it is
 * built) and client.ts (dist/server/client.cjs, run by node: it also starts servers). Everything here that a client
 * computes (the key, the socket path, the messages) is computed the same way, byte for byte, in native/client.c.
 *
 * Wire format, over a Unix stream socket. The client sends one {@link ServerRequest} as a line of JSON; the server
 * answers with {@link ServerFrame}s: `hello` when it takes the connection, `out`/`err` bytes in the order the command
 * wrote them, then one `exit` (the command ran) or `fallback` (the server will not run it: the client runs the
 * command itself, so a build is never lost). An answer frame is binary, so that a C client reads it without a JSON
 * parser:
 *
 *   +-----------+----------------------+------------------------+
 *   | type: 1 B | length: u32 LE, 4 B  | payload: length bytes   |
 *   +-----------+----------------------+------------------------+
 *   h hello (server pid, decimal)  o stdout  e stderr  x exit (code, decimal)  f fallback (why)
 */
import { lstatSync, mkdirSync, readFileSync, realpathSync, statSync, chmodSync } from "node:fs";
import { join, resolve } from "node:path";
import { tsbpfCacheDir } from "../cache-dir.ts";

/** Bumped whenever a message changes shape; a server answers a request of another version with `fallback`. */
export const PROTOCOL_VERSION = 2;

/** The hidden first argument (not an option: node would take a leading `--` as its own) that makes `tsbpf` (dist/cli.js or the start-up snapshot) a compile server. */
export const SERVE_FLAG = "__tsbpf_serve";

/**
 * Commands the server runs: one-shot `build` and `check`. `--watch` is a long-lived process of its own (and it reads
 * signals), so never through the server; bin/tsbpf.js's sh lines make the same test before starting the client.
 */
export function isServerCommand(argv: readonly string[]): boolean {
  if (argv[0] !== "build" && argv[0] !== "check") return false;
  return !argv.some((a) => a === "-w" || a === "--watch" || a.startsWith("--watch="));
}

/** Environment variables a command reads, sent with each request and set in the server while it runs. */
export function forwardedEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if ((name.startsWith("TSBPF_") && !name.startsWith("TSBPF_SERVER")) || name === "NO_COLOR" || name === "FORCE_COLOR") out[name] = value;
  }
  return out;
}

/** One command for the server to run, as the client's process would have run it. */
export interface ServerRequest {
  v: number;
  /** The key the client computed; the server runs only requests made for its own key. */
  key: string;
  /** Command line without node and the script: `["build", "x.ts", "-o", "x.o"]`. */
  argv: string[];
  /** The client's working directory: relative paths, default outputs and diagnostics' file names resolve from it. */
  cwd: string;
  /** {@link forwardedEnv} of the client. */
  env: Record<string, string>;
  /** The client's umask, so written files get the mode a local run gives them. */
  umask: number;
  /** Whether the client's streams are terminals (no command reads this today; sent so one can). */
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
}

/** A message from the server (`out`/`err` carry the bytes the command wrote, as text when the server sends them). */
export type ServerFrame =
  | { t: "hello"; pid: number }
  | { t: "out"; d: string | Uint8Array }
  | { t: "err"; d: string | Uint8Array }
  | { t: "exit"; code: number }
  | { t: "fallback"; why: string };

/** One byte per frame type, the first byte of a frame on the wire. */
const FRAME_TYPE = { hello: "h", out: "o", err: "e", exit: "x", fallback: "f" } as const;
const FRAME_NAME: Record<string, ServerFrame["t"]> = { h: "hello", o: "out", e: "err", x: "exit", f: "fallback" };

/** A frame longer than this is not the protocol (a build's whole output is kilobytes); native/client.c has the same. */
const MAX_FRAME = 2 ** 30;

/** The request as it goes on the wire: one line of JSON. */
export function encodeRequest(request: ServerRequest): string {
  return `${JSON.stringify(request)}\n`;
}

/** One answer frame as it goes on the wire (see the diagram at the top). */
export function encodeFrame(frame: ServerFrame): Buffer {
  const payload =
    frame.t === "hello" ? String(frame.pid) : frame.t === "exit" ? String(frame.code) : frame.t === "fallback" ? frame.why : frame.d;
  const body = typeof payload === "string" ? Buffer.from(payload, "utf8") : payload;
  const head = Buffer.alloc(5);
  head.write(FRAME_TYPE[frame.t], 0, "latin1");
  head.writeUInt32LE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** Splits the server's byte stream into frames (a frame may arrive in several chunks). */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0);

  /** The frames `chunk` completes (`out`/`err` payloads as bytes). Throws on bytes that are not the protocol. */
  push(chunk: Uint8Array): ServerFrame[] {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : Buffer.from(chunk);
    const frames: ServerFrame[] = [];
    let at = 0;
    while (this.pending.length - at >= 5) {
      const name = FRAME_NAME[String.fromCharCode(this.pending[at]!)];
      const length = this.pending.readUInt32LE(at + 1);
      if (!name || length > MAX_FRAME) throw new SyntaxError("not a compile-server frame");
      if (this.pending.length - at - 5 < length) break;
      const payload = this.pending.subarray(at + 5, at + 5 + length);
      at += 5 + length;
      if (name === "out" || name === "err") frames.push({ t: name, d: payload });
      else if (name === "fallback") frames.push({ t: name, why: payload.toString("utf8") });
      else {
        const value = /^\d{1,12}$/.test(payload.toString("latin1")) ? Number(payload.toString("latin1")) : NaN;
        if (Number.isNaN(value)) throw new SyntaxError(`a ${name} frame without a number`);
        frames.push(name === "hello" ? { t: name, pid: value } : { t: name, code: value });
      }
    }
    this.pending = this.pending.subarray(at);
    return frames;
  }
}

/** Two FNV-1a-like 32-bit hashes of the UTF-8 bytes of `text`: 16 hex digits, enough to tell installations apart. */
function fnv64(text: string): string {
  const bytes = Buffer.from(text, "utf8");
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (const c of bytes) {
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
  }
  return (a >>> 0).toString(16).padStart(8, "0") + (b >>> 0).toString(16).padStart(8, "0");
}

/** `size:mtimeNs:ino` of `file` (symlinks followed), or `-`: integers, so that native/client.c prints the same. */
function fileStamp(file: string): string {
  try {
    const st = statSync(file, { bigint: true });
    return `${st.size}:${st.mtimeNs}:${st.ino}`;
  } catch {
    return "-";
  }
}

/**
 * The files whose change means "another tsbpf" for the key (native/client.c KEY_FILES). The snapshot blob is not
 * among them (its name holds the Node.js version, which a C client cannot know without starting node): the node
 * binary is in the key instead, and the server checks its blob itself ({@link installStamp}).
 */
const KEY_FILES = ["package.json", "dist/cli.js", "dist/chunks", "dist/server/client.cjs", "stdlib/index.d.ts"];

/** This process's effective capabilities: the host probe's answer (--target-kernel host) depends on them. */
function effectiveCaps(): string {
  try {
    return /^CapEff:\s*(\S+)$/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? "?";
  } catch {
    return "?";
  }
}

/**
 * What the key of a client at `root` hashes, one item per line: the protocol, the installation (its path, the node
 * binary that runs it, and the size, modification time and inode of its entry files), the user, the capabilities,
 * and the settings read once per process (which addon, snapshot or not). Any difference: another server.
 */
export function keyText(root: string, env: NodeJS.ProcessEnv): string {
  let node = process.execPath;
  try {
    node = realpathSync(node);
  } catch {
    // Kept as it is: the key is then only this client's.
  }
  return [
    PROTOCOL_VERSION,
    root,
    node,
    fileStamp(node),
    ...KEY_FILES.map((f) => fileStamp(join(root, f))),
    process.getuid?.() ?? -1,
    effectiveCaps(),
    env.TSBPF_NATIVE_ADDON ?? "",
    env.TSBPF_NO_SNAPSHOT ? "no-snapshot" : "snapshot",
  ].join("\n");
}

/** The key of the server a client at `root` may talk to: a hash of {@link keyText}. */
export function serverKey(root: string, env: NodeJS.ProcessEnv): string {
  return fnv64(keyText(root, env));
}

/**
 * The installation as the server watches it: the key's files and the snapshot blob of this Node.js (a server started
 * from a blob that was rebuilt since answers `fallback` and exits).
 */
export function installStamp(root: string): string {
  return [...KEY_FILES, `dist/snapshot/tsbpf-${process.version}.blob`].map((f) => fileStamp(join(root, f))).join("\n");
}

/** Linux's sun_path holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH = 107;

/**
 * Makes `dir` (and its parents) and checks that it is a real directory of this user that nobody else can enter
 * (mode 0700; tightened when it is ours but looser). That is the only access control: Node cannot read SO_PEERCRED.
 */
export function privateDir(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(dir);
    if (!st.isDirectory() || st.uid !== process.getuid?.()) return false;
    if ((st.mode & 0o077) !== 0) chmodSync(dir, 0o700);
    return true;
  } catch {
    return false;
  }
}

/**
 * Where the server of `key` listens: `server/KEY.sock` in tsbpf's cache directory, or in a per-user directory under
 * /tmp when that path is too long for a Unix socket. Undefined when neither directory is private to this user.
 */
export function socketPath(key: string, cacheDir: string = tsbpfCacheDir()): string | undefined {
  // Absolute (a relative TSBPF_CACHE_DIR is taken from the working directory): the server runs in /.
  for (const dir of [resolve(cacheDir, "server"), `/tmp/tsbpf-server-${process.getuid?.() ?? "x"}`]) {
    const path = join(dir, `${key}.sock`);
    if (Buffer.byteLength(path) <= MAX_SOCKET_PATH && privateDir(dir)) return path;
  }
  return undefined;
}

/** The file in which a server writes its pid (the bench reads the server's CPU time through it). */
export function pidFile(socket: string): string {
  return `${socket}.pid`;
}
