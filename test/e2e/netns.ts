/**
 * Throwaway network namespaces and the agent process that runs inside one. Each test file creates its own
 * namespaces (`tsbpf-e2e-<pid>-<n>`), brings up loopback, adds only the addresses it needs to its own `lo`, and
 * deletes them in afterAll. Nothing touches the host's namespace.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import type { ObjectFile } from "../../compiler/elf/object.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "..", "..");
let counter = 0;
const TAG = randomBytes(3).toString("hex");

/** A network namespace owned by the test; `close()` deletes it (and so every socket and link in it). */
export class Netns {
  readonly path: string;
  private constructor(readonly name: string) {
    this.path = `/run/netns/${name}`;
  }

  /** Creates `tsbpf-e2e-<pid>-<tag>-<n>` with loopback up and the given extra addresses (CIDR) on lo. */
  static create(addresses: string[] = []): Netns {
    // pid + a per-module random tag + a counter: unique even when test files share a worker process.
    const ns = new Netns(`tsbpf-e2e-${process.pid}-${TAG}-${counter++}`);
    execFileSync("ip", ["netns", "add", ns.name]);
    try {
      ns.ip("link", "set", "lo", "up");
      for (const a of addresses) ns.ip("addr", "add", a, "dev", "lo");
    } catch (err) {
      ns.close();
      throw err;
    }
    return ns;
  }

  /** Runs `ip -n NAME ...`. */
  ip(...args: string[]): string {
    return execFileSync("ip", ["-n", this.name, ...args], { encoding: "utf8" });
  }

  /** Deletes the namespace. Idempotent. */
  close(): void {
    try {
      execFileSync("ip", ["netns", "delete", this.name], { stdio: "pipe" });
    } catch {
      // already gone
    }
  }
}

/** A bundle of the kernel loader as plain ESM, so a plain `node` child can import it (Node 20 cannot run .ts). */
export interface LoaderBundle {
  dir: string;
  /** Absolute path of the bundled module exporting the loader API. */
  module: string;
  /** Writes an object (JSON, bytes as base64) for the agent to load; returns its path. */
  writeObject(name: string, obj: ObjectFile): string;
  dispose(): void;
}

/** Bundles runtime/kernel/index.ts with esbuild into a temp dir. */
export async function bundleLoader(): Promise<LoaderBundle> {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-e2e-"));
  const module = join(dir, "kernel.mjs");
  await build({
    entryPoints: [join(ROOT, "runtime/kernel/index.ts")],
    outfile: module,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    logLevel: "warning",
  });
  return {
    dir,
    module,
    writeObject(name, obj) {
      const path = join(dir, `${name}.json`);
      const json = {
        license: obj.license,
        maps: obj.maps,
        programs: obj.programs.map((p) => ({ name: p.name, section: p.section, mapRelocs: p.mapRelocs, bytes: Buffer.from(p.bytes).toString("base64") })),
      };
      writeFileSync(path, JSON.stringify(json));
      return path;
    },
    dispose() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A reply from the agent: `ok` plus command-specific fields, or `error`. */
export type AgentReply = { ok: true; [k: string]: unknown } | { ok: false; error: string; code?: string };

/**
 * The agent (agent.mjs) running inside a namespace via `ip netns exec`. Commands are JSON lines on stdin; each gets
 * exactly one JSON line back, in order.
 */
export class Agent {
  private pending: Array<(r: AgentReply) => void> = [];
  private stderr = "";

  private constructor(private readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const resolve = this.pending.shift();
      resolve?.(JSON.parse(line) as AgentReply);
    });
    child.stderr!.on("data", (d: Buffer) => (this.stderr += d.toString()));
    child.on("exit", (code) => {
      for (const r of this.pending.splice(0)) r({ ok: false, error: `agent exited with ${code}: ${this.stderr}` });
    });
  }

  /** Starts the agent in `ns`, importing the loader bundle. */
  static start(ns: Netns, bundle: LoaderBundle): Agent {
    const addon = join(ROOT, "build/Release/tsbpf_bpf.node");
    const child = spawn("ip", ["netns", "exec", ns.name, process.execPath, join(HERE, "agent.mjs"), bundle.module], {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, TSBPF_NATIVE_ADDON: addon },
    });
    return new Agent(child);
  }

  /** Sends a command; resolves with its reply. */
  send(cmd: Record<string, unknown>): Promise<AgentReply> {
    return new Promise((resolve) => {
      this.pending.push(resolve);
      this.child.stdin!.write(`${JSON.stringify(cmd)}\n`);
    });
  }

  /** Sends a command and throws when it fails. */
  async do(cmd: Record<string, unknown>): Promise<Record<string, unknown>> {
    const r = await this.send(cmd);
    if (!r.ok) throw new Error(`agent ${String(cmd.op)} failed: ${r.error}`);
    return r;
  }

  /** Ends the agent (closing its links, maps and sockets). */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once("exit", r));
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 3000);
    await exited;
    clearTimeout(timer);
  }
}
