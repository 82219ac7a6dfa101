/**
 * The install hook (`node native/build.mjs`, npm's `install` script) in a package directory laid out like the
 * tarball: a prebuild that loads is used as is; one that does not load (another libc, a newer glibc; here: not an
 * ELF file) is replaced by a source build; without a toolchain the install still succeeds and says what to install
 * and to run `npm rebuild tsbpf`.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

const ROOT = join(import.meta.dirname, "../..");
const PREBUILD = `prebuilds/${process.platform}-${process.arch}/tsbpf_bpf.napi.glibc.node`;
const work = mkdtempSync(join(tmpdir(), "tsbpf-native-install-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A fresh package directory with the native sources (what the tarball ships for the addon). */
function pkg(name: string): string {
  const dir = join(work, name);
  for (const f of ["binding.gyp", "native/build.mjs", "native/bpf.c", "native/client.c", "native/client-key.c", "native/client-start.c", "native/client.h", "native/napi_util.c", "native/napi_util.h", "native/errno_names.h"]) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    copyFileSync(join(ROOT, f), join(dir, f));
  }
  return dir;
}

function install(dir: string, env: Record<string, string | undefined> = {}) {
  const r = spawnSync(process.execPath, ["native/build.mjs"], { cwd: dir, encoding: "utf8", env: { ...process.env, TSBPF_NATIVE_REQUIRED: undefined, ...env } });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe.runIf(process.platform === "linux")("install hook: prebuild first, source build only where it does not load", { timeout: 120_000 }, () => {
  let goodPrebuild: string;
  beforeAll(() => {
    // A real prebuild, made the way `npm pack` makes it.
    const packed = pkg("packed");
    const r = spawnSync(process.execPath, ["native/build.mjs", "--prebuild"], { cwd: packed, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`prebuild failed:\n${r.stdout}${r.stderr}`);
    goodPrebuild = join(packed, PREBUILD);
  });

  test("a prebuild that loads: used, nothing compiled", () => {
    const dir = pkg("good");
    mkdirSync(dirname(join(dir, PREBUILD)), { recursive: true });
    copyFileSync(goodPrebuild, join(dir, PREBUILD));
    copyFileSync(join(dirname(goodPrebuild), "tsbpf-client"), join(dir, dirname(PREBUILD), "tsbpf-client"));
    const r = install(dir);
    expect(r).toEqual({ code: 0, out: `tsbpf: using the prebuilt kernel bridge ${PREBUILD}\n` });
    expect(existsSync(join(dir, "build"))).toBe(false);
    // The prebuilt client ran (`--probe`), so it is installed where bin/tsbpf.js looks for it, executable.
    expect(statSync(join(dir, "prebuilds/tsbpf-client")).mode & 0o111).toBe(0o111);
  });

  test("a prebuilt client that does not run here: left out, the node client serves builds", () => {
    const dir = pkg("good-addon-bad-client");
    mkdirSync(dirname(join(dir, PREBUILD)), { recursive: true });
    copyFileSync(goodPrebuild, join(dir, PREBUILD));
    writeFileSync(join(dir, dirname(PREBUILD), "tsbpf-client"), "#!/bin/sh\nexit 1\n", { mode: 0o755 });
    const r = install(dir);
    expect(r).toEqual({
      code: 0,
      out: `tsbpf: the prebuilt compile-server client does not run here; \`tsbpf build\` uses the node client\ntsbpf: using the prebuilt kernel bridge ${PREBUILD}\n`,
    });
    expect(existsSync(join(dir, "prebuilds/tsbpf-client"))).toBe(false);
  });

  test("a prebuild that does not load: built from source; the static prebuilt client is installed all the same", () => {
    const dir = pkg("bad");
    mkdirSync(dirname(join(dir, PREBUILD)), { recursive: true });
    writeFileSync(join(dir, PREBUILD), "not an ELF shared object");
    copyFileSync(join(dirname(goodPrebuild), "tsbpf-client"), join(dir, dirname(PREBUILD), "tsbpf-client"));
    const r = install(dir);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^tsbpf: the prebuilt kernel bridge does not load here \(.*\); building from source\n/);
    expect(existsSync(join(dir, "build/Release/tsbpf_bpf.node"))).toBe(true);
    expect(existsSync(join(dir, "build/Release/tsbpf-client"))).toBe(true);
    expect(existsSync(join(dir, "prebuilds/tsbpf-client"))).toBe(true);
  });

  test("no prebuild and no toolchain: the install succeeds and says what to install and to run npm rebuild tsbpf", () => {
    const dir = pkg("bare");
    // Nothing on PATH (Node is started by its absolute path): node-gyp finds no python3, make or gcc.
    const r = install(dir, { PATH: "/nonexistent", PYTHON: undefined, npm_config_python: undefined });
    expect(r.code).toBe(0);
    expect(r.out).toContain("tsbpf: to use it, install gcc, make and python3 (e.g. `apt-get install gcc make python3`), then run `npm rebuild tsbpf` (see docs/attach.md).\n");
    expect(existsSync(join(dir, "build/Release/tsbpf_bpf.node"))).toBe(false);
    // Where the addon is required (CI on kernel machines), the same failure fails the install.
    expect(install(dir, { PATH: "/nonexistent", TSBPF_NATIVE_REQUIRED: "1" }).code).toBe(1);
  });
});
