/**
 * A BPF object loaded into the VM: its maps (VM models) and programs (prepared once, JIT-compiled on first use),
 * sharing one Machine. This is what `tsbpf/runtime`'s loadObject returns.
 */
import { SK_DROP, SK_PASS } from "../../compiler/abi/sk-lookup.ts";
import { btfType, decodeBtf, skipModifiers, type Btf } from "../../compiler/btf/decode.ts";
import { BtfError, BtfKind, IntEncoding } from "../../compiler/btf/types.ts";
import type { MapDef } from "../../compiler/abi/maps.ts";
import { ObjectError, type ObjectFile } from "../../compiler/elf/object.ts";
import { readObject } from "../../compiler/elf/reader.ts";
import { CodecError, decodeValue, encodeValue, layoutOf, type Field, type Layout, type MapData } from "../maps/codec.ts";
import { ArrayMap, createMap } from "../maps/index.ts";
import { BPF_ANY, MapMemory, type VmMap } from "../maps/map.ts";
import { Socket, type SocketSpec } from "../net/socket.ts";
import { Errno } from "../../compiler/abi/sk-lookup.ts";
import { buildCtx, normalizeCtx, type SkLookupInput } from "./ctx.ts";
import { interpret } from "./interp.ts";
import { JIT_MAX_SLOTS, interpreted, jitCompile, type JitFn } from "./jit.ts";
import { Machine, type MachineOptions } from "./machine.ts";
import { insnText, loadError, pinLddwRegions, prepareProgram, type PreparedProgram } from "./program.ts";
import { Region, VmFault } from "./region.ts";

/** Execution tier: the reference interpreter or the JIT. */
export type Tier = "interp" | "jit";

/** Options of one run. */
export interface RunOptions {
  /** Default "interp". */
  tier?: Tier;
  /** The selection the program starts with (ctx->sk), as a netns gives later programs. */
  selected?: Socket | null;
  /** The NO_REUSEPORT flag of that selection. */
  noReuseport?: boolean;
}

/** The outcome of one program run. */
export interface RunResult {
  verdict: "SK_PASS" | "SK_DROP";
  /** r0 at exit (1 or 0). */
  retval: number;
  /** The socket the kernel would use: the selection, or null when none was made or the program returned SK_DROP. */
  selected: Socket | null;
  /** BPF_SK_LOOKUP_F_NO_REUSEPORT was given with the selection. */
  noReuseport: boolean;
  /** The selected socket's cookie, as BPF_PROG_TEST_RUN reports it in ctx_out (0 when none). */
  cookie: bigint;
  /** trace_printk lines, in order. */
  trace: string[];
  /** Instructions executed (lddw counts once), the same on both tiers. */
  insnsExecuted: number;
  /** Names of sockets whose references (from SOCKMAP/SOCKHASH lookups) the program did not release. */
  leakedRefs: string[];
}

/** A program that returned something other than SK_PASS/SK_DROP. */
export class VerdictError extends VmFault {
  override name = "VerdictError";
}

/** One error type for everything that goes wrong with a user's map access through the API. */
export class MapAccessError extends Error {
  override name = "MapAccessError";
  constructor(
    message: string,
    /** The errno name when the kernel would have failed the operation with one. */
    readonly errno?: string,
  ) {
    super(message);
  }
}

/** Shared empty results (frozen): a run that traced nothing or leaked nothing allocates nothing for them. */
const NO_LEAKS = Object.freeze([]) as unknown as string[];
const NO_TRACE = Object.freeze([]) as unknown as string[];
const ERRNO_NAMES = new Map<number, string>(Object.entries(Errno).map(([k, v]) => [v as number, k]));

/** User-side view of a map: JS values in, JS values out (layouts from BTF). */
export class MapView {
  readonly keyLayout: Layout;
  readonly valueLayout: Layout;
  constructor(
    readonly raw: VmMap,
    btf?: Btf,
  ) {
    this.keyLayout = layoutOf(raw.def, "key", btf);
    this.valueLayout = globalDataLayout(raw.def, btf) ?? layoutOf(raw.def, "value", btf);
  }
  get name(): string {
    return this.raw.def.name;
  }
  /** Key bytes of a user key (integer, numeric string, object / its JSON, or bytes). */
  key(k: unknown): Uint8Array {
    try {
      return encodeValue(this.keyLayout, k, `key of ${this.name}`);
    } catch (e) {
      if (e instanceof CodecError) throw new MapAccessError(e.message);
      throw e;
    }
  }
  /**
   * bpf_map_update_elem from user space; returns 0 or a negative errno. Socket maps take a Socket or SocketSpec.
   * A frozen map (`.rodata`) refuses with -EPERM, as the kernel does after BPF_MAP_FREEZE.
   */
  update(k: unknown, v: unknown, flags = BPF_ANY): number {
    const key = this.key(k);
    if (this.raw.def.frozen) return -Errno.EPERM;
    if (this.raw.holdsSockets) {
      const s = v instanceof Socket ? v : new Socket(v as SocketSpec);
      return this.raw.update(key, s, flags);
    }
    let value: Uint8Array;
    try {
      value = encodeValue(this.valueLayout, v, `value of ${this.name}`);
    } catch (e) {
      if (e instanceof CodecError) throw new MapAccessError(e.message);
      throw e;
    }
    return this.raw.update(key, value, flags);
  }
  /** Like update, but throws MapAccessError (with the errno name) on failure; returns this for chaining. */
  set(k: unknown, v: unknown, flags = BPF_ANY): this {
    const rc = this.update(k, v, flags);
    if (rc !== 0) {
      const name = ERRNO_NAMES.get(-rc) ?? String(-rc);
      throw new MapAccessError(`update of ${this.name}[${JSON.stringify(k)}] failed: ${name}`, name);
    }
    return this;
  }
  /**
   * The value (decoded: 64-bit integers as bigint, see {@link MapData}), the Socket for socket maps, or null.
   * `T` narrows the result when the caller knows the map's value type: `counters.get<bigint>(0)`.
   */
  get<T extends MapData | Socket = MapData | Socket>(k: unknown): T | null {
    const v = this.raw.lookup(this.key(k));
    if (v === null) return null;
    if (v instanceof Socket) return v as T;
    return decodeValue(this.valueLayout, (v as Region).bytes) as T;
  }
  /** The live bytes of a data value (writes change the map), or null. */
  bytes(k: unknown): Uint8Array | null {
    const v = this.raw.lookup(this.key(k));
    return v instanceof Region ? v.bytes : null;
  }
  /** bpf_map_delete_elem; 0 or a negative errno. */
  delete(k: unknown): number {
    return this.raw.delete(this.key(k));
  }
  /** All entries, decoded like {@link get}. */
  entries(): Array<[MapData, MapData | Socket]> {
    return this.raw.entries().map(([k, v]) => [
      decodeValue(this.keyLayout, k),
      v instanceof Socket ? v : decodeValue(this.valueLayout, (v as Region).bytes),
    ]);
  }
}

/**
 * The value layout of a global-data map: one field per variable (`{ calls: 102, runs: 2 }`), signed and array-ness
 * from the variable's BTF type when known. Undefined for other maps, or when the section has no named variables.
 */
function globalDataLayout(def: MapDef, btf: Btf | undefined): Layout | undefined {
  if (!def.initialValue || !def.vars?.length) return undefined;
  const fields: Field[] = def.vars.map((v) => {
    const t = btf && v.typeId ? typeOrUndefined(btf, v.typeId) : undefined;
    const signed = t?.kind === BtfKind.INT && (t.encoding & IntEncoding.SIGNED) !== 0;
    return { name: v.name, offset: v.offset, size: v.size, signed, bigEndian: false, array: t ? t.kind !== BtfKind.INT && t.kind !== BtfKind.ENUM : v.size > 8 };
  });
  return { size: def.valueSize, fields, signed: false, bigEndian: false };
}

/**
 * The type behind `id`'s modifiers, or undefined when the object's BTF cannot say (a typedef cycle, a dangling id):
 * the variable is then shown by its size alone, as without BTF, instead of failing the map view.
 */
function typeOrUndefined(btf: Btf, id: number): ReturnType<typeof btfType> {
  try {
    return btfType(btf, skipModifiers(btf, id));
  } catch (e) {
    if (e instanceof BtfError) return undefined;
    throw e;
  }
}

/** An sk_lookup program of a loaded object. */
export class VmProgram {
  private jitFn?: JitFn;
  constructor(
    readonly object: VmObject,
    readonly prepared: PreparedProgram,
  ) {}
  get name(): string {
    return this.prepared.name;
  }
  /** The JIT-compiled function (compiled on first use). */
  jit(): JitFn {
    return (this.jitFn ??= this.prepared.insns.length > JIT_MAX_SLOTS ? interpreted(this.prepared) : jitCompile(this.prepared, this.object.machine.table));
  }
  /** Runs the program once on a lookup (description or raw 72-byte ctx). */
  run(ctx: SkLookupInput | Uint8Array, opts: RunOptions = {}): RunResult {
    const bytes = ctx instanceof Uint8Array ? normalizeCtx(ctx) : buildCtx(ctx);
    return this.runCtx(bytes, opts);
  }
  /**
   * Runs and returns r0 as an unsigned 64-bit value, without the verdict check: for instruction-level tests of
   * programs that return arbitrary values. Machine state (trace, held references, n) stays readable on `machine`.
   */
  exec(ctx: SkLookupInput | Uint8Array, opts: RunOptions = {}): bigint {
    const lo = this.execute(ctx instanceof Uint8Array ? normalizeCtx(ctx) : buildCtx(ctx), opts);
    return (BigInt(this.object.machine.h >>> 0) << 32n) | BigInt(lo >>> 0);
  }

  /** Runs once; returns r0's low word and leaves the high word in machine.h (no allocation on the hot path). */
  private execute(ctxBytes: Uint8Array, opts: RunOptions): number {
    const m = this.object.machine;
    const jit = opts.tier === "jit" ? this.jit() : undefined;
    m.reset(ctxBytes, opts.selected ?? null, opts.noReuseport ?? false, jit === undefined || jit.needsZeroStack !== false);
    try {
      if (jit !== undefined) return jit(m);
      const r0 = interpret(this.prepared, m);
      m.h = Number(r0 >> 32n) | 0;
      return Number(r0 & 0xffffffffn) | 0;
    } catch (e) {
      if (e instanceof VmFault && e.insn === undefined && e.pc >= 0) e.locate(insnText(this.prepared, e.pc));
      throw e;
    }
  }

  /**
   * Runs on already-normalized ctx bytes and returns the verdict only, SK_PASS (1) or SK_DROP (0), checked as runCtx
   * checks it, without building a RunResult: what the run left (selection, trace, held references, instruction count)
   * stays readable on `object.machine` until the next run. The allocation-free path the benchmarks time, as
   * BPF_PROG_TEST_RUN times its loop of program runs and reports once.
   */
  runVerdict(ctxBytes: Uint8Array, opts: RunOptions = {}): number {
    const lo = this.execute(ctxBytes, opts);
    const hi = this.object.machine.h;
    if (hi !== 0 || (lo !== SK_PASS && lo !== SK_DROP)) {
      const v = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
      throw new VerdictError(`${this.name} returned ${v}; an sk_lookup program must return SK_PASS (1) or SK_DROP (0)`, -1);
    }
    return lo;
  }

  /** Runs on already-normalized ctx bytes (the hot path for netns lookups). */
  runCtx(ctxBytes: Uint8Array, opts: RunOptions = {}): RunResult {
    const m = this.object.machine;
    const lo = this.runVerdict(ctxBytes, opts);
    const pass = lo === SK_PASS;
    const selected = pass ? m.selected : null;
    return {
      verdict: pass ? "SK_PASS" : "SK_DROP",
      retval: lo,
      selected,
      noReuseport: m.noReuseport,
      cookie: selected?.cookie ?? 0n,
      // The machine's array is replaced (not cleared) by the next run that traces, so the result keeps its lines.
      trace: m.trace.length ? m.trace : NO_TRACE,
      insnsExecuted: m.n,
      leakedRefs: m.held.length ? m.held.map((s) => s.name) : NO_LEAKS,
    };
  }
}

/** Options of a loaded object: the machine's, and (for the fuzzers only) which load checks apply. */
export interface VmObjectOptions extends MachineOptions {
  /**
   * @internal "tier-safety" loads programs the kernel refuses for their control flow (jumps or calls out of range,
   * unreachable code, a function falling off its end), keeping only the checks both tiers need to agree, so that the
   * random-bytecode fuzzers keep comparing the tiers' run-time faults on them. Default "kernel": refuse what
   * BPF_PROG_LOAD refuses (program.ts loadError).
   */
  loadChecks?: "kernel" | "tier-safety";
}

/** Arrays of at most this many entries have every value pinned in the region table at load. */
const PINNED_ARRAY_ENTRIES = 64;

/** A loaded object. */
export class VmObject {
  readonly machine: Machine;
  readonly maps = new Map<string, VmMap>();
  readonly btf?: Btf;
  private readonly programs = new Map<string, VmProgram>();
  private readonly views = new Map<string, MapView>();

  constructor(
    readonly file: ObjectFile,
    opts: VmObjectOptions = {},
  ) {
    this.machine = new Machine(opts);
    if (file.btf) {
      try {
        this.btf = decodeBtf(file.btf);
      } catch {
        // Without usable BTF, maps take plain integers and bytes.
      }
    }
    const memory = new MapMemory(opts.mapMemoryLimit);
    for (const def of file.maps) {
      const map = createMap(def, memory);
      // Global data (.rodata/.data/.bss): element 0 starts as the section's bytes, as libbpf fills it before loading.
      if (def.initialValue) {
        const rc = map.update(new Uint8Array(def.keySize), def.initialValue, BPF_ANY);
        if (rc !== 0) throw new MapAccessError(`initial value of global-data map ${def.name} could not be stored (errno ${-rc})`);
      }
      this.maps.set(def.name, map);
    }
    // Register the map handles now, in a fixed order, so that two objects built from the same file give their
    // pointers the same relative order whichever tier runs first (the fuzz test compares tiers on twin objects).
    for (const m of this.maps.values()) this.machine.table.pin(m.handle);
    // Small arrays' values are pinned too (the kernel preallocates them): a lookup then hands out a fixed id instead
    // of registering the value for the run and forgetting it at the next reset, which was most of the cost of a
    // program that writes many array slots (corpus ctx_dump: 22 lookups a run).
    for (const m of this.maps.values()) {
      if (!(m instanceof ArrayMap) || m.def.maxEntries > PINNED_ARRAY_ENTRIES) continue;
      for (let i = 0; i < m.def.maxEntries; i++) this.machine.table.pin(m.lookupAt(Uint8Array.of(i, 0, 0, 0), 0)!);
    }
    for (const p of file.programs) {
      const refused = loadError(p.insns, opts.loadChecks);
      if (refused) throw new ObjectError(`program ${p.name}: the kernel refuses to load it (${refused.errno}): ${refused.message}`);
      const prepared = prepareProgram(p.name, p.insns, p.mapRelocs, this.maps);
      pinLddwRegions(prepared, this.machine.table);
      this.programs.set(p.name, new VmProgram(this, prepared));
    }
  }

  /** Reads an ELF object (ours or clang's); ObjectError for malformed input, MapError for unsupported maps. */
  static fromBytes(bytes: Uint8Array, opts: VmObjectOptions = {}): VmObject {
    return new VmObject(readObject(bytes), opts);
  }

  /** Program names, in object order. */
  get programNames(): string[] {
    return [...this.programs.keys()];
  }

  /** The program named `name`; throws a RangeError listing the programs otherwise. */
  program(name: string): VmProgram {
    const p = this.programs.get(name);
    if (!p) throw new RangeError(`no program '${name}' in the object (programs: ${this.programNames.join(", ") || "none"})`);
    return p;
  }

  /** The map named `name`, as a user-side view. */
  map(name: string): MapView {
    let v = this.views.get(name);
    if (!v) {
      const raw = this.maps.get(name);
      if (!raw) throw new RangeError(`no map '${name}' in the object (maps: ${[...this.maps.keys()].join(", ") || "none"})`);
      v = new MapView(raw, this.btf);
      this.views.set(name, v);
    }
    return v;
  }

  /** Runs program `name` once. */
  run(name: string, ctx: SkLookupInput | Uint8Array, opts: RunOptions = {}): RunResult {
    return this.program(name).run(ctx, opts);
  }
}
