/**
 * BPF_MAP_TYPE_LPM_TRIE. Keys are `struct bpf_lpm_trie_key`: a host-order u32 prefix length followed by the data,
 * matched from the most significant bit of the first data byte (data in network order, see docs/ARCHITECTURE.md).
 * Entries are kept per prefix length with the data masked to the prefix (for updates, deletes and listing); lookups
 * walk a bit trie built from them (LpmIndex) and find the longest stored prefix, limited by the key's own prefix
 * length (kernel longest_prefix_match uses the minimum).
 */
import { BPF_F_NO_PREALLOC, type MapDef } from "../../compiler/abi/maps.ts";
import type { Region } from "../vm/region.ts";
import { elementBytes } from "../../compiler/abi/map-limits.ts";
import { BPF_EXIST, BPF_NOEXIST, MapError, type MapMemory, type VmMap, err, keyBytes, keyString, newHandle, newValue } from "./map.ts";

/** An LPM trie map. */
export class LpmTrieMap implements VmMap {
  readonly handle: Region;
  readonly holdsSockets = false;
  /** Bits of data (max prefix length). */
  readonly maxPrefix: number;
  private readonly byLen = new Map<number, Map<string, { key: Uint8Array; value: Region }>>();
  private lens: number[] = [];
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
    this.handle = newHandle(def, this);
  }
  private prefixLen(key: Uint8Array): number {
    return (key[0]! | (key[1]! << 8) | (key[2]! << 16) | (key[3]! << 24)) >>> 0;
  }
  /** The data bytes masked to `len` bits, as a map key. */
  private masked(key: Uint8Array, len: number): string {
    return this.maskStr(keyString(key.subarray(4, this.def.keySize)), len);
  }
  /** `full` (the data as a key string) masked to `len` bits: string slicing, so a lookup allocates little. */
  private maskStr(full: string, len: number): string {
    const size = this.def.keySize - 4;
    const whole = len >> 3;
    if (whole >= size) return full;
    const bits = len & 7;
    const head = full.slice(0, whole);
    if (bits === 0) return head + ZEROS.slice(0, size - whole);
    const partial = String.fromCharCode(full.charCodeAt(whole) & (0xff00 >> bits) & 0xff);
    return head + partial + ZEROS.slice(0, size - whole - 1);
  }
  lookupAt(buf: Uint8Array, off: number): Region | null {
    const limit = Math.min((buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16) | (buf[off + 3]! << 24)) >>> 0, this.maxPrefix);
    return (this.index ??= this.buildIndex()).find(buf, off + 4, limit);
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
  /** A bit trie over every stored prefix, built on the first lookup after a delete (inserts extend it in place). */
  private buildIndex(): LpmIndex {
    const index = new LpmIndex();
    for (const len of this.lens) for (const e of this.byLen.get(len)!.values()) index.insert(e.key, 4, len, e.value);
    return index;
  }
  update(key: Uint8Array, value: Uint8Array, flags: number): number {
    if (flags > BPF_EXIST || flags < 0 || !Number.isInteger(flags)) return err("EINVAL");
    const len = this.prefixLen(key);
    if (len > this.maxPrefix) return err("EINVAL");
    const k = this.masked(key, len);
    const bucket = this.byLen.get(len);
    const old = bucket?.get(k);
    if (old && flags === BPF_NOEXIST) return err("EEXIST");
    if (!old && flags === BPF_EXIST) return err("ENOENT");
    if (old) {
      old.value.bytes.set(value.subarray(0, this.def.valueSize));
      return 0;
    }
    if (this.count >= this.def.maxEntries) return err("ENOSPC");
    if (this.memory && !this.memory.charge(elementBytes(this.def))) return err("ENOMEM");
    const v = newValue(this.def, `{/${len}}`, this);
    v.bytes.set(value.subarray(0, this.def.valueSize));
    const stored = key.slice(0, this.def.keySize);
    if (!bucket) {
      this.byLen.set(len, new Map([[k, { key: stored, value: v }]]));
      this.lens = [...this.byLen.keys()].sort((a, b) => b - a);
    } else bucket.set(k, { key: stored, value: v });
    this.index?.insert(stored, 4, len, v);
    this.count++;
    return 0;
  }
  delete(key: Uint8Array): number {
    const len = this.prefixLen(key);
    if (len > this.maxPrefix) return err("EINVAL");
    const bucket = this.byLen.get(len);
    if (!bucket?.delete(this.masked(key, len))) return err("ENOENT");
    this.count--;
    this.memory?.release(elementBytes(this.def));
    this.index = null;
    if (bucket.size === 0) {
      this.byLen.delete(len);
      this.lens = this.lens.filter((l) => l !== len);
    }
    return 0;
  }
  entries(): Array<[Uint8Array, Region]> {
    const out: Array<[Uint8Array, Region]> = [];
    for (const len of this.lens) for (const e of this.byLen.get(len)!.values()) out.push([e.key, e.value]);
    return out;
  }
  /** Number of prefixes stored. */
  get size(): number {
    return this.count;
  }
}
/**
 * The lookup side of the trie: a multibit trie over the data in 4-bit strides (nibbles, most significant first), in
 * flat arrays so that a lookup is a loop over small integers without allocation, and a 64-bit key takes 16 steps
 * rather than 64. Node n's slots are n*16 + nibble. A prefix of L > 0 bits lives in the node reached by its first
 * floor((L-1)/4) nibbles, as q = L - 4*depth bits (1..4) of the next nibble:
 * - `ev`/`el` (controlled prefix expansion): every nibble that starts with those q bits holds the value of the longest
 *   such prefix (el = its q, 0 = none), so a step that consumes a whole nibble reads its best match in one load;
 * - `pv` (exact, heap-indexed by (1 << q) | bits, 32 slots a node): for a key whose limit ends inside a nibble, where
 *   only prefixes of at most that many bits may match (kernel longest_prefix_match takes the minimum length).
 * The /0 prefix is `root`. A lookup keeps the deepest match it sees: the longest matching prefix.
 */
class LpmIndex {
  private root: Region | null = null;
  private readonly kid: number[] = new Array<number>(16).fill(0);
  private readonly ev: (Region | null)[] = new Array<Region | null>(16).fill(null);
  private readonly el: number[] = new Array<number>(16).fill(0);
  private readonly pv: (Region | null)[] = new Array<Region | null>(32).fill(null);
  /** Adds the prefix of `len` bits of the data at `data[at..]` with value `v`. */
  insert(data: Uint8Array, at: number, len: number, v: Region): void {
    if (len === 0) {
      this.root = v;
      return;
    }
    let node = 0;
    let j = 0;
    for (; len - 4 * j > 4; j++) {
      const slot = node * 16 + nibble(data, at, j);
      let next = this.kid[slot]!;
      if (next === 0) {
        // Node 0 is the root, nobody's child: 0 means "no child".
        next = this.kid.length >> 4;
        for (let i = 0; i < 16; i++) {
          this.kid.push(0);
          this.ev.push(null);
          this.el.push(0);
        }
        for (let i = 0; i < 32; i++) this.pv.push(null);
        this.kid[slot] = next;
      }
      node = next;
    }
    const q = len - 4 * j;
    const bits = nibble(data, at, j) >> (4 - q);
    this.pv[node * 32 + ((1 << q) | bits)] = v;
    const first = node * 16 + (bits << (4 - q));
    for (let s = first; s < first + (1 << (4 - q)); s++) {
      if (this.el[s]! <= q) {
        this.ev[s] = v;
        this.el[s] = q;
      }
    }
  }
  /** The value of the longest stored prefix of at most `limit` bits matching the data at `buf[at..]`, or null. */
  find(buf: Uint8Array, at: number, limit: number): Region | null {
    const kid = this.kid;
    const ev = this.ev;
    let best = this.root;
    let node = 0;
    let j = 0;
    for (; limit >= 4; j++, limit -= 4) {
      const byte = buf[at + (j >> 1)]!;
      const slot = node * 16 + ((j & 1) === 0 ? byte >> 4 : byte & 15);
      const v = ev[slot]!;
      if (v !== null) best = v;
      node = kid[slot]!;
      if (node === 0) return best;
    }
    if (limit > 0) {
      const nib = nibble(buf, at, j);
      for (let q = limit; q > 0; q--) {
        const v = this.pv[node * 32 + ((1 << q) | (nib >> (4 - q)))]!;
        if (v !== null) return v;
      }
    }
    return best;
  }
}

/** Nibble `j` (0 = high half of the first byte) of the data at `b[at..]`. */
const nibble = (b: Uint8Array, at: number, j: number): number => ((j & 1) === 0 ? b[at + (j >> 1)]! >> 4 : b[at + (j >> 1)]! & 15);

/** Zero bytes as a key string, for padding masked keys (data is at most 256 bytes). */
const ZEROS = "\0".repeat(256);

/** Re-export for callers that build keys. */
export { keyBytes };
