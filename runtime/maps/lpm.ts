/**
 * BPF_MAP_TYPE_LPM_TRIE. Keys are `struct bpf_lpm_trie_key`: a host-order u32 prefix length followed by the data,
 * matched from the most significant bit of the first data byte (data in network order, see docs/ARCHITECTURE.md).
 * Entries are kept per prefix length with the data masked to the prefix (for updates, deletes and listing); lookups
 * walk a bit trie built from them (LpmIndex) and find the longest stored prefix, limited by the key's own prefix
 * length (kernel longest_prefix_match uses the minimum).
 */
import { BPF_F_NO_PREALLOC, type MapDef } from "../../compiler/abi/maps.ts";
import type { Region } from "../vm/region.ts";
import { BPF_EXIST, BPF_NOEXIST, MapError, type VmMap, err, keyBytes, keyString, newHandle, newValue } from "./map.ts";

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
  constructor(readonly def: MapDef) {
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
 * The lookup side of the trie: a binary trie over the data bits (most significant bit of the first data byte first),
 * in parallel arrays so that a lookup is a loop over small integers without allocation. Node 0 is the root (the
 * /0 prefix); a child index of 0 means "no child" (the root is nobody's child). A lookup walks the key's bits up to
 * its limit and keeps the value of the deepest node that has one: the longest matching prefix, as the kernel's
 * longest_prefix_match finds it.
 */
class LpmIndex {
  private readonly c0: number[] = [0];
  private readonly c1: number[] = [0];
  private readonly val: (Region | null)[] = [null];
  /** Adds the prefix of `len` bits of the data at `data[at..]` with value `v`. */
  insert(data: Uint8Array, at: number, len: number, v: Region): void {
    let node = 0;
    for (let i = 0; i < len; i++) {
      const bit = (data[at + (i >> 3)]! >> (7 - (i & 7))) & 1;
      const kids = bit ? this.c1 : this.c0;
      let next = kids[node]!;
      if (next === 0) {
        next = this.val.length;
        this.c0.push(0);
        this.c1.push(0);
        this.val.push(null);
        kids[node] = next;
      }
      node = next;
    }
    this.val[node] = v;
  }
  /** The value of the longest stored prefix of at most `limit` bits matching the data at `buf[at..]`, or null. */
  find(buf: Uint8Array, at: number, limit: number): Region | null {
    const c0 = this.c0;
    const c1 = this.c1;
    const val = this.val;
    let best = val[0]!;
    let node = 0;
    for (let i = 0; i < limit; i++) {
      node = ((buf[at + (i >> 3)]! >> (7 - (i & 7))) & 1) === 1 ? c1[node]! : c0[node]!;
      if (node === 0) break;
      const v = val[node]!;
      if (v !== null) best = v;
    }
    return best;
  }
}

/** Zero bytes as a key string, for padding masked keys (data is at most 256 bytes). */
const ZEROS = "\0".repeat(256);

/** Re-export for callers that build keys. */
export { keyBytes };
