/**
 * What the compile server (server.ts) and its client (client.ts) agree on: where the socket is, the key that names
 * it, and the messages. The client is bundled into a small CommonJS file that plain `node` runs on every `tsbpf build`,
 * so this file imports only Node's built-ins and cache-dir.ts (which imports nothing else), and does no work at load.
 *
 * Wire format: newline-delimited JSON over a Unix stream socket. The client sends one {@link ServerRequest}; the
 * server answers with {@link ServerFrame}s: `hello` when it takes the connection, `out`/`err` text in the order the
 * command wrote it, then one `exit` (the command ran) or `fallback` (the server will not run it: the client runs the
 * command itself, so a build is never lost).
 */
import { lstatSync, mkdirSync, readFileSync, statSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { tsbpfCacheDir } from "../cache-dir.ts";

/** Bumped whenever a message changes shape; a server answers a request of another version with `fallback`. */
export const PROTOCOL_VERSION = 1;

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

/** A message from the server. */
export type ServerFrame =
  | { t: "hello"; pid: number }
  | { t: "out"; d: string }
  | { t: "err"; d: string }
  | { t: "exit"; code: number }
  | { t: "fallback"; why: string };

/** One message as it goes on the wire. */
export function encodeFrame(message: ServerRequest | ServerFrame): string {
  return `${JSON.stringify(message)}\n`;
}

/** Splits a stream of text into the JSON messages it carries (a message may arrive in several chunks). */
export class FrameReader {
  private pending = "";

  /** The complete messages `chunk` finishes. Throws SyntaxError on a line that is not JSON. */
  push(chunk: string): unknown[] {
    this.pending += chunk;
    const lines = this.pending.split("\n");
    this.pending = lines.pop()!;
    return lines.map((line) => JSON.parse(line) as unknown);
  }
}

/** FNV-1a over `text`, twice with different offsets: 16 hex digits, enough to tell installations apart (no crypto load). */
function fnv64(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
  }
  return (a >>> 0).toString(16).padStart(8, "0") + (b >>> 0).toString(16).padStart(8, "0");
}

/** The files whose change means "another tsbpf": a server started from older files must not answer. */
function installFiles(root: string): string[] {
  return [
    join(root, "package.json"),
    join(root, "dist", "cli.js"),
    join(root, "dist", "chunks"),
    join(root, "dist", "server", "client.cjs"),
    join(root, "dist", "snapshot", `tsbpf-${process.version}.blob`),
    join(root, "stdlib", "index.d.ts"),
  ];
}

/**
 * The installed tsbpf at `root` as a string that changes when it is rebuilt or upgraded: its path, the Node.js
 * version, and the size and modification time of its entry files, chunk directory, snapshot blob and stdlib.
 */
export function installStamp(root: string): string {
  const parts = [root, process.version];
  for (const file of installFiles(root)) {
    try {
      const st = statSync(file);
      parts.push(`${st.size}:${st.mtimeMs}:${st.ino}`);
    } catch {
      parts.push("-");
    }
  }
  return parts.join("\n");
}

/** This process's effective capabilities: the host probe's answer (--target-kernel host) depends on them. */
function effectiveCaps(): string {
  try {
    return /^CapEff:\s*(\S+)$/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? "?";
  } catch {
    return "?";
  }
}

/**
 * The key of the server a client at `root` may talk to: the installation ({@link installStamp}), the user, the
 * capabilities, and the settings read once per process (which addon, snapshot or not). Any difference: another server.
 */
export function serverKey(root: string, env: NodeJS.ProcessEnv): string {
  const perProcess = [process.getuid?.() ?? -1, effectiveCaps(), env.TSBPF_NATIVE_ADDON ?? "", env.TSBPF_NO_SNAPSHOT ? "no-snapshot" : "snapshot"];
  return fnv64(`${PROTOCOL_VERSION}\n${installStamp(root)}\n${perProcess.join("\n")}`);
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
  for (const dir of [join(cacheDir, "server"), `/tmp/tsbpf-server-${process.getuid?.() ?? "x"}`]) {
    const path = join(dir, `${key}.sock`);
    if (Buffer.byteLength(path) <= MAX_SOCKET_PATH && privateDir(dir)) return path;
  }
  return undefined;
}

/** The file in which a server writes its pid (the bench reads the server's CPU time through it). */
export function pidFile(socket: string): string {
  return `${socket}.pid`;
}
