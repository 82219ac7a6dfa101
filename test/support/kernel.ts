/**
 * Gate for tests that need the live kernel (bpf(2) as root). Where it is unavailable the suite prints why and skips;
 * on the project's machines and CI it must be available, and setting TSBPF_REQUIRE_KERNEL=1 turns a skip into a failure.
 */
import { execFileSync } from "node:child_process";
import { describe } from "vitest";

let cached: string | null | undefined;

/** Why the kernel cannot be used, or null when bpf(2) with CAP_BPF works here. */
export function kernelUnavailableReason(): string | null {
  if (cached !== undefined) return cached;
  cached = probe();
  return cached;
}

function probe(): string | null {
  if (process.platform !== "linux") return `not Linux (${process.platform})`;
  if (process.getuid?.() !== 0) return "not running as root (bpf(2) for sk_lookup needs CAP_BPF and CAP_NET_ADMIN)";
  try {
    execFileSync("bpftool", ["version"], { stdio: "pipe" });
  } catch {
    return "bpftool is not installed (apt-get install bpftool)";
  }
  try {
    execFileSync("bpftool", ["prog", "show"], { stdio: "pipe" });
  } catch (err) {
    return `bpf(2) is not usable: ${(err as { stderr?: Buffer }).stderr?.toString().trim() ?? String(err)}`;
  }
  return null;
}

/** `describe` that runs only where the kernel is usable, printing the skip reason otherwise. */
export function describeKernel(name: string, body: () => void): void {
  const reason = kernelUnavailableReason();
  if (reason && process.env.TSBPF_REQUIRE_KERNEL === "1") throw new Error(`kernel required but unavailable: ${reason}`);
  if (reason) {
    console.warn(`[skip] ${name}: ${reason}`);
    describe.skip(name, body);
  } else {
    describe(name, body);
  }
}
