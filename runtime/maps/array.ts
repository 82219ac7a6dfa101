/** BPF_MAP_TYPE_ARRAY and PERCPU_ARRAY (one CPU): preallocated, zero-filled, u32 index keys, no deletion. */
import type { MapDef } from "../../compiler/abi/maps.ts";
import type { Region } from "../vm/region.ts";
import { BPF_NOEXIST, MapError, type VmMap, badFlags, copyBytes, err, newHandle, newValue } from "./map.ts";

/** An array map. Values exist for every index from creation (zeroed), like the kernel's. */
export class ArrayMap implements VmMap {
  readonly handle: Region;
  readonly holdsSockets = false;
  /** Values by index, created on first use (the JIT reads it directly; everything else goes through lookup/at). */
  readonly values: Region[] = [];
  constructor(readonly def: MapDef) {
    if (def.keySize !== 4) throw new MapError(`array map ${def.name}: key size must be 4 (got ${def.keySize})`);
    if (def.valueSize <= 0) throw new MapError(`array map ${def.name}: value size must be positive`);
    // Larger arrays are bounded by the object's map memory (createMap charges max_entries * value size).
    if (def.maxEntries <= 0) throw new MapError(`array map ${def.name}: max_entries must be positive`);
    this.handle = newHandle(def, this);
  }
  private at(i: number): Region {
    return (this.values[i] ??= newValue(this.def, `[${i}]`, this));
  }
  private index(key: Uint8Array): number {
    return (key[0]! | (key[1]! << 8) | (key[2]! << 16) | (key[3]! << 24)) >>> 0;
  }
  lookup(key: Uint8Array): Region | null {
    return this.lookupAt(key, 0);
  }
  lookupAt(buf: Uint8Array, off: number): Region | null {
    const i = (buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16) | (buf[off + 3]! << 24)) >>> 0;
    return i < this.def.maxEntries ? (this.values[i] ?? this.at(i)) : null;
  }
  update(key: Uint8Array, value: Uint8Array, flags: number): number {
    if (badFlags(flags)) return err("EINVAL");
    const i = this.index(key);
    if (i >= this.def.maxEntries) return err("E2BIG");
    if ((flags & 3) === BPF_NOEXIST) return err("EEXIST");
    copyBytes(value, 0, this.at(i).bytes, 0, this.def.valueSize);
    return 0;
  }
  delete(_key: Uint8Array): number {
    return err("EINVAL");
  }
  entries(): Array<[Uint8Array, Region]> {
    const out: Array<[Uint8Array, Region]> = [];
    for (let i = 0; i < this.def.maxEntries && i < 4096; i++) {
      const k = new Uint8Array(4);
      new DataView(k.buffer).setUint32(0, i, true);
      out.push([k, this.at(i)]);
    }
    return out;
  }
}
