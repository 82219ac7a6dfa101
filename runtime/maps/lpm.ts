/**
 * BPF_MAP_TYPE_LPM_TRIE. Keys are `struct bpf_lpm_trie_key`: a host-order u32 prefix length followed by the data,
 * matched from the most significant bit of the first data byte (data in network order, see docs/ARCHITECTURE.md).
 * Entries are indexed by one multibit trie (PrefixTrie, lpm-trie.ts) that updates, deletes, lookups and iteration
 * all use, changed in place by each update and delete. A lookup finds the longest stored prefix no longer than the
 * key's own prefix length (kernel longest_prefix_match uses the minimum), without allocating; entries() lists the
 * keys in the kernel's get_next_key order.
 *
 * Sized for a million prefixes: entry keys and values live in fixed-size chunks (a value's Region is a view into its
 * chunk, made when a program or user space first reaches it), the trie in one typed array. Objects per entry had cost
 * ~1.5 KB a prefix, per-length hash tables beside the trie ~60 bytes (npm run bench, section e).
 *
 * JIT code whose pointer words no instruction observes reaches a value without its Region: `findId`, then the chunk's
 * `slabs` Region at the value's offset in it (jit-special.ts). A value Region, made on first use and kept, costs a
 * lookup three dependent cache misses (its slot, the Region, its DataView) on top of the trie walk: at a million
 * prefixes, lookups chasing values through random prefixes took ~1.3 us against the kernel's ~1.1.
 */
import { BPF_F_NO_PREALLOC, type MapDef } from "../../compiler/abi/maps.ts";
import { Region, RegionKind } from "../vm/region.ts";
import { elementBytes } from "../../compiler/abi/map-limits.ts";
import { CHUNK, CHUNK_BITS, PrefixTrie, recordAt } from "./lpm-trie.ts";
import { type AfterRun, BPF_EXIST, BPF_NOEXIST, MapError, type MapMemory, type RunHooks, type VmMap, badFlags, copyBytes, err, newHandle } from "./map.ts";

/** An LPM trie map. */
export class LpmTrieMap implements VmMap, AfterRun {
  readonly handle: Region;
  readonly holdsSockets = false;
  /** Bits of data (max prefix length). */
  readonly maxPrefix: number;
  /**
   * Entry id → its record: its key (as last given, prefix length included), its value, then the trie's u32 link,
   * `stride` bytes in chunk id / CHUNK. One record per entry, so that the lookup's final key check and the program's
   * value read share a cache line (at a million prefixes most lookups miss the caches).
   */
  private readonly records: Uint8Array[] = [];
  /** Bytes of one record (key, value, link): entry id's value starts at (id % CHUNK) * stride + keySize of its chunk. */
  readonly stride: number;
  /**
   * Chunk id / CHUNK → a MapValue Region over that whole chunk of records, for JIT code that has proven its accesses
   * within one value's bytes (jit-facts.ts: the `slab` map value facts). Never registered in a RegionTable: no
   * pointer's words name it, so nothing reaches it through the generic, bounds-checked paths.
   */
  readonly slabs: Region[] = [];
  /**
   * Entry id → the Region of its value, once made, in arrays of CHUNK made with the chunk's first Region (a map that
   * programs never reach holds none: 8 MB at a million prefixes). Id 0 is "none".
   */
  private readonly regions: ((Region | undefined)[] | undefined)[] = [];
  /** The next id never used. */
  private nextId = 1;
  /** Ids of deleted entries whose value no Region points into (reusable). */
  private readonly free: number[] = [];
  /**
   * Ids a running program deleted or replaced by an update: a pointer of that run without a Region (see slabs) may
   * still read their values, as in the kernel, which frees after a grace period. They join `free` when the run is over
   * (runOver).
   */
  private readonly pending: number[] = [];
  /** How many of `pending` are the current run's (a count, not the length: see runOver). */
  private pendingCount = 0;
  private readonly trie: PrefixTrie;
  /** A key padded to keySize, for user-space calls with a shorter key (reused). */
  private readonly padded: Uint8Array;
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
    this.padded = new Uint8Array(def.keySize);
    this.stride = def.keySize + def.valueSize + 4;
    this.trie = new PrefixTrie(this.records, this.stride, def.keySize + def.valueSize, dataSize, memory);
    this.handle = newHandle(def, this);
  }
  /** `key` as at least keySize bytes (missing trailing bytes read as zero, as the kernel copies keySize bytes). */
  private full(key: Uint8Array): Uint8Array {
    if (key.length >= this.def.keySize) return key;
    this.padded.fill(0);
    this.padded.set(key);
    return this.padded;
  }
  private prefixLen(key: Uint8Array): number {
    return (key[0]! | (key[1]! << 8) | (key[2]! << 16) | (key[3]! << 24)) >>> 0;
  }
  /** The key bytes of entry `id` (a view into its chunk). */
  keyOf(id: number): Uint8Array {
    const at = recordAt(id, this.stride);
    return this.records[id >> CHUNK_BITS]!.subarray(at, at + this.def.keySize);
  }
  /** The value bytes of entry `id` (a view into its chunk). */
  private valueOf(id: number): Uint8Array {
    const at = recordAt(id, this.stride) + this.def.keySize;
    return this.records[id >> CHUNK_BITS]!.subarray(at, at + this.def.valueSize);
  }
  /** Writes entry `id`'s key (without a view of the record: see copyBytes). */
  private writeKey(id: number, key: Uint8Array): void {
    copyBytes(key, 0, this.records[id >> CHUNK_BITS]!, recordAt(id, this.stride), this.def.keySize);
  }
  /** Writes entry `id`'s value (zero-padded, like a fresh kernel element). */
  private writeValue(id: number, value: Uint8Array): void {
    const size = this.def.valueSize;
    const at = recordAt(id, this.stride) + this.def.keySize;
    const chunk = this.records[id >> CHUNK_BITS]!;
    if (value.length < size) chunk.fill(0, at, at + size);
    copyBytes(value, 0, chunk, at, size);
  }
  /** The value Region of entry `id`, made on first use (a view into the value chunk). */
  regionOf(id: number): Region {
    // Filled element by element, so that V8 keeps the array packed (new Array(n) makes a holey one, slower to read).
    const chunk = (this.regions[id >> CHUNK_BITS] ??= Array.from({ length: CHUNK }, () => undefined));
    let r = chunk[id & (CHUNK - 1)];
    if (r === undefined) {
      r = new Region(RegionKind.MapValue, this.valueOf(id), `value of ${this.def.name}{/${this.trie.lenOf(id)}}`, this);
      chunk[id & (CHUNK - 1)] = r;
    }
    return r;
  }
  /** The entry id of the longest stored prefix matching the key at `buf[off..]` (the lookup), or 0 for none. */
  findId(buf: Uint8Array, off: number): number {
    const limit = (buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16) | (buf[off + 3]! << 24)) >>> 0;
    // A key longer than the trie's data matches nothing (trie_lookup_elem, since "bpf, lpm: Fix check prefixlen
    // before walking trie", 2024, in the stable releases too; test/vm/lpm-kernel.test.ts checks the running kernel).
    if (limit > this.maxPrefix) return 0;
    return this.trie.find(buf, off + 4, limit);
  }
  lookupAt(buf: Uint8Array, off: number): Region | null {
    const id = this.findId(buf, off);
    if (id === 0) return null;
    const chunk = this.regions[id >> CHUNK_BITS];
    if (chunk !== undefined) {
      const r = chunk[id & (CHUNK - 1)];
      if (r !== undefined) return r;
    }
    return this.regionOf(id);
  }
  lookup(key: Uint8Array): Region | null {
    return this.lookupAt(this.full(key), 0);
  }
  /** A fresh entry id with room in the chunks. */
  private allocate(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    const id = this.nextId++;
    if (id >> CHUNK_BITS >= this.records.length) {
      const chunk = new Uint8Array(CHUNK * this.stride);
      this.records.push(chunk);
      this.slabs.push(new Region(RegionKind.MapValue, chunk, `records ${this.records.length - 1} of ${this.def.name}`, this));
    }
    return id;
  }
  update(key: Uint8Array, value: Uint8Array, flags: number, run?: RunHooks): number {
    if (badFlags(flags)) return err("EINVAL");
    key = this.full(key);
    const len = this.prefixLen(key);
    if (len > this.maxPrefix) return err("EINVAL");
    const old = this.trie.locate(key, 4, len);
    if (old !== 0 && flags === BPF_NOEXIST) return err("EEXIST");
    if (old === 0 && flags === BPF_EXIST) return err("ENOENT");
    if (old !== 0 && run === undefined) {
      // The kernel replaces the node: its key takes the new bytes (bits past the prefix included, which
      // get_next_key returns), its value the new value. From user space, writing over the old record is the same.
      this.writeKey(old, key);
      this.writeValue(old, value);
      return 0;
    }
    if (old !== 0) {
      // A running program may hold the old node's value: trie_update_elem links a new node in and frees the old one
      // after a grace period (kfree_rcu, bpf_mem_cache_free_rcu since 6.13), so the run's pointers keep reading the
      // old bytes. The new entry takes the old one's place in the trie; the old id is freed as a delete frees it.
      this.trie.remove();
      if (!this.trie.reserve(key, 4, len)) {
        // Not expected (the removal gave back the nodes the insert needs); the entry stays as it was.
        this.trie.insert(old, len);
        return err("ENOMEM");
      }
      this.place(key, value, len);
      this.retire(old, run);
      return 0;
    }
    if (this.count >= this.def.maxEntries) return err("ENOSPC");
    if (this.memory && !this.memory.charge(elementBytes(this.def))) return err("ENOMEM");
    if (!this.trie.reserve(key, 4, len)) {
      this.memory?.release(elementBytes(this.def));
      return err("ENOMEM");
    }
    this.place(key, value, len);
    this.count++;
    return 0;
  }
  /** Stores `key` → `value` in a fresh record and links it into the trie (nodes `reserve`d). */
  private place(key: Uint8Array, value: Uint8Array, len: number): void {
    const id = this.allocate();
    this.writeKey(id, key);
    this.writeValue(id, value);
    this.trie.insert(id, len);
  }
  delete(key: Uint8Array, run?: RunHooks): number {
    key = this.full(key);
    const len = this.prefixLen(key);
    if (len > this.maxPrefix) return err("EINVAL");
    const id = this.trie.locate(key, 4, len);
    if (id === 0) return err("ENOENT");
    this.trie.remove();
    this.count--;
    this.memory?.release(elementBytes(this.def));
    this.retire(id, run);
    return 0;
  }
  /** Entry `id` is out of the trie: its record becomes reusable when nothing can read it any more. */
  private retire(id: number, run: RunHooks | undefined): void {
    // A value a program or user space still holds (its Region) keeps its bytes, as the kernel frees after a grace
    // period: such an id is never reused.
    const chunk = this.regions[id >> CHUNK_BITS];
    if (chunk?.[id & (CHUNK - 1)] !== undefined) chunk[id & (CHUNK - 1)] = undefined;
    else if (run === undefined) this.free.push(id);
    else {
      if (this.pendingCount === 0) run.afterRun(this);
      const n = this.pendingCount++;
      if (n === this.pending.length) this.pending.push(id);
      else this.pending[n] = id;
    }
  }
  /** The run that deleted the `pending` ids is over: they may be reused. */
  runOver(): void {
    // Never shortened: storing an array's length cost ~10% of a run that updates a prefix (measured).
    for (let i = 0; i < this.pendingCount; i++) this.free.push(this.pending[i]!);
    this.pendingCount = 0;
  }
  /** Every entry in the kernel's get_next_key order (see PrefixTrie.forEach). */
  entries(): Array<[Uint8Array, Region]> {
    const out: Array<[Uint8Array, Region]> = [];
    this.trie.forEach((id) => out.push([this.keyOf(id).slice(), this.regionOf(id)]));
    return out;
  }
  /** Number of prefixes stored. */
  get size(): number {
    return this.count;
  }
}
