/** BPF_MAP_TYPE_HASH and LRU_HASH with the kernel's flag checks; LRU evicts the least recently used entry when full. */
import { BPF_F_NO_PREALLOC, MapType, type MapDef } from "../../compiler/abi/maps.ts";
import { elementBytes } from "../../compiler/abi/map-limits.ts";
import type { Region } from "../vm/region.ts";
import { BPF_EXIST, BPF_NOEXIST, MapError, type MapMemory, type VmMap, badFlags, err, keyBytes, keyStringAt, newHandle, newValue } from "./map.ts";

/** A hash map (or LRU hash map when def.type is LRU_HASH). Iteration order is insertion order (recency for LRU). */
export class HashMap implements VmMap {
  readonly handle: Region;
  readonly holdsSockets = false;
  readonly lru: boolean;
  private readonly table = new Map<string, Region>();
  /** Charged per element when the map is not preallocated (BPF_F_NO_PREALLOC). */
  private readonly perElement: MapMemory | null;
  private readonly elementBytes: number;
  constructor(
    readonly def: MapDef,
    memory?: MapMemory,
  ) {
    this.perElement = memory && def.flags & BPF_F_NO_PREALLOC ? memory : null;
    this.elementBytes = elementBytes(def);
    if (def.keySize <= 0 || def.valueSize <= 0) throw new MapError(`hash map ${def.name}: key and value sizes must be positive`);
    if (def.maxEntries <= 0) throw new MapError(`hash map ${def.name}: max_entries must be positive`);
    this.lru = def.type === MapType.LRU_HASH;
    this.handle = newHandle(def, this);
  }
  lookupAt(buf: Uint8Array, off: number): Region | null {
    const k = keyStringAt(buf, off, this.def.keySize);
    const v = this.table.get(k);
    if (!v) return null;
    if (this.lru) {
      // Move to the most-recently-used end.
      this.table.delete(k);
      this.table.set(k, v);
    }
    return v;
  }
  lookup(key: Uint8Array): Region | null {
    // A key shorter than keySize matches nothing (as its shorter key string never did).
    return key.length < this.def.keySize ? null : this.lookupAt(key, 0);
  }
  update(key: Uint8Array, value: Uint8Array, flags: number): number {
    if (badFlags(flags)) return err("EINVAL");
    const k = keyStringAt(key, 0, Math.min(key.length, this.def.keySize));
    const old = this.table.get(k);
    const mode = flags & 3;
    if (old && mode === BPF_NOEXIST) return err("EEXIST");
    if (!old && mode === BPF_EXIST) return err("ENOENT");
    if (old) {
      // In place, so a live view a program holds sees the new value (the kernel swaps elements; observable only racily).
      old.bytes.set(value.subarray(0, this.def.valueSize));
      if (this.lru) {
        this.table.delete(k);
        this.table.set(k, old);
      }
      return 0;
    }
    if (this.table.size >= this.def.maxEntries) {
      if (!this.lru) return err("E2BIG");
      const oldest = this.table.keys().next().value as string;
      this.table.delete(oldest);
    }
    if (this.perElement && !this.perElement.charge(this.elementBytes)) return err("ENOMEM");
    const v = newValue(this.def, `{${Buffer.from(keyBytes(k)).toString("hex")}}`, this);
    v.bytes.set(value.subarray(0, this.def.valueSize));
    this.table.set(k, v);
    return 0;
  }
  delete(key: Uint8Array): number {
    if (!this.table.delete(keyStringAt(key, 0, Math.min(key.length, this.def.keySize)))) return err("ENOENT");
    this.perElement?.release(this.elementBytes);
    return 0;
  }
  entries(): Array<[Uint8Array, Region]> {
    return [...this.table].map(([k, v]) => [keyBytes(k), v]);
  }
  /** Number of entries. */
  get size(): number {
    return this.table.size;
  }
}
