/**
 * openKernel()'s single clear error, seen from separate processes: the loader bundled to plain JS runs as an
 * unprivileged user, without its addon, and with CAP_BPF and CAP_SYS_ADMIN dropped from a root process.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeKernel } from "../support/kernel.ts";
import { type LoaderBundle, bundleLoader } from "../e2e/netns.ts";

/** True when `cmd` is on PATH (capsh comes from libcap2-bin, which a minimal machine may lack). */
const have = (cmd: string): boolean => {
  try {
    execFileSync("sh", ["-c", `command -v ${cmd}`], { stdio: "pipe" });
    return true;
  } catch {
    return false;
  }
};

const BUILT_ADDON = join(import.meta.dirname, "../../build/Release/tsbpf_bpf.node");

describeKernel("openKernel: what is missing", () => {
  let bundle: LoaderBundle;
  let probe: string;
  /** The addon, copied next to the probe: the unprivileged user cannot reach a checkout in a private (0700) folder. */
  let addon: string;

  beforeAll(async () => {
    bundle = await bundleLoader();
    chmodSync(bundle.dir, 0o755); // readable by the unprivileged user below
    probe = join(bundle.dir, "probe.mjs");
    writeFileSync(
      probe,
      `const k = await import(${JSON.stringify(bundle.module)});
try { k.openKernel(); console.log("ok"); } catch (e) { console.log(e.name + ": " + e.message); }\n`,
    );
    chmodSync(probe, 0o644);
    addon = join(bundle.dir, "tsbpf_bpf.node");
    copyFileSync(BUILT_ADDON, addon);
    chmodSync(addon, 0o755);
  });
  afterAll(() => bundle?.dispose());

  const run = (cmd: string, args: string[], env: Record<string, string> = {}) =>
    execFileSync(cmd, args, { encoding: "utf8", env: { ...process.env, TSBPF_NATIVE_ADDON: addon, ...env } }).trim();

  it("works as root with the addon", () => {
    expect(run(process.execPath, [probe])).toBe("ok");
  });

  it("names the missing addon", () => {
    expect(run(process.execPath, [probe], { TSBPF_NATIVE_ADDON: "/nonexistent/tsbpf_bpf.node" })).toMatch(
      /^KernelUnavailableError: the native addon tsbpf_bpf.node is not built and no prebuild fits linux-x64 \(TSBPF_NATIVE_ADDON=\/nonexistent\/tsbpf_bpf.node does not exist\): install a C toolchain \(gcc, make and python3, e.g. `apt-get install gcc make python3`\), then run `npm rebuild tsbpf` in your project/,
    );
  });

  it("names the missing privileges for an unprivileged user", () => {
    const out = run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, probe]);
    expect(out).toMatch(/^KernelUnavailableError: missing privileges: loading sk_lookup programs needs CAP_BPF/);
  });

  it.skipIf(!have("capsh"))("names the missing privileges for root without CAP_BPF and CAP_SYS_ADMIN", () => {
    const out = run("capsh", ["--drop=cap_bpf,cap_sys_admin", "--", "-c", `exec ${process.execPath} ${probe}`]);
    expect(out).toMatch(/^KernelUnavailableError: missing privileges/);
  });

  it("names a denied bpf(2) when capabilities exist only in a user namespace", () => {
    // unshare -Ur: "root" with every capability inside a new user namespace, none in the initial one.
    const out = run("unshare", ["-Ur", process.execPath, probe]);
    expect(out).toMatch(/^KernelUnavailableError: bpf\(2\) is denied \(EPERM\)/);
  });
});
