/**
 * Handlers under test: a DSL file (or any sk_lookup object) compiled and loaded into the VM, with its own simulated
 * network namespace so a test reads "load handler, add sockets, look up a packet, expect socket A". Several handlers
 * can share one namespace (`testNetns()`), where programs combine by the kernel's rules.
 */
import { readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  CompileError,
  Netns,
  NetnsError,
  Socket,
  loadObject,
  type MachineOptions,
  type MapView,
  type SocketSpec,
  type Tier,
  type VmObject,
  type VmProgram,
} from "../index.ts";
import { describePacket, toCtxInput, type Packet } from "./packet.ts";
import { runReport, type LookupReport, type RunReport } from "./report.ts";

/** A misuse of the testing helpers: unknown program, bad socket description, unreadable file. */
export class HandlerError extends Error {
  override name = "HandlerError";
}

/** A socket as tests describe it: like `tsbpf run --maps` sockets, with family from `ip` and protocol tcp by default. */
export type TestSocketSpec = Omit<SocketSpec, "family" | "protocol"> & Partial<Pick<SocketSpec, "family" | "protocol">>;

function makeSocket(spec: TestSocketSpec): Socket {
  if (spec === null || typeof spec !== "object" || Array.isArray(spec)) throw new HandlerError(`a socket is an object like { name: "A", ip: "127.0.0.1", port: 1234 } (got ${JSON.stringify(spec)})`);
  const v6 = typeof spec.ip === "string" && spec.ip.includes(":");
  try {
    return new Socket({ ...spec, family: spec.family ?? (v6 ? "inet6" : "inet"), protocol: spec.protocol ?? "tcp" });
  } catch (e) {
    throw new HandlerError((e as Error).message);
  }
}

/** Options of one `run` / `lookup`. */
export interface CallOptions {
  /** Execution tier; default: the handler's (or namespace's). Both tiers give identical results. */
  tier?: Tier;
}

/** Options of `Handler.run`. */
export interface RunCallOptions extends CallOptions {
  /** The program to run; default: the handler's only program (required when the object has several). */
  program?: string;
  /** The selection the program starts with (`ctx.sk`), as if an earlier program had chosen it. */
  selected?: Socket | null;
}

/** A simulated network namespace for tests: a socket table and sk_lookup programs attached in order. */
export class TestNetns {
  /** The runtime's namespace model (attach order, combination rules, regular lookup). */
  readonly ns = new Netns();
  /** Default tier of this namespace's lookups ("interp" unless given). */
  readonly tier: Tier;

  constructor(opts: { tier?: Tier } = {}) {
    this.tier = opts.tier ?? "interp";
  }

  /** Creates a socket and adds it to this namespace's table (so the regular lookup can find it). */
  socket(spec: TestSocketSpec): Socket {
    return this.ns.add(makeSocket(spec));
  }

  /**
   * Attaches programs after those already attached: a handler's programs (`which` names one, default all of the
   * handler's lookup programs in order) or a VmProgram. Like a netns link, the same program may be attached twice.
   */
  attach(target: Handler | VmProgram, which?: string): this {
    const progs = target instanceof Handler ? (which === undefined ? target.lookupPrograms : [target.programObject(which)]) : [target];
    for (const p of progs) {
      try {
        this.ns.attach(p);
      } catch (e) {
        if (e instanceof NetnsError) throw new HandlerError(e.message);
        throw e;
      }
    }
    return this;
  }

  /** Detaches the last attachment of a program (by handler + name, or the VmProgram). */
  detach(target: Handler | VmProgram, which?: string): this {
    const p = target instanceof Handler ? target.programObject(which) : target;
    try {
      this.ns.detach(p);
    } catch (e) {
      if (e instanceof NetnsError) throw new HandlerError(e.message);
      throw e;
    }
    return this;
  }

  /** Names of the attached programs, in attach order. */
  get attached(): string[] {
    return this.ns.programs.map((p) => p.name);
  }

  /** Which socket receives `packet`: every attached program runs, then the kernel's rules decide. */
  lookup(packet: Packet, opts: CallOptions = {}): LookupReport {
    const desc = describePacket(packet);
    const r = this.ns.lookup(toCtxInput(packet), { tier: opts.tier ?? this.tier });
    // Defensive: the VM hands out its trace array without copying. Had it kept one array across runs (it once did for
    // runs that printed nothing), only the last run using an array wrote to it, so earlier sharers printed nothing.
    const runs = r.runs.map((run, i) => {
      const rep = runReport(this.ns.programs[i]!.name, desc, run);
      if (r.runs[i + 1]?.trace === run.trace) rep.trace = [];
      return rep;
    });
    return {
      kind: "lookup",
      packet: desc,
      outcome: r.outcome,
      verdict: r.outcome === "refused" ? "SK_DROP" : "SK_PASS",
      selected: r.socket?.name ?? null,
      socket: r.socket,
      trace: runs.flatMap((x) => x.trace),
      runs,
    };
  }
}

/** Options of `handler()`. */
export interface HandlerOptions {
  /** Default tier of `run`/`lookup`: "interp" (the reference interpreter, default) or "jit". */
  tier?: Tier;
  /** Programs that `lookup` attaches, in this order; default: every program of the object, in object order. */
  attach?: string[];
  /** VM options (instruction budget...). */
  machine?: MachineOptions;
}

/** A loaded handler: its maps, its programs, and a namespace where its programs are attached. */
export class Handler {
  /** The namespace `socket()` adds to and `lookup()` asks; its programs are attached in `HandlerOptions.attach` order. */
  readonly net: TestNetns;

  constructor(
    /** The object loaded into the VM. */
    readonly object: VmObject,
    /** The object bytes (so `fresh()` can reload without compiling again). */
    readonly bytes: Uint8Array,
    private readonly opts: HandlerOptions = {},
  ) {
    this.net = new TestNetns({ tier: opts.tier });
    const order = opts.attach ?? object.programNames;
    for (const name of order) this.net.attach(this.programObject(name));
  }

  /** Program names, in object order. */
  get programs(): string[] {
    return this.object.programNames;
  }

  /** The programs `lookup` runs, in order. */
  get lookupPrograms(): VmProgram[] {
    return (this.opts.attach ?? this.programs).map((n) => this.programObject(n));
  }

  /** A program of the object (default: the only one). */
  programObject(name?: string): VmProgram {
    const names = this.programs;
    if (name === undefined) {
      if (names.length !== 1) throw new HandlerError(`the object has ${names.length} programs (${names.join(", ")}); name the one to run with { program: "..." }`);
      name = names[0]!;
    }
    if (!names.includes(name)) throw new HandlerError(`no program '${name}' (programs: ${names.join(", ") || "none"})`);
    return this.object.program(name);
  }

  /** A map of the object: `set(key, value)`, `get(key)`, `delete(key)`, `entries()`; socket maps take Sockets. */
  map(name: string): MapView {
    try {
      return this.object.map(name);
    } catch (e) {
      if (e instanceof RangeError) throw new HandlerError(e.message);
      throw e;
    }
  }

  /** Creates a socket in this handler's namespace; put it in a socket map with `map(name).set(key, socket)`. */
  socket(spec: TestSocketSpec): Socket {
    return this.net.socket(spec);
  }

  /** Runs one program once on `packet`, like BPF_PROG_TEST_RUN: its verdict, selection and trace. */
  run(packet: Packet, opts: RunCallOptions = {}): RunReport {
    const p = this.programObject(opts.program);
    const r = p.run(toCtxInput(packet), { tier: opts.tier ?? this.net.tier, selected: opts.selected ?? null });
    return runReport(p.name, describePacket(packet), r);
  }

  /** Which socket receives `packet` in this handler's namespace (its programs attached, the regular lookup after). */
  lookup(packet: Packet, opts: CallOptions = {}): LookupReport {
    return this.net.lookup(packet, opts);
  }

  /** A new handler from the same object: empty maps, an empty namespace (cheap: nothing is compiled again). */
  fresh(): Handler {
    return handlerFromObject(this.bytes, this.opts);
  }
}

/** Loads object bytes (ours or clang's) as a handler. */
export function handlerFromObject(bytes: Uint8Array, opts: HandlerOptions = {}): Handler {
  return new Handler(loadObject(bytes, opts.machine), bytes, opts);
}

const compiled = new Map<string, { stamp: string; bytes: Uint8Array }>();

/**
 * Compiles a DSL file, or `source` under the name `path` (cached by path and size/mtime, or by the text), and throws
 * CompileError with the formatted diagnostics when it does not compile. The compiler is imported on first use.
 */
async function compileDsl(path: string, source?: string): Promise<Uint8Array> {
  let stamp: string;
  if (source !== undefined) {
    stamp = `source:${source}`;
  } else {
    try {
      const st = statSync(path);
      stamp = `${st.size}:${st.mtimeMs}`;
    } catch (e) {
      throw new HandlerError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  const hit = compiled.get(path);
  if (hit?.stamp === stamp) return hit.bytes;
  const { compile, formatDiagnostics } = await import("../../compiler/index.ts");
  const out = compile(source !== undefined ? { fileName: path, source } : { fileName: path });
  if (!out.object || out.diagnostics.length) {
    const sources = new Map(out.source !== undefined ? [[path, out.source]] : []);
    throw new CompileError(formatDiagnostics(out.diagnostics, sources) || `${path} did not compile`, out.diagnostics);
  }
  compiled.set(path, { stamp, bytes: out.object });
  return out.object;
}

/**
 * Compiles DSL source text (a whole file, `import ... from "tsbpf"` included) and loads it as a handler: for small
 * handlers written inline in a test. `fileName` names it in diagnostics (default `handler.ts`).
 */
export async function handlerFromSource(source: string, opts: HandlerOptions & { fileName?: string } = {}): Promise<Handler> {
  if (typeof source !== "string") throw new HandlerError(`handlerFromSource takes the DSL source text (got ${typeof source})`);
  return handlerFromObject(await compileDsl(opts.fileName ?? "handler.ts", source), opts);
}

/**
 * A `file:` URL (`new URL("./x.ts", import.meta.url)`), typed by its `href` so that the declarations need neither
 * the DOM lib nor @types/node for `URL`.
 */
export interface FileUrl {
  readonly href: string;
}

/**
 * Loads a handler: a DSL `.ts` file (compiled by tsbpf; relative paths from the working directory, or a file URL
 * such as `new URL("./redirect-port.ts", import.meta.url)`), a BPF object file (`.o`, e.g. from clang), or object
 * bytes. Throws CompileError (formatted diagnostics) when the file does not compile.
 */
export async function handler(source: string | FileUrl | Uint8Array, opts: HandlerOptions = {}): Promise<Handler> {
  if (source instanceof Uint8Array) return handlerFromObject(source, opts);
  const path = typeof source === "string" ? resolve(source) : fileURLToPath(source.href);
  if (/\.(ts|mts|cts|tsx)$/.test(path)) return handlerFromObject(await compileDsl(path), opts);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new HandlerError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return handlerFromObject(bytes, opts);
}
