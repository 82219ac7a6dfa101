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
 * Where the built addon lives: build/Release under the package root. The root is found by walking up from this
 * module, so the lookup works both from the TS sources (runtime/kernel/) and from the bundle (dist/).
 */
export function addonPath(): string | null {
  // An explicit location (used when the loader is bundled away from the package, as the e2e agent is).
  const explicit = process.env.TSBPF_NATIVE_ADDON;
  if (explicit) return existsSync(explicit) ? explicit : null;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    for (const sub of ["build/Release", "build/Debug"]) {
      const p = join(dir, sub, ADDON_FILE);
      if (existsSync(p)) return p;
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return null;
}

let cached: NativeBpf | undefined;

/** Loads the addon once; throws {@link KernelUnavailableError} when it has not been built. */
export function nativeBpf(): NativeBpf {
  if (cached) return cached;
  if (process.platform !== "linux") throw new KernelUnavailableError(`the kernel bridge needs Linux (this is ${process.platform})`);
  const path = addonPath();
  if (!path) {
    throw new KernelUnavailableError(
      `the native addon ${ADDON_FILE} is not built: run \`npm install\` (or \`npm run build:native\`) in the tsbpf package; it needs gcc, make, python3 and Node's headers`,
    );
  }
  const require = createRequire(import.meta.url);
  try {
    cached = require(path) as NativeBpf;
  } catch (err) {
    throw new KernelUnavailableError(`the native addon at ${path} failed to load: ${(err as Error).message}`);
  }
  return cached;
}
