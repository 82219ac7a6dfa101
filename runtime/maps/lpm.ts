/**
 * BPF_MAP_TYPE_LPM_TRIE. Keys are `struct bpf_lpm_trie_key`: a host-order u32 prefix length followed by the data,
 * matched from the most significant bit of the first data byte (data in network order, see docs/ARCHITECTURE.md).
 * Entries are kept per prefix length in KeyTables keyed by the data masked to the prefix. A lookup finds the longest
 * stored prefix, limited by the key's own prefix length (kernel longest_prefix_match uses the minimum): by probing
 * each length's table, longest first, while there are few lengths, else by walking a multibit trie built from the
 * entries (LpmIndex). Neither allocates.
 *
 * Sized for a million prefixes: entry keys and values live in fixed-size chunks (a value's Region is a view into its
 * chunk, made when a program or user space first reaches it), the index in typed arrays. Objects per entry and JS
 * arrays in the index had cost ~1.5 KB a prefix at a million prefixes (npm run bench, section e).
 */
import { BPF_F_NO_PREALLOC, type MapDef } from "../../compiler/abi/maps.ts";
import { Region, RegionKind } from "../vm/region.ts";
import { elementBytes } from "../../compiler/abi/map-limits.ts";
import { KeyTable, NO_SLOT } from "./key-table.ts";
import { BPF_EXIST, BPF_NOEXIST, MapError, type MapMemory, type VmMap, badFlags, err, keyBytes, newHandle } from "./map.ts";

/** Entries per storage chunk (chunks never move, so value Regions stay valid while the map grows). */
const CHUNK_BITS = 10;
const CHUNK = 1 << CHUNK_BITS;

/**
 * Up to this many distinct prefix lengths, a lookup probes the per-length tables, longest first (one hash probe per
 * length, shorter than a walk down the trie for the few lengths of a typical table); beyond, it walks LpmIndex.
 */
const PROBED_LENGTHS = 4;

/** An LPM trie map. */
export class LpmTrieMap implements VmMap {
  readonly handle: Region;
  readonly holdsSockets = false;
  /** Bits of data (max prefix length). */
  readonly maxPrefix: number;
  /** Entry ids by prefix length, then by data masked to that length. */
  private readonly byLen = new Map<number, KeyTable<number>>();
  /** The prefix lengths stored, longest first, and their tables in that order (what a lookup reads). */
  private lens: number[] = [];
  private lenTables: KeyTable<number>[] = [];
  /** Data masked to a prefix length, for updates and deletes (reused). */
  private readonly scratch: Uint8Array;
  /** Entry id → its key (as given, prefix length included) in `keyChunks`, its value in `valueChunks`. */
  private readonly keyChunks: Uint8Array[] = [];
  private readonly valueChunks: Uint8Array[] = [];
  /** Entry id → the Region of its value, once made. */
  private readonly regions: (Region | undefined)[] = [undefined];
  /** Entry id → prefix length (-1: free). */
  private readonly lenOf: number[] = [-1];
  /** Ids of deleted entries whose value no Region points into (reusable). */
  private readonly free: number[] = [];
  /** Lookup index (see LpmIndex); null when it must be rebuilt. */
  private index: LpmIndex | null = null;
  private count = 0;
  constructor(
    readonly def: MapDef,
    /** Charged per element (an LPM trie allocates a node per prefix). */
    private readonly memory?: MapMemory,
  ) {
    const dataSize = def.keySize - 4;
    // Kernel trie_alloc: data 1..256 bytes, value 1..(KMALLOC_MAX - ...) and BPF_F_NO_PREALLOC required.
    if (dataSize < 1 || dataSize > 256) throw new MapError(`lpm trie ${def.name}: key size must be 5..260 (got ${def.keySize})`);
    if (def.valueSize <= 0) throw new MapError(`lpm trie ${def.name}: value size must be positive`);
    if (def.maxEntries <= 0) throw new MapError(`lpm trie ${def.name}: max_entries must be positive`);
    if ((def.flags & BPF_F_NO_PREALLOC) === 0) throw new MapError(`lpm trie ${def.name}: needs map_flags BPF_F_NO_PREALLOC`);
    this.maxPrefix = dataSize * 8;
    this.scratch = new Uint8Array(dataSize);
    this.handle = newHandle(def, this);
  }
  private prefixLen(key: Uint8Array): number {
    return (key[0]! | (key[1]! << 8) | (key[2]! << 16) | (key[3]! << 24)) >>> 0;
  }
  /** The data of `key` masked to `len` bits, in `scratch` (bytes past the end of `key` read as zero). */
  private masked(key: Uint8Array, len: number): Uint8Array {
    const out = this.scratch;
    const whole = len >> 3;
    for (let i = 0; i < out.length; i++) {
      const b = 4 + i < key.length ? key[4 + i]! : 0;
      out[i] = i < whole ? b : i === whole ? b & (0xff00 >> (len & 7)) & 0xff : 0;
    }
    return out;
  }
  /** The id of the entry for prefix length `len` and `key`'s data, or undefined. */
  private idOf(table: KeyTable<number> | undefined, key: Uint8Array, len: number): number | undefined {
    if (table === undefined) return undefined;
    const slot = table.find(this.masked(key, len), 0);
    return slot === NO_SLOT ? undefined : table.valueAt(slot);
  }
  /** The key bytes of entry `id` (a view into its chunk). */
  keyOf(id: number): Uint8Array {
    const size = this.def.keySize;
    const at = (id & (CHUNK - 1)) * size;
    return this.keyChunks[id >> CHUNK_BITS]!.subarray(at, at + size);
  }
  /** Writes entry `id`'s value (zero-padded, like a fresh kernel element). */
  private writeValue(id: number, value: Uint8Array): void {
    const size = this.def.valueSize;
    const at = (id & (CHUNK - 1)) * size;
    const chunk = this.valueChunks[id >> CHUNK_BITS]!;
    chunk.fill(0, at, at + size);
    chunk.set(value.subarray(0, size), at);
  }
  /** The value Region of entry `id`, made on first use (a view into the value chunk). */
  regionOf(id: number): Region {
    let r = this.regions[id];
    if (r === undefined) {
      const size = this.def.valueSize;
      const at = (id & (CHUNK - 1)) * size;
      r = new Region(RegionKind.MapValue, this.valueChunks[id >> CHUNK_BITS]!.subarray(at, at + size), `value of ${this.def.name}{/${this.lenOf[id]}}`, this);
      this.regions[id] = r;
    }
    return r;
  }
  lookupAt(buf: Uint8Array, off: number): Region | null {
    const limit = Math.min((buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16) | (buf[off + 3]! << 24)) >>> 0, this.maxPrefix);
    const lens = this.lens;
    if (lens.length <= PROBED_LENGTHS) {
      for (let i = 0; i < lens.length; i++) {
        if (lens[i]! > limit) continue;
        const table = this.lenTables[i]!;
        const slot = table.find(buf, off + 4, lens[i]!);
        if (slot !== NO_SLOT) return this.regionOf(table.valueAt(slot));
      }
      return null;
    }
    const id = (this.index ??= this.buildIndex()).find(buf, off + 4, limit);
    return id === 0 ? null : this.regionOf(id);
  }
  lookup(key: Uint8Array): Region | null {
    if (key.length < this.def.keySize) {
      // Missing trailing bytes read as zero.
      const k = new Uint8Array(this.def.keySize);
      k.set(key);
      key = k;
    }
    return this.lookupAt(key, 0);
  }
  /** The trie over every stored prefix, built on the first lookup after a delete (inserts extend it in place). */
  private buildIndex(): LpmIndex {
    const index = new LpmIndex(this.keyChunks, this.def.keySize);
    for (const len of this.lens) for (const id of this.idsOf(len)) index.insert(id, len);
    return index;
  }
  /** A fresh entry id with room in the chunks. */
  private allocate(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    const id = this.lenOf.length;
    if (id >> CHUNK_BITS >= this.keyChunks.length) {
      this.keyChunks.push(new Uint8Array(CHUNK * this.def.keySize));
      this.valueChunks.push(new Uint8Array(CHUNK * this.def.valueSize));
    }
    this.lenOf.push(-1);
    this.regions.push(undefined);
    return id;
  }
  update(key: Uint8Array, value: Uint8Array, flags: number): number {
    if (badFlags(flags)) return err("EINVAL");
    const len = this.prefixLen(key);
    if (len > this.maxPrefix) return err("EINVAL");
    let bucket = this.byLen.get(len);
    const old = this.idOf(bucket, key, len);
    if (old !== undefined && flags === BPF_NOEXIST) return err("EEXIST");
    if (old === undefined && flags === BPF_EXIST) return err("ENOENT");
    if (old !== undefined) {
      this.writeValue(old, value);
      return 0;
    }
    if (this.count >= this.def.maxEntries) return err("ENOSPC");
    if (this.memory && !this.memory.charge(elementBytes(this.def))) return err("ENOMEM");
    const id = this.allocate();
    this.lenOf[id] = len;
    const stored = this.keyOf(id);
    stored.fill(0);
    stored.set(key.subarray(0, this.def.keySize));
    this.writeValue(id, value);
    if (!bucket) {
      this.byLen.set(len, (bucket = new KeyTable<number>(this.def.keySize - 4)));
      this.sortLengths();
    }
    bucket.insert(this.masked(key, len), 0, id);
    this.index?.insert(id, len);
    this.count++;
    return 0;
  }
  delete(key: Uint8Array): number {
    const len = this.prefixLen(key);
    if (len > this.maxPrefix) return err("EINVAL");
    const bucket = this.byLen.get(len);
    const slot = bucket === undefined ? NO_SLOT : bucket.find(this.masked(key, len), 0);
    if (bucket === undefined || slot === NO_SLOT) return err("ENOENT");
    const id = bucket.valueAt(slot);
    bucket.removeAt(slot);
    this.count--;
    this.memory?.release(elementBytes(this.def));
    this.lenOf[id] = -1;
    // A value a program or user space still holds (its Region) keeps its bytes, as the kernel frees after a grace
    // period: such an id is never reused.
    if (this.regions[id] === undefined) this.free.push(id);
    else this.regions[id] = undefined;
    this.index = null;
    if (bucket.size === 0) {
      this.byLen.delete(len);
      this.sortLengths();
    }
    return 0;
  }
  private sortLengths(): void {
    this.lens = [...this.byLen.keys()].sort((a, b) => b - a);
    this.lenTables = this.lens.map((l) => this.byLen.get(l)!);
  }
  /** Entry ids of prefix length `len`, in insertion order. */
  private *idsOf(len: number): Generator<number> {
    const table = this.byLen.get(len)!;
    for (let s = table.first; s !== NO_SLOT; s = table.after(s)) yield table.valueAt(s);
  }
  entries(): Array<[Uint8Array, Region]> {
    const out: Array<[Uint8Array, Region]> = [];
    for (const len of this.lens) for (const id of this.idsOf(len)) out.push([this.keyOf(id).slice(), this.regionOf(id)]);
    return out;
  }
  /** Number of prefixes stored. */
  get size(): number {
    return this.count;
  }
}

/**
 * The lookup side: a multibit trie over the data in 4-bit strides (nibbles, most significant first), in typed arrays,
 * so that a lookup is a loop over small integers without allocation and a 64-bit key takes 16 steps rather than 64.
 * Node n's slots are n*16 + nibble. A prefix of L > 0 bits lives in the node reached by its first floor((L-1)/4)
 * nibbles, as q = L - 4*depth bits (1..4) of the next nibble:
 * - `ev`/`el` (controlled prefix expansion): every nibble that starts with those q bits holds the entry of the longest
 *   such prefix (el = its q, 0 = none), so a step that consumes a whole nibble reads its best match in one load;
 * - `pv` (exact, keyed by node*32 + ((1 << q) | bits)): for a key whose limit ends inside a nibble, where only
 *   prefixes of at most that many bits may match (kernel longest_prefix_match takes the minimum length); sparse,
 *   as most lookups never need it.
 * The /0 prefix is `root`. Entries are ids (0 = none). A lookup keeps the deepest match it sees: the longest match.
 * A slot with a single prefix below it holds that entry as a leaf (kid = -id, checked against the key's remaining
 * bits) instead of a chain of nodes (lazy expansion). A node costs 144 bytes; a path-compressed binary trie (the kernel's layout) would take less memory but, measured
 * here, made lookups ~3x slower in JavaScript (more steps, each comparing data).
 */
class LpmIndex {
  private root = 0;
  private nodes = 1;
  private kid = new Int32Array(16 * 64);
  private ev = new Int32Array(16 * 64);
  private el = new Uint8Array(16 * 64);
  private readonly pv = new Map<number, number>();
  constructor(
    /** The map's key chunks (the list itself, which grows in place, so keys added later are seen). */
    private readonly keyChunks: Uint8Array[],
    private readonly keySize: number,
  ) {}
  private grow(): void {
    const twice = <T extends Int32Array | Uint8Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(a.length * 2);
      b.set(a);
      return b;
    };
    this.kid = twice(this.kid);
    this.ev = twice(this.ev);
    this.el = twice(this.el);
  }
  /** A new empty node. */
  private newNode(): number {
    if ((this.nodes + 1) * 16 > this.kid.length) this.grow();
    return this.nodes++;
  }
  /** Entry `id`'s data bytes: its key chunk and the offset of the data in it. */
  private dataOf(id: number): [Uint8Array, number] {
    return [this.keyChunks[id >> CHUNK_BITS]!, (id & (CHUNK - 1)) * this.keySize + 4];
  }
  /** Entry `id`'s prefix length (the key's first 4 bytes, host order). */
  private lenOf(id: number): number {
    const [chunk, at] = this.dataOf(id);
    return (chunk[at - 4]! | (chunk[at - 3]! << 8) | (chunk[at - 2]! << 16) | (chunk[at - 1]! << 24)) >>> 0;
  }
  /**
   * Adds entry `id` (a new prefix of `len` bits) below `node` at nibble depth `j`. A slot whose subtree would hold a
   * single prefix points at that entry (kid = -id) instead of a chain of nodes: most of a million random prefixes
   * end up as such leaves, and a node is only made where two prefixes part. A leaf in the way moves one level down.
   */
  private insertAt(id: number, len: number, node: number, j: number): void {
    const [data, at] = this.dataOf(id);
    for (; len - 4 * j > 4; j++) {
      const slot = node * 16 + nibble(data, at, j);
      const next = this.kid[slot]!;
      if (next === 0) {
        this.kid[slot] = -id;
        return;
      }
      if (next < 0) {
        // Node 0 is the root, nobody's child: 0 means "no child"; a negative slot is a leaf.
        const fresh = this.newNode();
        this.kid[slot] = fresh;
        this.insertAt(-next, this.lenOf(-next), fresh, j + 1);
        node = fresh;
        continue;
      }
      node = next;
    }
    const q = len - 4 * j;
    const bits = nibble(data, at, j) >> (4 - q);
    this.pv.set(node * 32 + ((1 << q) | bits), id);
    const first = node * 16 + (bits << (4 - q));
    for (let s = first; s < first + (1 << (4 - q)); s++) {
      if (this.el[s]! <= q) {
        this.ev[s] = id;
        this.el[s] = q;
      }
    }
  }
  /** Adds entry `id` (a new prefix of `len` bits; its data is in the key chunks). */
  insert(id: number, len: number): void {
    if (len === 0) this.root = id;
    else this.insertAt(id, len, 0, 0);
  }
  /**
   * Whether leaf entry `id` matches `buf[at..]` within `limit` bits; its bytes before `from` are known to match (the
   * walk that reached it consumed them). No tuple here: this is on the lookup path.
   */
  private leafMatches(id: number, buf: Uint8Array, at: number, limit: number, from: number): boolean {
    const data = this.keyChunks[id >> CHUNK_BITS]!;
    const base = (id & (CHUNK - 1)) * this.keySize + 4;
    const len = (data[base - 4]! | (data[base - 3]! << 8) | (data[base - 2]! << 16) | (data[base - 1]! << 24)) >>> 0;
    if (len > limit) return false;
    let b = from;
    for (; (b + 1) * 8 <= len; b++) if (data[base + b] !== buf[at + b]) return false;
    const rest = len - b * 8;
    return rest === 0 || ((data[base + b]! ^ buf[at + b]!) & (0xff00 >> rest) & 0xff) === 0;
  }
  /** The entry id of the longest stored prefix of at most `limit` bits matching the data at `buf[at..]`, or 0. */
  find(buf: Uint8Array, at: number, limit: number): number {
    const kid = this.kid;
    const ev = this.ev;
    const total = limit;
    let best = this.root;
    let node = 0;
    let j = 0;
    for (; limit >= 4; j++, limit -= 4) {
      const byte = buf[at + (j >> 1)]!;
      const slot = node * 16 + ((j & 1) === 0 ? byte >> 4 : byte & 15);
      const v = ev[slot]!;
      if (v !== 0) best = v;
      node = kid[slot]!;
      if (node > 0) continue;
      // A leaf: the one longer prefix below this slot, if the key has it.
      return node < 0 && this.leafMatches(-node, buf, at, total, (j + 1) >> 1) ? -node : best;
    }
    if (limit > 0) {
      const nib = nibble(buf, at, j);
      for (let q = limit; q > 0; q--) {
        const v = this.pv.get(node * 32 + ((1 << q) | (nib >> (4 - q))));
        if (v !== undefined) return v;
      }
    }
    return best;
  }
}

/** Nibble `j` (0 = high half of the first byte) of the data at `b[at..]`. */
const nibble = (b: Uint8Array, at: number, j: number): number => ((j & 1) === 0 ? b[at + (j >> 1)]! >> 4 : b[at + (j >> 1)]! & 15);

/** Re-export for callers that build keys. */
export { keyBytes };
