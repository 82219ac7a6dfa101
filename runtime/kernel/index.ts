/**
 * The kernel loader (`tsbpf/runtime` re-exports it): load a BPF object into the live kernel, fill its maps (Node
 * sockets into SOCKMAP/SOCKHASH), test-run programs, and attach them to network namespaces.
 *
 * ```ts
 * const k = openKernel();                       // throws KernelUnavailableError naming what is missing
 * const obj = loadObject(readFileSync("x.bpf.o")); // maps created, fds relocated, programs loaded
 * obj.map("sockets").setSocket(0, server);      // a listening net.Server
 * const link = obj.program("redir_port").attach("/proc/self/ns/net");
 * ```
 */
import type { ObjectFile } from "../../compiler/elf/object.ts";
import { openKernel } from "./open.ts";
import type { LoadOptions, LoadedObject } from "./load.ts";

export { Kernel, kernelBridgeUnavailableReason, openKernel } from "./open.ts";
export { type LoadOptions, LoadedObject, kernelObjectName, loadLinked, relocate } from "./load.ts";
export { KernelMap, type UpdateFlags } from "./map.ts";
export { KernelProgram, Link, type ProgramInfo, type TestRunOptions, type TestRunResult } from "./program.ts";
export { type CtxSpec, CtxError, ctxCookie, encodeCtx, formatIp, parseIp4, parseIp6 } from "./ctx.ts";
export { type SocketLike, type NodeSocketObject, SocketFdError, socketFd } from "./sockets.ts";
export { type MapScalar, MapValueError, decodeUnsigned, encodeScalar } from "./codec.ts";
export { KernelError, KernelUnavailableError, type NativeBpf, addonPath } from "./native.ts";

/**
 * Loads an object into the kernel: ELF bytes (ours or clang's, linked by `readObject` like libbpf does) or an
 * already-read {@link ObjectFile}. Throws `KernelUnavailableError` when the kernel bridge cannot be used,
 * `ObjectError` for a malformed object and `KernelError` (with the verifier log) when the kernel refuses a program.
 */
export function loadObject(input: Uint8Array | ObjectFile, options?: LoadOptions): LoadedObject {
  return openKernel().load(input, options);
}

/** {@link loadObject} under a name that does not clash with the VM's `loadObject` in `tsbpf/runtime`. */
export const loadKernelObject = loadObject;
export { type BenchOptions, type BenchResult, benchTestRun, median } from "./bench.ts";
