/**
 * Runs once before the suite, in vitest's main process.
 * - `npm run build`: the tests of the CLI, the start-up snapshot, the code cache and the compile server run dist/ and
 *   bin/tsbpf.js. Each used to rebuild dist/ in its own beforeAll, and files run in parallel: a rebuild rewrote
 *   dist/cli.js and the snapshot blob under another file's running commands and servers (a server whose installation
 *   changes is stale; a blob half written does not load), which failed server.test.ts now and then. One build, before
 *   any file starts, serves them all (~3 s).
 * - bpffs: a fresh machine may boot without it on /sys/fs/bpf (sysfs only shows the empty mount point); bpftool
 *   mounts it lazily, so tests that mkdir pin directories would pass or fail by file order. Mounting it here, as root
 *   on Linux, makes the suite independent of that order.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** True when a bpf filesystem is mounted at /sys/fs/bpf. */
function bpffsMounted(): boolean {
  return readFileSync("/proc/self/mounts", "utf8")
    .split("\n")
    .some((line) => {
      const [, where, type] = line.split(" ");
      return where === "/sys/fs/bpf" && type === "bpf";
    });
}

export default function setup(): void {
  execFileSync("npm", ["run", "build"], { cwd: join(import.meta.dirname, "../.."), stdio: "pipe" });
  if (process.platform !== "linux" || process.getuid?.() !== 0 || bpffsMounted()) return;
  try {
    execFileSync("mount", ["-t", "bpf", "bpf", "/sys/fs/bpf"], { stdio: "pipe" });
  } catch (err) {
    console.warn(`[setup] could not mount bpffs on /sys/fs/bpf: ${(err as { stderr?: Buffer }).stderr ?? err}`);
  }
}
