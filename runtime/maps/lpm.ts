/**
 * BPF_MAP_TYPE_LPM_TRIE. Keys are `struct bpf_lpm_trie_key`: a host-order u32 prefix length followed by the data,
 * matched from the most significant bit of the first data byte (data in network order, see docs/ARCHITECTURE.md).
 * Entries are kept per prefix length with the data masked to the prefix; a lookup tries the stored prefix lengths
 * from the longest down, limited by the key's own prefix length (kernel longest_prefix_match uses the minimum).
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
    return this.lookup(buf.subarray(off, off + this.def.keySize));
  }
  lookup(key: Uint8Array): Region | null {
    const limit = Math.min(this.prefixLen(key), this.maxPrefix);
    const full = keyString(key.subarray(4, this.def.keySize));
    for (const len of this.lens) {
      if (len > limit) continue;
      const hit = this.byLen.get(len)!.get(this.maskStr(full, len));
      if (hit) return hit.value;
    }
    return null;
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
    if (!bucket) {
      this.byLen.set(len, new Map([[k, { key: key.slice(0, this.def.keySize), value: v }]]));
      this.lens = [...this.byLen.keys()].sort((a, b) => b - a);
    } else bucket.set(k, { key: key.slice(0, this.def.keySize), value: v });
    this.count++;
    return 0;
  }
  delete(key: Uint8Array): number {
    const len = this.prefixLen(key);
    if (len > this.maxPrefix) return err("EINVAL");
    const bucket = this.byLen.get(len);
    if (!bucket?.delete(this.masked(key, len))) return err("ENOENT");
    this.count--;
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
/** Zero bytes as a key string, for padding masked keys (data is at most 256 bytes). */
const ZEROS = "\0".repeat(256);

/** Re-export for callers that build keys. */
export { keyBytes };
