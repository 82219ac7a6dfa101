/**
 * Runs once before the suite. A fresh machine may boot without bpffs on /sys/fs/bpf (sysfs only shows the empty
 * mount point); bpftool mounts it lazily, so tests that mkdir pin directories would pass or fail by file order.
 * Mounting it here, as root on Linux, makes the suite independent of that order.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

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
  if (process.platform !== "linux" || process.getuid?.() !== 0 || bpffsMounted()) return;
  try {
    execFileSync("mount", ["-t", "bpf", "bpf", "/sys/fs/bpf"], { stdio: "pipe" });
  } catch (err) {
    console.warn(`[setup] could not mount bpffs on /sys/fs/bpf: ${(err as { stderr?: Buffer }).stderr ?? err}`);
  }
}
