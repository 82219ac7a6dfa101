/**
 * VM memory model: every piece of memory a program can touch is a *region* (ctx, stack frame, map value, socket view,
 * opaque map handle). A pointer is the pair (region, offset) packed into a 64-bit register value:
 *
 *   high word = PTR_TAG | region id (20 bits)      low word = 0x20000000 + offset
 *
 * The offset is biased so that negative displacements (`r10 - 8`) never borrow into the high word, and every access
 * is checked against the region's kind and bounds. Region ids are per loaded object (RegionTable), so whatever
 * arithmetic a program does on a pointer, the result names its own object's memory or nothing. The value 0 is NULL. Both words of a pointer stay below 2^30, so V8 keeps them as small integers
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

/**
 * One addressable region. `owner` is the map (Map kind), the socket (Sock kind) or undefined. A region has an id only
 * inside one machine's RegionTable (see below): `table` says which, and `id` is its slot there.
 */
export class Region {
  /** Slot in `table`, or a fixed id (ctx, stack frames); 0 while unregistered. */
  id = 0;
  /** The table `id` belongs to (null: unregistered, or a fixed region whose id is the same in every table). */
  table: RegionTable | null = null;
  readonly view: DataView;
  /** bytes.length, as a plain field: JIT bounds checks read it (a typed array's length costs more to load). */
  readonly size: number;
  /** The label once made; null while `owner` makes it on demand (see label). */
  private text: string | null;
  /**
   * Bytes the owner makes the label from on demand (a hash map value: its key), or null. A map that inserts and
   * deletes on every run copies a key here instead of formatting it: the hex string cost more than the insert.
   */
  labelBytes: Uint8Array | null = null;
  constructor(
    readonly kind: RegionKind,
    readonly bytes: Uint8Array,
    /** Short description for faults, e.g. `stack frame 0`; null: `owner` (a RegionLabeller) makes it when first read. */
    label: string | null,
    readonly owner?: unknown,
  ) {
    this.text = label;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.size = bytes.length;
  }
  /** Short description for faults, e.g. `stack frame 0`, `value of hits[3]` (a reused hash map value's changes). */
  get label(): string {
    return this.text ?? (this.text = (this.owner as RegionLabeller).labelOf(this));
  }
  set label(text: string) {
    this.text = text;
  }
  /** Forgets the label: the owner makes it again from `labelBytes` when it is next read. */
  relabel(): void {
    this.text = null;
  }
}

/** The owner of regions made without a label, which makes their label when it is first read. */
export interface RegionLabeller {
  labelOf(r: Region): string;
}

/** Id of the ctx region in every table. */
export const CTX_ID = 1;
/** Id of stack frame 0 in every table (frame d has FRAME0_ID + d). */
export const FRAME0_ID = 2;

/**
 * The regions one loaded object's programs can name, by id: a pointer's region id indexes `regions`, so a pointer
 * (forged or not) can only ever reach memory of its own object. Three parts:
 * - fixed ids 1..9: ctx and the 8 stack frames, which every object shares because runs never overlap and each run
 *   starts from a zeroed stack and a fresh ctx (nothing of another object's run survives in them);
 * - pinned ids: the object's map handles and the map values its lddw instructions name, registered at load and kept
 *   for the object's life (JIT code embeds them as constants);
 * - run ids: everything a run hands out (lookup results, sockets), forgotten at the next run's reset, so the table
 *   never grows past what one run touched and deleted values are released with the run that saw them last.
 * Pointers kept across runs (stored in a map as a number) therefore name nothing or a region of the same object.
 */
export class RegionTable {
  /** Regions by id (slot 0 is NULL). JIT code indexes this array directly; it is only ever mutated, never replaced. */
  readonly regions: (Region | undefined)[];
  /** First id of the run part. */
  private runStart: number;
  /**
   * One past the highest id in use. Slots from here up are undefined: a run's ids are cleared, not cut off, because
   * storing an array's length costs ~30 ns even when it does not change (measured here), most of a short run.
   */
  private top: number;

  constructor(fixed: readonly Region[]) {
    this.regions = [undefined, ...fixed];
    this.runStart = this.top = this.regions.length;
  }

  /** Registers `r` for the object's lifetime (map handles, lddw targets) and returns its id. */
  pin(r: Region): number {
    if (r.table === this && r.id < this.runStart) return r.id;
    if (this.top !== this.runStart) throw new Error("RegionTable.pin during a run");
    const id = this.add(r);
    this.runStart = this.top;
    return id;
  }

  /** True when `r` has an id in this table for the object's life (pinned at load): the JIT may embed its pointer. */
  pinned(r: Region): boolean {
    return r.table === this && r.id > 0 && r.id < this.runStart;
  }

  /** The id of `r` in this table, registering it for the current run when needed. */
  idOf(r: Region): number {
    if (r.table === this) return r.id;
    if (r.table === null && r.id !== 0) return r.id; // ctx and frames: fixed ids
    return this.add(r);
  }

  private add(r: Region): number {
    const id = this.top;
    if (id > ID_MASK) throw new RangeError(`one run handed out more than ${ID_MASK} memory regions`);
    if (id === this.regions.length) this.regions.push(r);
    else this.regions[id] = r;
    this.top = id + 1;
    r.table = this;
    r.id = id;
    return id;
  }

  /** Forgets every run id (called when a run starts). Costs one step per region the last run registered. */
  endRun(): void {
    const rs = this.regions;
    for (let i = this.runStart; i < this.top; i++) {
      const r = rs[i]!;
      // A socket may have been registered by another object's table since; leave that registration alone.
      if (r.table === this) {
        r.table = null;
        r.id = 0;
      }
      rs[i] = undefined;
    }
    this.top = this.runStart;
  }

  /** Regions registered (fixed, pinned and run), for tests of memory bounds. */
  get size(): number {
    return this.top - 1;
  }

  /** High word of a pointer into `r`. */
  hi(r: Region): number {
    return (PTR_TAG | this.idOf(r)) | 0;
  }

  /** A pointer as a 64-bit BigInt (for the interpreter and for tests). */
  ptrBig(r: Region, offset = 0): bigint {
    return (BigInt(this.hi(r) >>> 0) << 32n) | BigInt(ptrLo(offset) >>> 0);
  }

  /** Resolves (lo, hi) to a region of this table and offset, or undefined when it is not a pointer into it. */
  resolve(lo: number, hi: number): { region: Region; offset: number } | undefined {
    if (((hi & ~ID_MASK) | 0) !== (PTR_TAG | 0)) return undefined;
    const region = this.regions[hi & ID_MASK];
    if (!region) return undefined;
    return { region, offset: (lo - OFF_BIAS) | 0 };
  }
}

/** Gives a shared region (ctx, frames) its fixed id, valid in every table. */
export function fixRegionId(r: Region, id: number): Region {
  r.id = id;
  r.table = null;
  return r;
}

/** Low word of a pointer at `offset` inside a region. */
export const ptrLo = (offset: number): number => (OFF_BIAS + offset) | 0;
/** High word of a pointer to the fixed region with id `id`. */
export const fixedHi = (id: number): number => (PTR_TAG | id) | 0;

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
