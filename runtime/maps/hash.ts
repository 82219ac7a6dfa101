/** BPF_MAP_TYPE_HASH and LRU_HASH with the kernel's flag checks; LRU evicts the least recently used entry when full. */
import { BPF_F_NO_PREALLOC, MapType, type MapDef } from "../../compiler/abi/maps.ts";
import { elementBytes } from "../../compiler/abi/map-limits.ts";
import type { Region } from "../vm/region.ts";
import { KeyTable, NO_SLOT } from "./key-table.ts";
import { BPF_EXIST, BPF_NOEXIST, MapError, type MapMemory, type VmMap, badFlags, err, fullKey, newHandle, newValue } from "./map.ts";

/** A hash map (or LRU hash map when def.type is LRU_HASH). Iteration order is insertion order (recency for LRU). */
export class HashMap implements VmMap {
  readonly handle: Region;
  readonly holdsSockets = false;
  readonly lru: boolean;
  private readonly table: KeyTable<Region>;
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
    this.table = new KeyTable<Region>(def.keySize);
    this.handle = newHandle(def, this);
  }
  lookupAt(buf: Uint8Array, off: number): Region | null {
    const slot = this.table.find(buf, off);
    if (slot === NO_SLOT) return null;
    // Most recently used moves to the end of the order (LRU evicts from the front).
    if (this.lru) this.table.touch(slot);
    return this.table.valueAt(slot);
  }
  lookup(key: Uint8Array): Region | null {
    // A key shorter than keySize matches nothing.
    return key.length < this.def.keySize ? null : this.lookupAt(key, 0);
  }
  update(key: Uint8Array, value: Uint8Array, flags: number): number {
    if (badFlags(flags)) return err("EINVAL");
    key = fullKey(key, this.def.keySize);
    const slot = this.table.find(key, 0);
    const mode = flags & 3;
    if (slot !== NO_SLOT && mode === BPF_NOEXIST) return err("EEXIST");
    if (slot === NO_SLOT && mode === BPF_EXIST) return err("ENOENT");
    if (slot !== NO_SLOT) {
      // In place, so a live view a program holds sees the new value (the kernel swaps elements; observable only racily).
      this.table.valueAt(slot).bytes.set(value.subarray(0, this.def.valueSize));
      if (this.lru) this.table.touch(slot);
      return 0;
    }
    if (this.table.size >= this.def.maxEntries) {
      if (!this.lru) return err("E2BIG");
      this.table.removeAt(this.table.first);
    }
    if (this.perElement && !this.perElement.charge(this.elementBytes)) return err("ENOMEM");
    const v = newValue(this.def, `{${Buffer.from(key.subarray(0, this.def.keySize)).toString("hex")}}`, this);
    v.bytes.set(value.subarray(0, this.def.valueSize));
    this.table.insert(key, 0, v);
    return 0;
  }
  delete(key: Uint8Array): number {
    const slot = this.table.find(fullKey(key, this.def.keySize), 0);
    if (slot === NO_SLOT) return err("ENOENT");
    this.table.removeAt(slot);
    this.perElement?.release(this.elementBytes);
    return 0;
  }
  entries(): Array<[Uint8Array, Region]> {
    const out: Array<[Uint8Array, Region]> = [];
    for (let s = this.table.first; s !== NO_SLOT; s = this.table.after(s)) out.push([this.table.keyAt(s), this.table.valueAt(s)]);
    return out;
  }
  /** Number of entries. */
  get size(): number {
    return this.table.size;
  }
}
