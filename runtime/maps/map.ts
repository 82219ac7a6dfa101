/**
 * The map model shared by the VM, the helpers and the public API. Keys and values are raw bytes laid out as the
 * program sees them; each data value lives in its own Region so that a pointer a program got from a lookup is a live
 * view (writes through it change the map) with exact bounds. Socket maps hold Socket objects.
 * Errnos follow the kernel (kernel/bpf/arraymap.c, hashtab.c, lpm_trie.c, net/core/sock_map.c) and are returned
 * negated, as helpers return them.
 */
import { MAP_TYPE_NAMES, type MapDef } from "../../compiler/abi/maps.ts";
import { Errno } from "../../compiler/abi/sk-lookup.ts";
import { Region, RegionKind } from "../vm/region.ts";
import type { Socket } from "../net/socket.ts";

/** A map definition the VM cannot model or the kernel would refuse (`errno`: the kernel's error, when it has one). */
export class MapError extends Error {
  override name = "MapError";
  constructor(
    message: string,
    readonly errno?: string,
  ) {
    super(message);
  }
}

/**
 * Default memory one loaded object's maps may take (512 MiB). The kernel's own bound is whatever memory its
 * allocator and memory cgroup grant (bpf_map_area_alloc fails with ENOMEM): the VM needs a number, so that a map of
 * 4 GiB fails at load with ENOMEM instead of exhausting the Node process later.
 */
export const DEFAULT_MAP_MEMORY = 512 << 20;

/**
 * The map memory of one loaded object: preallocated maps charge their whole size at creation (as the kernel allocates
 * it then), maps that allocate per element (BPF_F_NO_PREALLOC hashes, LPM tries, SOCKHASH) charge each insert and
 * give it back on delete; an insert over the limit fails with ENOMEM, as the kernel's element allocation would.
 */
export class MapMemory {
  used = 0;
  constructor(readonly limit: number = DEFAULT_MAP_MEMORY) {}
  /** Takes `bytes` if they fit; false otherwise. */
  charge(bytes: number): boolean {
    if (this.used + bytes > this.limit) return false;
    this.used += bytes;
    return true;
  }
  /** Gives back what an element took. */
  release(bytes: number): void {
    this.used -= bytes;
  }
}

/** BPF_ANY: create or update. */
export const BPF_ANY = 0;
/** BPF_NOEXIST: create only (EEXIST if present). */
export const BPF_NOEXIST = 1;
/** BPF_EXIST: update only (ENOENT if absent). */
export const BPF_EXIST = 2;
/** BPF_F_LOCK: accepted by array/hash update flag checks (no spin locks in sk_lookup values, so never meaningful). */
export const BPF_F_LOCK = 4;

/** Work a map defers until the run that needed it is over. */
export interface AfterRun {
  runOver(): void;
}

/** A running program's machine, as a map's update or delete sees it (Machine.afterRun). */
export interface RunHooks {
  afterRun(x: AfterRun): void;
}

/** Common interface of every map type. */
export interface VmMap {
  readonly def: MapDef;
  /** Opaque region whose pointer `lddw rX, map` yields. */
  readonly handle: Region;
  /** True for SOCKMAP/SOCKHASH: values are sockets. */
  readonly holdsSockets: boolean;
  /** BPF-side lookup: the value region (live), the socket, or null. Does not take socket references (the helper does). */
  lookup(key: Uint8Array): Region | Socket | null;
  /** Same as lookup, with the key read at `off` of `buf` (the helper's no-copy path). */
  lookupAt(buf: Uint8Array, off: number): Region | Socket | null;
  /**
   * Update with kernel flags; returns 0 or a negative errno. Data maps take `valueSize` bytes, socket maps a Socket.
   * `run`: as for delete (a replaced value may have to keep its bytes for the run's pointers, or be reused).
   */
  update(key: Uint8Array, value: Uint8Array | Socket, flags: number, run?: RunHooks): number;
  /**
   * Delete; 0 or a negative errno. `run`: the machine whose running program deletes (storage that a pointer of the
   * run may still reach must outlive the run; see LpmTrieMap.pending); undefined from user space.
   */
  delete(key: Uint8Array, run?: RunHooks): number;
  /**
   * All entries, in a stable order: index order for arrays, the kernel's get_next_key order for LPM tries, insertion
   * order otherwise.
   */
  entries(): Array<[Uint8Array, Region | Socket]>;
}

/** Key bytes as a JS Map key (a string of byte values). */
export function keyString(k: Uint8Array): string {
  return keyStringAt(k, 0, k.length);
}

/**
 * keyString of the `len` bytes at `b[off..]`, without a subarray. The common key sizes build a flat string in one
 * call (a loop of `+=` builds a rope that Map#get must flatten first).
 */
export function keyStringAt(b: Uint8Array, off: number, len: number): string {
  const c = String.fromCharCode;
  switch (len) {
    case 4:
      return c(b[off]!, b[off + 1]!, b[off + 2]!, b[off + 3]!);
    case 8:
      return c(b[off]!, b[off + 1]!, b[off + 2]!, b[off + 3]!, b[off + 4]!, b[off + 5]!, b[off + 6]!, b[off + 7]!);
    case 12:
      return c(b[off]!, b[off + 1]!, b[off + 2]!, b[off + 3]!, b[off + 4]!, b[off + 5]!, b[off + 6]!, b[off + 7]!, b[off + 8]!, b[off + 9]!, b[off + 10]!, b[off + 11]!);
  }
  let s = "";
  for (let i = 0; i < len; i++) s += c(b[off + i]!);
  return s;
}
/** `key` as exactly `size` bytes: a shorter key is zero-padded (user-side updates and deletes), a longer one cut. */
export function fullKey(key: Uint8Array, size: number): Uint8Array {
  if (key.length === size) return key;
  if (key.length > size) return key.subarray(0, size);
  const k = new Uint8Array(size);
  k.set(key);
  return k;
}
/**
 * Copies `len` bytes from `src[from..]` to `dst[to..]` by hand: `dst.set(src.subarray(...))` allocates a view per
 * call, which a program that updates a map on every run paid per run. Maps copy at most a value's bytes.
 */
export function copyBytes(src: Uint8Array, from: number, dst: Uint8Array, to: number, len: number): void {
  // A shorter source (a user-space caller's short value) copies what it has, as set() of a shorter subarray did.
  const n = Math.min(len, src.length - from);
  for (let i = 0; i < n; i++) dst[to + i] = src[from + i]!;
}
/** Back from keyString. */
export const keyBytes = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));

/** Allocates a zeroed value region. */
export function newValue(def: MapDef, label: string, owner?: unknown): Region {
  return new Region(RegionKind.MapValue, new Uint8Array(def.valueSize), `value of ${def.name}${label}`, owner);
}

/** Builds a map handle region. */
export function newHandle(def: MapDef, owner: unknown): Region {
  return new Region(RegionKind.Map, new Uint8Array(0), `map ${def.name} (${MAP_TYPE_NAMES.get(def.type) ?? def.type})`, owner);
}

/**
 * The flag rule of array and hash maps: anything above BPF_EXIST is EINVAL. BPF_F_LOCK is EINVAL too, because it is
 * only valid for values holding a bpf_spin_lock, which sk_lookup values never do here.
 */
export function badFlags(flags: number): boolean {
  return flags < 0 || flags > BPF_EXIST || !Number.isInteger(flags);
}

/** -errno helper. */
export const err = (name: keyof typeof Errno): number => -Errno[name];
