/**
 * The machine state shared by both execution tiers for one run: memory access with region checks, the ctx region with
 * the kernel's ctx-access semantics, the current socket selection (what bpf_sk_assign writes and ctx->sk reads),
 * helper plumbing (the high word of results), trace output, taken socket references, the instruction
 * counter and its budget.
 */
import { CTX_SIZE, CtxOff, U16_BACKED_FIELDS, ctxLoadField } from "../../compiler/abi/sk-lookup.ts";
import type { Socket } from "../net/socket.ts";
import type { AfterRun } from "../maps/map.ts";
import {
  BudgetExceeded,
  CTX_ID,
  FRAME0_ID,
  ID_MASK,
  OFF_BIAS,
  PTR_TAG,
  REGION_KIND_NAMES,
  Region,
  RegionKind,
  RegionTable,
  VmFault,
  fixRegionId,
  fixedHi,
  hex64,
  ptrLo,
} from "./region.ts";

/** Size of one stack frame (MAX_BPF_STACK). */
export const STACK_SIZE = 512;
/** Maximum BPF-to-BPF call depth (MAX_CALL_FRAMES). */
export const MAX_FRAMES = 8;
/** Default instruction budget of one run (the verifier's complexity limit is 1M processed instructions). */
export const DEFAULT_BUDGET = 1_000_000;

/** Sources of nondeterminism, injectable for reproducible tests. */
export interface MachineOptions {
  /** Instruction budget per run (default 1,000,000). */
  budget?: number;
  /** Seed of get_prandom_u32 (default 1). */
  seed?: number;
  /** ktime_get_ns source (default process.hrtime). */
  clock?: () => bigint;
  /** Bytes the object's maps may take (default DEFAULT_MAP_MEMORY, 512 MiB); see runtime/maps MapMemory. */
  mapMemoryLimit?: number;
}

/**
 * The ctx and stack-frame regions are shared by every Machine: runs never nest or overlap (helpers cannot start
 * other programs, and JS is single-threaded), so one set suffices, and nothing of one run survives into the next
 * (the ctx is rewritten and the stack zeroed at every reset). They have the same fixed ids in every object's region
 * table (ctx 1, frame d 2+d), so the JIT can recognise an unmodified ctx pointer by a constant. Exported for the JIT,
 * which writes r10-relative stack slots directly.
 */
export const SHARED = {
  ctx: fixRegionId(new Region(RegionKind.Ctx, new Uint8Array(CTX_SIZE), "ctx"), CTX_ID),
  frames: Array.from({ length: MAX_FRAMES }, (_, i) =>
    fixRegionId(new Region(RegionKind.Stack, new Uint8Array(STACK_SIZE), `stack frame ${i}`), FRAME0_ID + i),
  ),
  /** The ctx bytes last copied in (ctx is read-only, so the same input needs no copy). */
  lastCtx: null as Uint8Array | null,
  /**
   * Lowest byte offset written in any stack frame since the last reset (STACK_SIZE = nothing written): the next
   * reset clears from there up, which for typical programs is a few bytes rather than the whole frame.
   */
  stackLow: 0,
  /** Highest frame used since the last reset. */
  depthUsed: 0,
};
/** Every frame as 32-bit words (each frame's bytes start a buffer of their own, so the views are aligned), for reset. */
const FRAME_WORDS = SHARED.frames.map((f) => new Int32Array(f.bytes.buffer, f.bytes.byteOffset, STACK_SIZE >> 2));
/** High word of the ctx pointer: fixed for the process, so the JIT can recognise an unmodified ctx pointer cheaply. */
export const CTX_HI = fixedHi(CTX_ID);
/** Low word of the ctx pointer (offset 0). */
export const CTX_LO = ptrLo(0);

/**
 * How much trace_printk text one run keeps: the kernel writes trace lines into a ring buffer that overwrites its
 * oldest events (kernel/trace/ring_buffer.c; 1408 KiB per CPU by default, buffer_size_kb), so a program printing in
 * a long loop loses its first lines rather than exhausting memory. The VM keeps the newest lines up to 1 MiB.
 */
export const TRACE_BUFFER_BYTES = 1 << 20;

/** Largest instruction budget accepted (2^32: hours of interpretation, yet a run that is sure to end). */
export const MAX_BUDGET = 2 ** 32;

/**
 * `budget` if it is a usable instruction budget (an integer from 1 to MAX_BUDGET), else a RangeError: NaN, Infinity
 * or a string would make the budget check never fire, and a hostile program would then run forever.
 */
export function checkBudget(budget: unknown): number {
  if (typeof budget !== "number" || !Number.isInteger(budget) || budget < 1 || budget > MAX_BUDGET) {
    throw new RangeError(`instruction budget must be an integer from 1 to ${MAX_BUDGET} (got ${typeof budget === "string" ? JSON.stringify(budget) : String(budget)})`);
  }
  return budget;
}

/** What a finished run's slots of Machine.deferred hold (so that they keep no map alive). */
const NOTHING_DEFERRED: AfterRun = { runOver() {} };

/** Shared by interpreter and JIT code. Not reentrant: one run at a time. */
export class Machine {
  /** The ctx region (struct bpf_sk_lookup), shared by all machines. */
  readonly ctx: Region = SHARED.ctx;
  /** Stack frames by call depth, shared by all machines. */
  readonly frames: readonly Region[] = SHARED.frames;
  /** The regions this machine's programs can name (one table per loaded object). */
  readonly table: RegionTable = new RegionTable([SHARED.ctx, ...SHARED.frames]);
  /** Instructions executed in the current run. */
  n = 0;
  budget: number;
  /** High word of the last load, helper result or subprogram return. */
  h = 0;
  /** The socket selected by bpf_sk_assign so far (ctx->sk). */
  selected: Socket | null = null;
  noReuseport = false;
  /** trace_printk output of the current run (the newest lines, at most TRACE_BUFFER_BYTES of them). */
  trace: string[] = [];
  /** Characters in `trace`. */
  traceBytes = 0;
  /** Socket references taken and not yet released in the current run. */
  held: Socket[] = [];
  /** What the last run's helpers deferred until the run is over (see afterRun). */
  private readonly deferred: AfterRun[] = [];
  /** How many of `deferred` are the last run's (a count: storing an array's length costs more than the rest). */
  private deferredCount = 0;

  prng: number;
  readonly clock: () => bigint;
  /** True when `clock` is the default one, which ktime_get_ns reads without BigInts (see hrtimeNs). */
  readonly defaultClock: boolean;
  private readonly seed: number;

  constructor(opts: MachineOptions = {}) {
    this.budget = checkBudget(opts.budget ?? DEFAULT_BUDGET);
    this.seed = opts.seed ?? 1;
    this.prng = this.seed >>> 0 || 1;
    this.clock = opts.clock ?? (() => process.hrtime.bigint());
    this.defaultClock = opts.clock === undefined;
  }

  /**
   * Calls `x.runOver()` once the current run is over (at the next reset): a pointer of the run may reach storage that
   * a helper freed during it (an LPM trie value deleted after its lookup), as in the kernel, which frees after a grace
   * period. A check of this list is all a run pays when nothing is deferred.
   */
  afterRun(x: AfterRun): void {
    const n = this.deferredCount++;
    if (n === this.deferred.length) this.deferred.push(x);
    else this.deferred[n] = x;
  }

  private runOver(): void {
    // The same array from run to run, never shortened: a map that defers work every run (an LRU counter's update)
    // allocates nothing, and no length store (measured: `length = 0` was ~10% of a run that updates an LRU hash).
    const done = this.deferred;
    const n = this.deferredCount;
    this.deferredCount = 0;
    for (let i = 0; i < n; i++) {
      done[i]!.runOver();
      done[i] = NOTHING_DEFERRED;
    }
  }

  /**
   * Resets per-run state; `ctxBytes` is a normalized 72-byte struct bpf_sk_lookup. `zeroStack` false (a JIT program
   * proven never to read a frame byte before writing it) leaves the frames and their watermark as they are, for the
   * next run that can read unwritten bytes to clear.
   */
  reset(ctxBytes: Uint8Array, selected: Socket | null = null, noReuseport = false, zeroStack = true): void {
    if (ctxBytes !== SHARED.lastCtx) {
      SHARED.ctx.bytes.set(ctxBytes);
      SHARED.lastCtx = ctxBytes;
    }
    this.n = 0;
    this.table.endRun();
    this.selected = selected;
    this.noReuseport = noReuseport;
    if (this.trace.length) {
      this.trace = [];
      this.traceBytes = 0;
    }
    if (this.held.length) this.held = [];
    if (this.deferredCount !== 0) this.runOver();
    // Every run starts from zeroed stack frames so that both tiers (and reruns) see the same bytes even in programs
    // that read stack they never wrote (the privileged verifier allows it).
    if (!zeroStack) return;
    const low = SHARED.stackLow;
    if (low < STACK_SIZE) {
      // The watermark is the lowest offset any store wrote in any frame (JIT entry marks, st and wview lower it for
      // every stack region), so [low, end) of each frame used covers everything written. A short tail (the usual
      // few key bytes) is cheaper to clear by hand than through TypedArray#fill; whole 32-bit words from the one
      // holding `low` (bytes below `low` are zero already, so clearing them is harmless).
      for (let d = 0; d <= SHARED.depthUsed; d++) {
        if (STACK_SIZE - low <= 64) {
          const words = FRAME_WORDS[d]!;
          for (let i = low >> 2; i < STACK_SIZE >> 2; i++) words[i] = 0;
        } else SHARED.frames[d]!.bytes.fill(0, low);
      }
      SHARED.stackLow = STACK_SIZE;
    }
    SHARED.depthUsed = 0;
  }

  /** Reseeds get_prandom_u32. */
  reseed(seed: number): void {
    this.prng = seed >>> 0 || 1;
  }

  /** High word of a pointer to `r` (registers it in this machine's table). */
  hiOf(r: Region): number {
    return this.table.hi(r);
  }

  /** Stack frame pointer words for call depth `depth` (r10 points at the frame's end). */
  frameHi(depth: number, pc: number): number {
    if (depth >= MAX_FRAMES) throw new VmFault(`call depth exceeds ${MAX_FRAMES} frames`, pc);
    if (depth > SHARED.depthUsed) SHARED.depthUsed = depth;
    return fixedHi(FRAME0_ID + depth);
  }
  /** Low word of r10 in every frame. */
  static readonly FP_LO = ptrLo(STACK_SIZE);

  /** Appends a trace line, dropping the oldest half of the lines when the buffer is over TRACE_BUFFER_BYTES. */
  addTrace(line: string): void {
    this.trace.push(line);
    this.traceBytes += line.length + 1;
    if (this.traceBytes > TRACE_BUFFER_BYTES) {
      const keep = this.trace.slice(this.trace.length >> 1);
      this.trace = keep;
      this.traceBytes = keep.reduce((n, l) => n + l.length + 1, 0);
    }
  }

  /** Throws a BudgetExceeded fault. */
  overBudget(pc: number): never {
    throw new BudgetExceeded(`instruction budget of ${this.budget} exhausted (runaway loop?)`, pc);
  }

  /** Finds the region of a pointer, or faults. */
  /**
   * The region a pointer points into, or a fault. The message is `what` (plus ` of SIZE bytes` when size > 0),
   * built only on failure: this runs on every memory access, so it must not allocate.
   */
  region(lo: number, hi: number, pc: number, what: string, size = 0): Region {
    const r = ((hi & ~ID_MASK) | 0) === (PTR_TAG | 0) ? this.table.regions[hi & ID_MASK] : undefined;
    // The failure path lives in its own function so that this one stays small enough for V8 to inline.
    return r ?? notAPointer(lo, hi, pc, what, size);
  }

  /** Loads `size` bytes at (lo,hi)+off: returns the low word as an int32 (zero-extended below 4 bytes) and sets `h`. */
  ld(lo: number, hi: number, off: number, size: number, pc: number): number {
    if (hi === CTX_HI) return this.ctxLoad(((lo - OFF_BIAS) | 0) + off, size, pc);
    const r = this.region(lo, hi, pc, "read", size);
    const o = ((lo - OFF_BIAS) | 0) + off;
    if (r.kind === RegionKind.Map) throw new VmFault(`read of ${size} bytes through a map pointer (${r.label}); map pointers are opaque`, pc);
    if (o < 0 || o + size > r.bytes.length) this.oob("read", size, r, o, pc);
    const v = r.view;
    this.h = 0;
    switch (size) {
      case 1:
        return v.getUint8(o);
      case 2:
        return v.getUint16(o, true);
      case 4:
        return v.getInt32(o, true);
      default:
        this.h = v.getInt32(o + 4, true);
        return v.getInt32(o, true);
    }
  }

  /**
   * The DataView to read `size` bytes at (lo,hi)+off from, after Machine.ld's checks (same faults, same order), for
   * any pointer except ctx (the caller sends those to ld). Kept small so V8 inlines it into JIT code.
   */
  rview(lo: number, hi: number, off: number, size: number, pc: number): DataView {
    const r = this.region(lo, hi, pc, "read", size);
    const o = ((lo - OFF_BIAS) | 0) + off;
    if (r.kind === RegionKind.Map || o < 0 || o + size > r.bytes.length) this.badRead(r, o, size, pc);
    return r.view;
  }

  /** The fault Machine.ld raises for a read of a map pointer or out of bounds. */
  private badRead(r: Region, o: number, size: number, pc: number): never {
    if (r.kind === RegionKind.Map) throw new VmFault(`read of ${size} bytes through a map pointer (${r.label}); map pointers are opaque`, pc);
    this.oob("read", size, r, o, pc);
  }

  /**
   * The DataView to write `size` bytes at (lo,hi)+off into, after Machine.st's checks (same faults, same order),
   * lowering the stack watermark like st. Kept small so V8 inlines it into JIT code.
   */
  wview(lo: number, hi: number, off: number, size: number, pc: number): DataView {
    const r = this.region(lo, hi, pc, "write", size);
    const o = ((lo - OFF_BIAS) | 0) + off;
    const k = r.kind;
    if ((k !== RegionKind.Stack && k !== RegionKind.MapValue) || o < 0 || o + size > r.bytes.length) this.badWrite(r, o, size, pc);
    if (k === RegionKind.Stack && o < SHARED.stackLow) SHARED.stackLow = o;
    return r.view;
  }

  /** The fault Machine.st raises for a write into read-only memory or out of bounds. */
  private badWrite(r: Region, o: number, size: number, pc: number): never {
    if (r.kind !== RegionKind.Stack && r.kind !== RegionKind.MapValue) {
      throw new VmFault(`write of ${size} bytes into ${REGION_KIND_NAMES[r.kind]} (${r.label}) at offset ${o}: read-only`, pc);
    }
    this.oob("write", size, r, o, pc);
  }

  /** Stores the low `size` bytes of (vlo,vhi) at (lo,hi)+off. */
  st(lo: number, hi: number, off: number, size: number, vlo: number, vhi: number, pc: number): void {
    const r = this.region(lo, hi, pc, "write", size);
    const o = ((lo - OFF_BIAS) | 0) + off;
    if (r.kind !== RegionKind.Stack && r.kind !== RegionKind.MapValue) {
      throw new VmFault(`write of ${size} bytes into ${REGION_KIND_NAMES[r.kind]} (${r.label}) at offset ${o}: read-only`, pc);
    }
    if (o < 0 || o + size > r.bytes.length) this.oob("write", size, r, o, pc);
    if (r.kind === RegionKind.Stack && o < SHARED.stackLow) SHARED.stackLow = o;
    const v = r.view;
    switch (size) {
      case 1:
        v.setUint8(o, vlo);
        return;
      case 2:
        v.setUint16(o, vlo, true);
        return;
      case 4:
        v.setInt32(o, vlo, true);
        return;
      default:
        v.setInt32(o, vlo, true);
        v.setInt32(o + 4, vhi, true);
    }
  }

  /**
   * Atomic read-modify-write (BPF_ATOMIC with `op` from insn.imm) on a W or DW location. Returns the old value's low
   * word (high word in `h`), which the caller writes to src (FETCH/XCHG) or r0 (CMPXCHG).
   */
  atomic(op: number, lo: number, hi: number, off: number, size: number, slo: number, shi: number, r0lo: number, r0hi: number, pc: number): number {
    const w = size === 8;
    if ((op === 0x00 || op === 0x01) && hi !== CTX_HI) {
      // Atomic add on memory that is not ctx (ctx keeps the general path): ld's then st's checks, through the
      // DataViews they return, without ld/st's size switches.
      const o = ((lo - OFF_BIAS) | 0) + off;
      const rv = this.rview(lo, hi, off, size, pc);
      const oldLo = rv.getInt32(o, true);
      const oldHi = w ? rv.getInt32(o + 4, true) : 0;
      const wv = this.wview(lo, hi, off, size, pc);
      const sum = (oldLo >>> 0) + (slo >>> 0);
      wv.setInt32(o, sum | 0, true);
      if (w) wv.setInt32(o + 4, (oldHi + shi + (sum > 0xffffffff ? 1 : 0)) | 0, true);
      this.h = oldHi;
      return oldLo;
    }
    const oldLo = this.ld(lo, hi, off, size, pc);
    const oldHi = this.h;
    if (op === 0x00 || op === 0x01) {
      // Atomic add (the DSL's `increment`, clang's __sync_fetch_and_add): word arithmetic, no BigInt.
      const sum = (oldLo >>> 0) + (slo >>> 0);
      const newHi = w ? (oldHi + shi + (sum > 0xffffffff ? 1 : 0)) | 0 : 0;
      this.st(lo, hi, off, size, sum | 0, newHi, pc);
      this.h = w ? oldHi : 0;
      return oldLo;
    }
    const old = w ? join(oldLo, oldHi) : BigInt(oldLo >>> 0);
    const src = w ? join(slo, shi) : BigInt(slo >>> 0);
    const mask = w ? 0xffffffffffffffffn : 0xffffffffn;
    let nv: bigint;
    switch (op) {
      case 0x00:
      case 0x01:
        nv = (old + src) & mask;
        break;
      case 0x40:
      case 0x41:
        nv = old | src;
        break;
      case 0x50:
      case 0x51:
        nv = old & src;
        break;
      case 0xa0:
      case 0xa1:
        nv = old ^ src;
        break;
      case 0xe1:
        nv = src;
        break;
      case 0xf1: {
        const cmp = w ? join(r0lo, r0hi) : BigInt(r0lo >>> 0);
        nv = old === cmp ? src : old;
        break;
      }
      default:
        throw new VmFault(`invalid atomic operation 0x${(op >>> 0).toString(16)}`, pc);
    }
    this.st(lo, hi, off, size, Number(BigInt.asIntN(32, nv)), Number(BigInt.asIntN(32, nv >> 32n)), pc);
    this.h = w ? oldHi : 0;
    return oldLo;
  }

  private oob(what: string, size: number, r: Region, o: number, pc: number): never {
    throw new VmFault(`${what} of ${size} bytes at offset ${o} of ${r.label} (size ${r.bytes.length}) is out of bounds`, pc);
  }

  /**
   * A ctx load with the kernel's semantics (net/core/filter.c sk_lookup_is_valid_access + convert_ctx_access):
   * only the (offset, size) pairs of compiler/abi are legal; `sk` yields the selected socket or NULL; a 2-byte load
   * at +2 of a u16-backed field returns its low half (measured quirk).
   */
  private ctxLoad(o: number, size: number, pc: number): number {
    const kind = o >= 0 && o < CTX_SIZE && size <= 8 ? CTX_LOADS[o * 9 + size]! : 0;
    this.h = 0;
    if (kind === 0) throw new VmFault(`invalid bpf_context access off=${o} size=${size}`, pc);
    if (kind === 2) {
      const s = this.selected;
      if (!s) return 0;
      this.h = this.table.hi(s.region);
      return OFF_BIAS;
    }
    const v = this.ctx.view;
    if (kind === 3) return v.getUint16(o - 2, true);
    if (size === 1) return v.getUint8(o);
    if (size === 2) return v.getUint16(o, true);
    return v.getInt32(o, true);
  }
}

/**
 * Legal ctx loads by (offset * 9 + size): 0 rejected, 1 plain read, 2 the `sk` pointer, 3 the u16-backed quirk
 * (a 2-byte load at +2 of family/protocol/local_port returns the field's low half). Built once from compiler/abi.
 */
export const CTX_LOADS: Uint8Array = (() => {
  const t = new Uint8Array(CTX_SIZE * 9);
  for (let off = 0; off < CTX_SIZE; off++) {
    for (const size of [1, 2, 4, 8]) {
      if (!ctxLoadField(off, size)) continue;
      t[off * 9 + size] = off === CtxOff.sk ? 2 : size === 2 && U16_BACKED_FIELDS.has(off - 2) ? 3 : 1;
    }
  }
  return t;
})();

/** The fault for an access through something that is not a VM pointer (cold path of Machine.region). */
function notAPointer(lo: number, hi: number, pc: number, what: string, size: number): never {
  const action = size > 0 ? `${what} of ${size} bytes` : what;
  if (lo === 0 && hi === 0) throw new VmFault(`${action} through a NULL pointer`, pc);
  throw new VmFault(`${action} at ${hex64(lo, hi)}, which is not a pointer`, pc);
}

/** Joins two 32-bit words into an unsigned 64-bit BigInt. */
export const join = (lo: number, hi: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
