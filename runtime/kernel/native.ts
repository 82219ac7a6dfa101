/**
 * Loading of the native bridge (native/bpf.c, built by node-gyp into build/Release/tsbpf_bpf.node) and its typed
 * surface. Nothing here adds policy: each function is one syscall. Errors thrown by the addon carry `code` (errno
 * name), `errno`, `syscall` and, for program loads, `log`; `asKernelError` turns them into {@link KernelError}.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** What `progInfo` reports (BPF_OBJ_GET_INFO_BY_FD on a program). */
export interface NativeProgInfo {
  id: number;
  type: number;
  name: string;
  xlatedLen: number;
  jitedLen: number;
  verifiedInsns: number;
  loadTime: bigint;
  mapIds: number[];
}

/** What `mapInfo` reports. */
export interface NativeMapInfo {
  id: number;
  type: number;
  name: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
}

/** What `linkInfo` reports; `netnsIno`/`attachType` are meaningful for netns links (type 5). */
export interface NativeLinkInfo {
  id: number;
  type: number;
  progId: number;
  netnsIno: number;
  attachType: number;
}

/** The addon's exports (see native/bpf.c for the syscall behind each). */
export interface NativeBpf {
  mapCreate(type: number, keySize: number, valueSize: number, maxEntries: number, flags: number, name: string): number;
  /** Fills `valueOut`; false when the key is absent (ENOENT). */
  mapLookup(fd: number, key: Uint8Array, valueOut: Uint8Array): boolean;
  mapUpdate(fd: number, key: Uint8Array, value: Uint8Array, flags: number): void;
  /** False when the key was absent (ENOENT). */
  mapDelete(fd: number, key: Uint8Array): boolean;
  /** BPF_MAP_FREEZE: user space can no longer write the map (updates then fail with EPERM). */
  mapFreeze(fd: number): void;
  /** Writes the key after `key` (or the first key for null) into `nextOut`; false at the end. */
  mapGetNextKey(fd: number, key: Uint8Array | null, nextOut: Uint8Array): boolean;
  /** Loads a program; `logLevel` 0 collects a log only on failure (retrying once with level 1). */
  progLoad(
    type: number,
    expectedAttachType: number,
    insns: Uint8Array,
    license: string,
    name: string,
    logLevel: number,
    btf?: { btfFd: number; funcInfo: Uint8Array | null; lineInfo: Uint8Array | null },
  ): { fd: number; log: string };
  /** A duplicate of another process's fd (pidfd_getfd): sockets made by non-Node programs, e.g. with SO_REUSEPORT. */
  fdFromProcess(pid: number, fd: number): number;
  /** BPF_BTF_LOAD of a raw .BTF blob; the error carries the kernel's BTF log. */
  btfLoad(btf: Uint8Array, logLevel: number): { fd: number; log: string };
  progTestRun(fd: number, ctxIn: Uint8Array, ctxOut: Uint8Array | null, repeat: number): {
    retval: number;
    durationNs: number;
    ctxSizeOut: number;
  };
  linkCreate(progFd: number, targetFd: number, attachType: number): number;
  /** BPF_LINK_UPDATE: the link runs `newProgFd` from now on, without a window where no program is attached. */
  linkUpdate(linkFd: number, newProgFd: number): void;
  objPin(fd: number, path: string): void;
  objGet(path: string): number;
  progInfo(fd: number): NativeProgInfo;
  mapInfo(fd: number): NativeMapInfo;
  linkInfo(fd: number): NativeLinkInfo;
  close(fd: number): void;
  socketCookie(fd: number): bigint;
  openPath(path: string): number;
}

/** A failed syscall: `code` is the errno name (`EPERM`, `EACCES`, ...), `log` the verifier log for loads. */
export class KernelError extends Error {
  override name = "KernelError";
  constructor(
    message: string,
    readonly code: string,
    readonly errno: number,
    readonly syscall: string,
    readonly log: string = "",
  ) {
    super(message);
  }
}

/** The kernel bridge cannot be used here; the message names what is missing. */
export class KernelUnavailableError extends Error {
  override name = "KernelUnavailableError";
}

/** Converts an error thrown by the addon into a {@link KernelError} (other errors pass through). */
export function asKernelError(err: unknown, context?: string): unknown {
  const e = err as { code?: unknown; errno?: unknown; syscall?: unknown; log?: unknown; message?: string };
  if (err instanceof Error && typeof e.code === "string" && typeof e.errno === "number") {
    const log = typeof e.log === "string" ? e.log : "";
    const msg = context ? `${context}: ${err.message}` : err.message;
    return new KernelError(log ? `${msg}\n${log.trimEnd()}` : msg, e.code, e.errno, String(e.syscall ?? ""), log);
  }
  return err;
}

/** Calls `fn`, rethrowing addon errors as {@link KernelError} prefixed with `context`. */
export function sys<T>(context: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw asKernelError(err, context);
  }
}

const ADDON_FILE = "tsbpf_bpf.node";
/**
 * The prebuilt addon shipped in the npm package, named the Node-API way (node-gyp-build's tags: `napi` = one binary
 * for every Node version, `glibc` = linked against glibc). Built from native/bpf.c by `npm pack` (prepack).
 */
export const PREBUILD_FILE = "tsbpf_bpf.napi.glibc.node";

/** What to do when no addon loads: the exact packages and the command, for the error and the install script. */
export const NATIVE_REMEDY =
  "install a C toolchain (gcc, make and python3, e.g. `apt-get install gcc make python3`), then run `npm rebuild tsbpf` in your project (`npm run build:native` in a tsbpf clone)";

/**
 * Where the addon may live, best first: `prebuilds/<platform>-<arch>/` (shipped in the package), then
 * build/Release and build/Debug (built from source). The package root is found by walking up from this module, so
 * the lookup works both from the TS sources (runtime/kernel/) and from the bundle (dist/). `TSBPF_NATIVE_ADDON`
 * replaces the search (used when the loader is bundled away from the package, as the e2e agent is).
 */
export function addonCandidates(): string[] {
  const explicit = process.env.TSBPF_NATIVE_ADDON;
  if (explicit) return existsSync(explicit) ? [explicit] : [];
  const found: string[] = [];
  let dir = searchFrom ?? dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    for (const sub of [`prebuilds/${process.platform}-${process.arch}/${PREBUILD_FILE}`, `build/Release/${ADDON_FILE}`, `build/Debug/${ADDON_FILE}`]) {
      const p = join(dir, sub);
      if (existsSync(p)) found.push(p);
    }
    // The first directory holding any addon is the package root; don't mix in another package's build above it.
    if (found.length) break;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return found;
}

/** Where the search starts when this module has no URL of its own (set by the start-up snapshot). */
let searchFrom: string | undefined;

/**
 * Makes {@link addonCandidates} search from the package root `dir`: the start-up snapshot's bundle is a CommonJS
 * script without import.meta.url, so `--target-kernel host` could not find the addon there (compiler/cli/snapshot.ts).
 */
export function setAddonSearchRoot(dir: string | undefined): void {
  searchFrom = dir;
}

/** The first addon file {@link nativeBpf} would try, or null when there is none (prebuilt or built). */
export function addonPath(): string | null {
  return addonCandidates()[0] ?? null;
}

let cached: NativeBpf | undefined;

/**
 * Loads the addon once: the prebuild when it loads here, else the one built from source. Throws
 * {@link KernelUnavailableError} naming what to install and to run `npm rebuild tsbpf` when none loads.
 */
export function nativeBpf(): NativeBpf {
  if (cached) return cached;
  if (process.platform !== "linux") throw new KernelUnavailableError(`the kernel bridge needs Linux (this is ${process.platform})`);
  const candidates = addonCandidates();
  if (candidates.length === 0) {
    const where = process.env.TSBPF_NATIVE_ADDON ? ` (TSBPF_NATIVE_ADDON=${process.env.TSBPF_NATIVE_ADDON} does not exist)` : "";
    throw new KernelUnavailableError(
      `the native addon ${ADDON_FILE} is not built and no prebuild fits ${process.platform}-${process.arch}${where}: ${NATIVE_REMEDY}`,
    );
  }
  const require = createRequire(searchFrom !== undefined ? join(searchFrom, "package.json") : import.meta.url);
  const failures: string[] = [];
  for (const path of candidates) {
    try {
      cached = require(path) as NativeBpf;
      return cached;
    } catch (err) {
      // A prebuild linked against a newer glibc (or a musl system) fails here; the source build may still load.
      failures.push(`${path}: ${(err as Error).message.split("\n")[0]}`);
    }
  }
  throw new KernelUnavailableError(`the native addon failed to load (${failures.join("; ")}): ${NATIVE_REMEDY}`);
}
