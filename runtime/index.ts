/**
 * `tsbpf/runtime`: run sk_lookup programs (ours or clang's) in an embedded VM with the kernel's semantics, no root
 * needed. A user's test reads like the lookup it checks:
 *
 * ```ts
 * import { loadObject, Netns } from "tsbpf/runtime";
 * const obj = loadObject(readFileSync("redirect-port.bpf.o"));
 * const ns = new Netns();
 * const a = ns.socket({ name: "A", family: "inet", protocol: "tcp", ip: "127.0.0.1", port: 1234 });
 * obj.map("sockets").set(0, a);
 * ns.attach(obj.program("redir_port"));
 * const r = ns.lookup({ family: "inet", protocol: "tcp", localIp: "127.0.0.1", localPort: 7007,
 *                       remoteIp: "127.0.0.2", remotePort: 8008 });
 * expect(r.socket).toBe(a);
 * ```
 *
 * Single runs: `obj.run("redir_port", ctx, { tier: "jit" })` → `{ verdict, selected, retval, cookie, trace,
 * insnsExecuted, leakedRefs }`. Both tiers ("interp", the reference, and "jit") give identical results.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { VmObject } from "./vm/object.ts";
import type { MachineOptions } from "./vm/machine.ts";

export { VmObject, VmProgram, MapView, MapAccessError, VerdictError } from "./vm/object.ts";
export type { RunOptions, RunResult, Tier } from "./vm/object.ts";
export { type MachineOptions, DEFAULT_BUDGET } from "./vm/machine.ts";
export { VmFault, BudgetExceeded } from "./vm/region.ts";
export { buildCtx, normalizeCtx, CtxError, type SkLookupInput } from "./vm/ctx.ts";
export { Netns, NetnsError, MAX_LINKS, type LookupOutcome, type LookupResult } from "./net/netns.ts";
export { Socket, SocketError, type SocketSpec } from "./net/socket.ts";
export { MapError, type VmMap } from "./maps/map.ts";
export { CodecError, type MapData, type MapScalarValue } from "./maps/codec.ts";
export { ObjectError } from "../compiler/elf/object.ts";
export { benchVm, type BenchRow } from "./vm/bench.ts";

/** Loads a BPF ELF object (bytes of a `.o`) into the VM. Throws ObjectError for malformed input. */
export function loadObject(bytes: Uint8Array, opts: MachineOptions = {}): VmObject {
  return VmObject.fromBytes(bytes, opts);
}

/** A DSL file that did not compile: `message` holds the formatted diagnostics (file:line:col, code frame). */
export class CompileError extends Error {
  override name = "CompileError";
  constructor(
    message: string,
    /** The compiler's diagnostics (empty when the compiler itself could not be loaded). */
    readonly diagnostics: ReadonlyArray<{ file: string; line: number; column: number; code: string; message: string }> = [],
  ) {
    super(message);
  }
}

/**
 * Compiles a DSL file with the tsbpf compiler and loads the result. The compiler (which brings ts-morph) is loaded
 * only here, by a computed path, so that bundlers keep it out of the runtime: `./compiler.js` next to the bundle
 * (dist/), or `../compiler/index.ts` in the source tree.
 */
export async function fromTs(fileName: string, opts: MachineOptions = {}): Promise<VmObject> {
  const mod = await loadCompiler(fileName);
  const out = mod.compile({ fileName });
  if (!out.object || out.diagnostics.length) {
    const sources = new Map(out.source !== undefined ? [[fileName, out.source]] : []);
    throw new CompileError(mod.formatDiagnostics(out.diagnostics, sources) || `${fileName} did not compile`, out.diagnostics);
  }
  return VmObject.fromBytes(out.object, opts);
}

type CompilerModule = typeof import("../compiler/index.ts");

async function loadCompiler(fileName: string): Promise<CompilerModule> {
  // dist/runtime.js, or a shared chunk in dist/chunks/ (the build splits code), or the TypeScript source tree.
  const candidates = ["./compiler.js", "./compiler.mjs", "../compiler.js", "../compiler/index.ts"].map((p) => new URL(p, import.meta.url));
  const found = candidates.find((u) => u.protocol !== "file:" || existsSync(fileURLToPath(u)));
  if (!found) throw new CompileError(`cannot build ${fileName}: the tsbpf compiler is not installed next to the runtime`);
  try {
    return (await import(/* @vite-ignore */ found.href)) as CompilerModule;
  } catch (e) {
    throw new CompileError(`cannot load the tsbpf compiler to build ${fileName}: ${(e as Error).message}`);
  }
}

// The kernel bridge (native bpf(2) addon): load the same objects into the live kernel, fill maps with real sockets,
// BPF_PROG_TEST_RUN, attach to a network namespace. `openKernel()` says what is missing where it cannot work.
export {
  openKernel,
  loadKernelObject,
  kernelBridgeUnavailableReason,
  Kernel,
  LoadedObject,
  KernelProgram,
  KernelMap,
  Link,
  KernelError,
  KernelUnavailableError,
  SocketFdError,
  benchTestRun,
  type LoadOptions,
  type TestRunResult,
  type CtxSpec,
  type SocketLike,
} from "./kernel/index.ts";
