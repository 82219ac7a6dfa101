/**
 * VM memory model: every piece of memory a program can touch is a *region* (ctx, stack frame, map value, socket view,
 * opaque map handle). A pointer is the pair (region, offset) packed into a 64-bit register value:
 *
 *   high word = PTR_TAG | region id (20 bits)      low word = 0x20000000 + offset
 *
 * The offset is biased so that negative displacements (`r10 - 8`) never borrow into the high word: a pointer stays
 * inside its region's tag whatever arithmetic the program does, and any access is checked against the region's kind
 * and bounds. The value 0 is NULL. Both words of a pointer stay below 2^30, so V8 keeps them as small integers
 * (no heap-number boxing when the JIT passes them to Machine.ld/st or helpers). Both tiers share this encoding.
 */

/** High-word tag of VM pointers (chosen to be unlikely as the high half of an ordinary scalar). */
export const PTR_TAG = 0x3eb00000;
/** Mask of the region id inside the high word. */
export const ID_MASK = 0xfffff;
/** Bias added to region offsets in the low word (offsets from -2^29 up keep the word in small-integer range). */
export const OFF_BIAS = 0x20000000;

/** What a region holds; decides which accesses are legal. */
export const enum RegionKind {
  /** struct bpf_sk_lookup: read-only, with the kernel's ctx-access rules. */
  Ctx = 1,
  /** A 512-byte stack frame. */
  Stack = 2,
  /** A map value (live view into the map). */
  MapValue = 3,
  /** struct bpf_sock view of a socket: read-only. */
  Sock = 4,
  /** A map handle (`lddw r1, map`): opaque, any load or store faults. */
  Map = 5,
  /** Read-only memory the program may read (e.g. helper scratch). */
  ReadOnly = 6,
}

/** Human names of region kinds, for fault messages. */
export const REGION_KIND_NAMES: Record<number, string> = {
  1: "ctx",
  2: "stack",
  3: "map value",
  4: "sock",
  5: "map pointer",
  6: "read-only memory",
};

/** One addressable region. `owner` is the map (Map kind), the socket (Sock kind) or undefined. */
export class Region {
  /** Registry id, 0 until the region is first handed to a program. */
  id = 0;
  readonly view: DataView;
  constructor(
    readonly kind: RegionKind,
    readonly bytes: Uint8Array,
    /** Short description for faults, e.g. `stack frame 0`, `value of hits[3]`. */
    readonly label: string,
    readonly owner?: unknown,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
}

/**
 * The global region registry. Ids are handed out lazily (on first use as a pointer) and never reused, so a pointer a
 * program keeps stays meaningful; 2^20 ids are plenty for test workloads.
 */
const REGISTRY: (Region | undefined)[] = [undefined];

/** Registers `r` if needed and returns its id. */
export function regionId(r: Region): number {
  if (r.id === 0) {
    if (REGISTRY.length > ID_MASK) throw new RangeError("VM region registry exhausted (2^20 regions)");
    r.id = REGISTRY.length;
    REGISTRY.push(r);
  }
  return r.id;
}

/** The registry itself, read-only: JIT code indexes it directly by a pointer's region id. */
export const REGIONS: readonly (Region | undefined)[] = REGISTRY;

/** The region with id `id`, if any. */
export const regionById = (id: number): Region | undefined => REGISTRY[id];

/** High word of a pointer into `r`. */
export const ptrHi = (r: Region): number => (PTR_TAG | regionId(r)) | 0;
/** Low word of a pointer at `offset` inside a region. */
export const ptrLo = (offset: number): number => (OFF_BIAS + offset) | 0;
/** A pointer as a 64-bit BigInt (for the interpreter and for tests). */
export const ptrBig = (r: Region, offset = 0): bigint =>
  (BigInt(ptrHi(r) >>> 0) << 32n) | BigInt(ptrLo(offset) >>> 0);

/** Resolves (lo, hi) to a region and offset, or undefined when it is not a VM pointer. */
export function resolvePtr(lo: number, hi: number): { region: Region; offset: number } | undefined {
  if (((hi & ~ID_MASK) | 0) !== (PTR_TAG | 0)) return undefined;
  const region = REGISTRY[hi & ID_MASK];
  if (!region) return undefined;
  return { region, offset: (lo - OFF_BIAS) | 0 };
}

/** Formats a 64-bit value given as words, for messages. */
export const hex64 = (lo: number, hi: number): string =>
  `0x${(hi >>> 0).toString(16)}${(lo >>> 0).toString(16).padStart(8, "0")}`.replace(/^0x0+(?=[0-9a-f])/, "0x");

/** A program fault: bad memory access, bad instruction, unsupported helper... Carries the pc and the instruction. */
export class VmFault extends Error {
  override name = "VmFault";
  /** Disassembled instruction at `pc` (filled in by the runner). */
  insn?: string;
  constructor(
    readonly reason: string,
    /** Program counter (slot index in the linked program). */
    public pc: number,
  ) {
    super(reason);
  }
  /** Adds the instruction text and rewrites the message as `pc N (insn): reason`. */
  locate(insnText: string): this {
    this.insn = insnText;
    this.message = `pc ${this.pc} (${insnText}): ${this.reason}`;
    return this;
  }
}

/** The instruction budget ran out: the program (or a loop in it) ran too long. */
export class BudgetExceeded extends VmFault {
  override name = "BudgetExceeded";
}
