/**
 * `openKernel()`: the one entry to the live kernel. It checks, in order, everything a loader of sk_lookup programs
 * needs and throws a single {@link KernelUnavailableError} naming the first thing missing: Linux, the built addon,
 * CAP_BPF (or root), a working bpf(2), and sk_lookup support in the kernel.
 */
import { readFileSync } from "node:fs";
import type { ObjectFile } from "../../compiler/elf/object.ts";
import { readObject } from "../../compiler/elf/reader.ts";
import { ATTACH_TYPE_SK_LOOKUP, PROG_TYPE_SK_LOOKUP } from "../../compiler/abi/sk-lookup.ts";
import { type LoadOptions, LoadedObject, loadLinked } from "./load.ts";
import { type NativeBpf, KernelUnavailableError, asKernelError, nativeBpf, sys, KernelError } from "./native.ts";
import { type SocketLike, socketFd } from "./sockets.ts";
import { KernelMap } from "./map.ts";

const CAP_NET_ADMIN = 12;
const CAP_SYS_ADMIN = 21;
const CAP_BPF = 39;

/** Effective capability bits of this process, or null when /proc is unreadable. */
function effectiveCaps(): bigint | null {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"));
    return m ? BigInt(`0x${m[1]}`) : null;
  } catch {
    return null;
  }
}

const has = (caps: bigint, bit: number): boolean => ((caps >> BigInt(bit)) & 1n) === 1n;

/** The live kernel, through the native bridge. */
export class Kernel {
  /** @internal Use {@link openKernel}. */
  constructor(
    /** The raw syscall layer, for callers that need something the typed API does not cover. */
    readonly bpf: NativeBpf,
  ) {}

  /**
   * Creates the maps and loads the programs of an object: ELF bytes (ours or clang's; linked by `readObject` as
   * libbpf would) or an already-read {@link ObjectFile}. See load.ts for what happens.
   */
  load(obj: ObjectFile | Uint8Array, options?: LoadOptions): LoadedObject {
    return loadLinked(this.bpf, obj instanceof Uint8Array ? readObject(obj) : obj, options);
  }

  /**
   * Opens a map pinned on bpffs (by this or another process, e.g. with `pinning: byName`), so user space can fill a
   * SOCKMAP that an attached program already uses. The definition is read back from the kernel.
   */
  openPinnedMap(path: string): KernelMap {
    const fd = sys(`open of pinned map ${path}`, () => this.bpf.objGet(path));
    let info;
    try {
      info = sys(`info of pinned map ${path}`, () => this.bpf.mapInfo(fd));
    } catch (err) {
      this.bpf.close(fd);
      throw err;
    }
    const def = { name: info.name, type: info.type, keySize: info.keySize, valueSize: info.valueSize, maxEntries: info.maxEntries, flags: info.flags, pinning: 0 };
    return new KernelMap(this.bpf, fd, def);
  }

  /** SO_COOKIE of a Node socket or fd: the value test runs report for a selected socket. */
  socketCookie(socket: SocketLike): bigint {
    return sys("SO_COOKIE", () => this.bpf.socketCookie(socketFd(socket)));
  }
}

let opened: Kernel | undefined;

/** Why the kernel bridge cannot be used here (the message {@link openKernel} would throw), or null when it can. */
export function kernelBridgeUnavailableReason(): string | null {
  try {
    openKernel();
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Opens the kernel bridge once per process; throws {@link KernelUnavailableError} naming what is missing. */
export function openKernel(): Kernel {
  if (opened) return opened;
  const bpf = nativeBpf(); // platform and addon checks
  const caps = effectiveCaps();
  if (caps !== null && !has(caps, CAP_BPF) && !has(caps, CAP_SYS_ADMIN)) {
    throw new KernelUnavailableError(
      "missing privileges: loading sk_lookup programs needs CAP_BPF (or CAP_SYS_ADMIN; run as root), and attaching needs CAP_NET_ADMIN",
    );
  }
  let fd: number;
  try {
    fd = bpf.mapCreate(2 /* ARRAY */, 4, 4, 1, 0, "tsbpf_probe");
  } catch (err) {
    const e = asKernelError(err);
    if (e instanceof KernelError && e.code === "ENOSYS") {
      throw new KernelUnavailableError("bpf(2) is not available: the kernel was built without CONFIG_BPF_SYSCALL");
    }
    if (e instanceof KernelError && e.code === "EPERM") {
      throw new KernelUnavailableError(
        "bpf(2) is denied (EPERM): this process lacks CAP_BPF, or a seccomp/LSM policy (e.g. a container runtime) blocks bpf(2)",
      );
    }
    throw new KernelUnavailableError(`bpf(2) does not work here: ${(e as Error).message}`);
  }
  bpf.close(fd);
  // r0 = 1; exit — the smallest valid sk_lookup program tells whether the kernel knows the program type (5.9+).
  const probe = Uint8Array.from([0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);
  try {
    bpf.close(bpf.progLoad(PROG_TYPE_SK_LOOKUP, ATTACH_TYPE_SK_LOOKUP, probe, "GPL", "tsbpf_probe", 0).fd);
  } catch (err) {
    const e = asKernelError(err) as Error;
    throw new KernelUnavailableError(`this kernel cannot load sk_lookup programs (needs Linux 5.9+): ${e.message}`);
  }
  if (caps !== null && !has(caps, CAP_NET_ADMIN)) {
    // Loading works; attaching will fail. Say so up front rather than at attach time.
    process.emitWarning("tsbpf: CAP_NET_ADMIN is missing; attach() to a network namespace will fail with EPERM");
  }
  opened = new Kernel(bpf);
  return opened;
}
