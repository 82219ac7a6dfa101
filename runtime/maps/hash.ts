/**
 * BPF_MAP_TYPE_HASH, PERCPU_HASH (one CPU) and LRU_HASH with the kernel's flag checks; LRU evicts the least recently
 * used entry when full.
 *
 * A program may hold a value's pointer while it updates or deletes keys: the pointer then reads what the kernel's
 * element holds (kernel/bpf/hashtab.c; the running kernel agrees, test/vm/held-pointer.test.ts). An update of an
 * existing key links a new element in (htab_map_update_elem). A preallocated map takes its CPU's spare element and
 * keeps the old one as the spare (alloc_htab_elem, extra_elems): the next update of an existing key writes over the
 * old bytes. Without preallocation the old element goes back to the CPU's bpf_mem_alloc free list. A deleted element
 * goes to the free list as well (pcpu_freelist or bpf_mem_alloc, last freed first), where the next insert takes it.
 * PERCPU_HASH updates in place (htab_percpu_map_update_elem). LRU_HASH takes a new element from LRU lists that CPUs
 * share, which the VM does not model: an LRU element a run replaced is reused only in a later run (after the run:
 * `retired`), and a deleted one not at all.
 *
 * Only what a running program frees is reused (user-space updates write in place, and user-space deletes drop the
 * element), so a value Region that user space holds changes only as the kernel's element would for a program. The
 * spare and the free list outlive the run, as the kernel's do: a run that updates a counter swaps two Regions instead
 * of making one. At most maxEntries elements are ever held (the table and the free list together; one spare).
 */
import { BPF_F_NO_PREALLOC, MapType, type MapDef } from "../../compiler/abi/maps.ts";
import { elementBytes } from "../../compiler/abi/map-limits.ts";
import { Region, RegionKind, type RegionLabeller } from "../vm/region.ts";
import { KeyTable, NO_SLOT } from "./key-table.ts";
import { type AfterRun, BPF_EXIST, BPF_NOEXIST, MapError, type MapMemory, type RunHooks, type VmMap, badFlags, copyBytes, err, fullKey, newHandle } from "./map.ts";

/** A hash map (or LRU hash map when def.type is LRU_HASH). Iteration order is insertion order (recency for LRU). */
export class HashMap implements VmMap, AfterRun, RegionLabeller {
  readonly handle: Region;
  readonly holdsSockets = false;
  readonly lru: boolean;
  private readonly table: KeyTable<Region>;
  /** Charged per element when the map is not preallocated (BPF_F_NO_PREALLOC). */
  private readonly perElement: MapMemory | null;
  private readonly elementBytes: number;
  /** PERCPU_HASH: an update of an existing key writes into its element. */
  private readonly inPlace: boolean;
  /** Preallocated (not LRU): an update of an existing key swaps its element with `spare`. */
  private readonly swapsSpare: boolean;
  /** The element a program's last update of an existing key replaced (preallocated maps: the kernel's extra element). */
  private spare: Region | null = null;
  /** Elements programs freed, last freed last: the next insert takes the last (the kernel's per-CPU free list). */
  private readonly freed: Region[] = [];
  /** LRU: the last element the current run's updates replaced; the spare once the run is over (runOver). */
  private retired: Region | null = null;
  constructor(
    readonly def: MapDef,
    memory?: MapMemory,
  ) {
    this.perElement = memory && def.flags & BPF_F_NO_PREALLOC ? memory : null;
    this.elementBytes = elementBytes(def);
    if (def.keySize <= 0 || def.valueSize <= 0) throw new MapError(`hash map ${def.name}: key and value sizes must be positive`);
    if (def.maxEntries <= 0) throw new MapError(`hash map ${def.name}: max_entries must be positive`);
    this.lru = def.type === MapType.LRU_HASH;
    this.inPlace = def.type === MapType.PERCPU_HASH;
    this.swapsSpare = !this.lru && (def.flags & BPF_F_NO_PREALLOC) === 0;
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
  update(key: Uint8Array, value: Uint8Array, flags: number, run?: RunHooks): number {
    return this.updateAt(fullKey(key, this.def.keySize), 0, value, 0, flags, run);
  }
  /**
   * update with the key at `kb[ko..]` and the value at `vb[vo..]`, read in place (the JIT passes its stack). Neither
   * may be this map's own memory: the key is read again after the value is written.
   */
  updateAt(kb: Uint8Array, ko: number, vb: Uint8Array, vo: number, flags: number, run?: RunHooks): number {
    if (badFlags(flags)) return err("EINVAL");
    const slot = this.table.find(kb, ko);
    const mode = flags & 3;
    if (slot !== NO_SLOT && mode === BPF_NOEXIST) return err("EEXIST");
    if (slot === NO_SLOT && mode === BPF_EXIST) return err("ENOENT");
    if (slot !== NO_SLOT) {
      if (run === undefined || this.inPlace) {
        // From user space nothing can tell a new element from the old one written over.
        copyBytes(vb, vo, this.table.valueAt(slot).bytes, 0, this.def.valueSize);
      } else {
        const old = this.table.valueAt(slot);
        let fresh: Region | null;
        if (this.swapsSpare) {
          fresh = this.spare;
          this.spare = old;
        } else if (this.lru) {
          fresh = this.spare;
          this.spare = null;
          if (this.retired === null) run.afterRun(this);
          this.retired = old;
        } else {
          fresh = this.freed.pop() ?? null;
          this.freed.push(old);
        }
        // The new element's key is the old one's.
        this.table.setValueAt(slot, this.element(fresh, old.labelBytes!, 0, vb, vo));
      }
      if (this.lru) this.table.touch(slot);
      return 0;
    }
    if (this.table.size >= this.def.maxEntries) {
      if (!this.lru) return err("E2BIG");
      this.table.removeAt(this.table.first);
    }
    if (this.perElement && !this.perElement.charge(this.elementBytes)) return err("ENOMEM");
    const reused = this.freed.pop() ?? null;
    this.table.insert(kb, ko, this.element(reused, kb, ko, vb, vo));
    return 0;
  }
  /**
   * `reused` (an element a program freed), or a new one, for the key at `key[keyOff..]`, holding the value at `vb[vo..]`. The key
   * is copied into the element's labelBytes, from which labelOf makes its label if a fault or a test reads it.
   */
  private element(reused: Region | null, key: Uint8Array, keyOff: number, vb: Uint8Array, vo: number): Region {
    const keySize = this.def.keySize;
    let v: Region;
    if (reused === null) {
      v = new Region(RegionKind.MapValue, new Uint8Array(this.def.valueSize), null, this);
      v.labelBytes = new Uint8Array(keySize);
    } else {
      v = reused;
      v.relabel();
    }
    const kb = v.labelBytes!;
    for (let i = 0; i < keySize; i++) kb[i] = key[keyOff + i]!;
    copyBytes(vb, vo, v.bytes, 0, this.def.valueSize);
    return v;
  }
  /** The fault label of a value of this map (what newValue makes): its key in hex. */
  labelOf(r: Region): string {
    return `value of ${this.def.name}{${Buffer.from(r.labelBytes!).toString("hex")}}`;
  }
  /** The run that retired an LRU element is over: no pointer can read it any more. */
  runOver(): void {
    this.spare = this.retired;
    this.retired = null;
  }
  delete(key: Uint8Array, run?: RunHooks): number {
    return this.deleteAt(fullKey(key, this.def.keySize), 0, run);
  }
  /** delete with the key at `kb[ko..]`, read in place (the JIT passes its stack). */
  deleteAt(kb: Uint8Array, ko: number, run?: RunHooks): number {
    const slot = this.table.find(kb, ko);
    if (slot === NO_SLOT) return err("ENOENT");
    if (run !== undefined && !this.lru) this.freed.push(this.table.valueAt(slot));
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
