/**
 * The checks BPF_MAP_CREATE makes on key_size, value_size, max_entries and map_flags, per map type, with the
 * kernel's errnos. Shared by `verify` (an object whose maps the kernel would refuse is refused) and the VM loader.
 * Each limit names its source (Linux 6.18; file and function); the boundaries were confirmed on this machine's kernel
 * with bpf(BPF_MAP_CREATE) (test/hardening/map-limits.test.ts re-derives them from the running kernel).
 *
 * Sizes of kernel structures used below (x86-64): struct htab_elem 48 bytes (hash key + value must stay below
 * KMALLOC_MAX_SIZE - 48: measured boundary 4 + 4194251 accepted, 4 + 4194252 refused), struct bucket and struct
 * bpf_shtab_bucket 16, struct lpm_trie_node 24 (two child pointers, prefixlen, flags; LPM values up to 4194024 bytes
 * accepted, 4194025 refused).
 */
import { BPF_F_MMAPABLE, BPF_F_NO_PREALLOC, BPF_F_RDONLY_PROG, MAP_TYPE_NAMES, MapType, type MapDef } from "./maps.ts";

/** KMALLOC_MAX_SIZE on x86-64 with SLUB: 1 << (MAX_PAGE_ORDER + PAGE_SHIFT) = 4 MiB (include/linux/slab.h). */
export const KMALLOC_MAX_SIZE = 4 << 20;
/** MAX_BPF_STACK (include/linux/filter.h): keys of socket hashes must fit the stack. */
export const MAX_BPF_STACK = 512;
/** PCPU_MIN_UNIT_SIZE (include/linux/percpu.h): the largest per-CPU value. */
export const PCPU_MIN_UNIT_SIZE = 32 << 10;
/** sizeof(struct htab_elem) (kernel/bpf/hashtab.c). */
const HTAB_ELEM_SIZE = 48;
/** Largest bucket count: U32_MAX / sizeof(struct bucket) (16), rounded down to a power of two. */
const MAX_BUCKETS = 2 ** 27;
/** LPM_DATA_SIZE_MAX / LPM_KEY_SIZE_MIN / LPM_KEY_SIZE_MAX (kernel/bpf/lpm_trie.c): 4-byte prefixlen + 1..256 data bytes. */
export const LPM_KEY_SIZE_MIN = 5;
export const LPM_KEY_SIZE_MAX = 260;
/** LPM_VAL_SIZE_MAX (kernel/bpf/lpm_trie.c): KMALLOC_MAX_SIZE - LPM_DATA_SIZE_MAX - sizeof(struct lpm_trie_node). */
export const LPM_VAL_SIZE_MAX = KMALLOC_MAX_SIZE - 256 - 24;

/** Access and placement flags every map type takes (BPF_F_NUMA_NODE, BPF_F_RDONLY/WRONLY, _PROG variants). */
const COMMON_FLAGS = 0x4 | 0x8 | 0x10 | BPF_F_RDONLY_PROG | 0x100;
/** BPF_F_NO_COMMON_LRU (LRU hashes only). */
const BPF_F_NO_COMMON_LRU = 0x2;
/** BPF_F_ZERO_SEED (hashes). */
const BPF_F_ZERO_SEED = 0x40;
/** BPF_F_INNER_MAP. */
const BPF_F_INNER_MAP = 0x1000;

/** Why BPF_MAP_CREATE refuses a definition: the errno name and a message naming the limit. */
export interface MapCreateError {
  errno: "EINVAL" | "E2BIG";
  message: string;
}

/** Rounds up to a multiple of 8 (round_up(x, 8)). */
const up8 = (x: number): number => Math.ceil(x / 8) * 8;

/**
 * The errno BPF_MAP_CREATE would fail `def` with, or undefined when the kernel creates it (memory permitting).
 * Types the kernel knows but this table does not model are accepted here.
 */
export function mapCreateError(def: MapDef): MapCreateError | undefined {
  const { keySize: k, valueSize: v, maxEntries: max, flags, type } = def;
  const what = `${MAP_TYPE_NAMES.get(type) ?? `type ${type}`} map ${def.name}`;
  const einval = (why: string): MapCreateError => ({ errno: "EINVAL", message: `${what}: ${why}` });
  const e2big = (why: string): MapCreateError => ({ errno: "E2BIG", message: `${what}: ${why}` });
  for (const [name, x] of [["key_size", k], ["value_size", v], ["max_entries", max], ["map_flags", flags]] as const) {
    if (!Number.isInteger(x) || x < 0 || x > 0xffffffff) return einval(`${name} ${x} is not a 32-bit unsigned integer`);
  }
  // bpf_map_flags_access_ok (include/linux/bpf.h): read-only and write-only at once.
  if ((flags & 0x18) === 0x18 || (flags & 0x180) === 0x180) return einval("map_flags ask for read-only and write-only at once");
  switch (type) {
    case MapType.ARRAY:
    case MapType.PERCPU_ARRAY: {
      // kernel/bpf/arraymap.c array_map_alloc_check.
      const percpu = type === MapType.PERCPU_ARRAY;
      if (max === 0) return einval("max_entries must be at least 1");
      if (k !== 4) return einval(`key_size must be 4 (got ${k})`);
      if (v === 0) return einval("value_size must be at least 1");
      const allowed = COMMON_FLAGS | (percpu ? 0 : BPF_F_MMAPABLE | BPF_F_INNER_MAP);
      if (flags & ~allowed) return einval(`map_flags 0x${flags.toString(16)} are not valid for this type`);
      if (v > 0x7fffffff) return e2big(`value_size ${v} is above INT_MAX`);
      if (percpu && up8(v) > PCPU_MIN_UNIT_SIZE) return e2big(`value_size ${v} is above PCPU_MIN_UNIT_SIZE (${PCPU_MIN_UNIT_SIZE})`);
      return undefined;
    }
    case MapType.HASH:
    case MapType.PERCPU_HASH:
    case MapType.LRU_HASH: {
      // kernel/bpf/hashtab.c htab_map_alloc_check, then htab_map_alloc's bucket count.
      const allowed = COMMON_FLAGS | BPF_F_NO_PREALLOC | BPF_F_ZERO_SEED | (type === MapType.LRU_HASH ? BPF_F_NO_COMMON_LRU : 0);
      if (flags & ~allowed) return einval(`map_flags 0x${flags.toString(16)} are not valid for this type`);
      if (type === MapType.LRU_HASH && flags & BPF_F_NO_PREALLOC) return einval("an LRU hash is always preallocated (BPF_F_NO_PREALLOC)");
      if (max === 0 || k === 0 || v === 0) return einval("max_entries, key_size and value_size must be at least 1");
      if (k + v >= KMALLOC_MAX_SIZE - HTAB_ELEM_SIZE) {
        return e2big(`key_size + value_size = ${k + v} must stay below KMALLOC_MAX_SIZE - sizeof(struct htab_elem) = ${KMALLOC_MAX_SIZE - HTAB_ELEM_SIZE}`);
      }
      if (type === MapType.PERCPU_HASH && up8(v) > PCPU_MIN_UNIT_SIZE) return e2big(`value_size ${v} is above PCPU_MIN_UNIT_SIZE (${PCPU_MIN_UNIT_SIZE})`);
      if (max > MAX_BUCKETS) return e2big(`max_entries ${max} needs more than ${MAX_BUCKETS} hash buckets`);
      return undefined;
    }
    case MapType.LPM_TRIE:
      // kernel/bpf/lpm_trie.c trie_alloc: every violation is EINVAL.
      if (max === 0) return einval("max_entries must be at least 1");
      if (!(flags & BPF_F_NO_PREALLOC)) return einval("needs map_flags BPF_F_NO_PREALLOC");
      if (flags & ~(COMMON_FLAGS | BPF_F_NO_PREALLOC)) return einval(`map_flags 0x${flags.toString(16)} are not valid for this type`);
      if (k < LPM_KEY_SIZE_MIN || k > LPM_KEY_SIZE_MAX) return einval(`key_size must be ${LPM_KEY_SIZE_MIN}..${LPM_KEY_SIZE_MAX} (4-byte prefixlen + 1..256 data bytes), got ${k}`);
      if (v < 1 || v > LPM_VAL_SIZE_MAX) return einval(`value_size must be 1..${LPM_VAL_SIZE_MAX}, got ${v}`);
      return undefined;
    case MapType.SOCKMAP:
    case MapType.SOCKHASH: {
      // net/core/sock_map.c sock_map_alloc / sock_hash_alloc.
      const hash = type === MapType.SOCKHASH;
      if (max === 0) return einval("max_entries must be at least 1");
      if (hash ? k === 0 : k !== 4) return einval(hash ? "key_size must be at least 1" : `key_size must be 4 (got ${k})`);
      if (v !== 4 && v !== 8) return einval(`value_size must be 4 or 8 (got ${v})`);
      if (flags & ~COMMON_FLAGS) return einval(`map_flags 0x${flags.toString(16)} are not valid for this type`);
      if (hash && k > MAX_BPF_STACK) return e2big(`key_size ${k} is above MAX_BPF_STACK (${MAX_BPF_STACK})`);
      if (hash && max > MAX_BUCKETS) return einval(`max_entries ${max} needs more than ${MAX_BUCKETS} hash buckets`);
      return undefined;
    }
    default:
      return undefined;
  }
}

/**
 * Bytes the kernel allocates when it creates `def` (before any update): the whole value array of arrays, every
 * element of a preallocated hash, the slot array of a SOCKMAP, the buckets of hashes. Maps created with
 * BPF_F_NO_PREALLOC (and LPM tries) allocate per element instead: see elementBytes.
 */
export function preallocatedBytes(def: MapDef): number {
  const { keySize: k, valueSize: v, maxEntries: max, flags, type } = def;
  const buckets = 2 ** Math.ceil(Math.log2(Math.max(1, max))) * 16;
  switch (type) {
    case MapType.ARRAY:
    case MapType.PERCPU_ARRAY:
      return max * up8(v);
    case MapType.HASH:
    case MapType.PERCPU_HASH:
    case MapType.LRU_HASH:
      return buckets + (flags & BPF_F_NO_PREALLOC ? 0 : max * (HTAB_ELEM_SIZE + up8(k) + up8(v)));
    case MapType.SOCKMAP:
      return max * 8;
    case MapType.SOCKHASH:
      return buckets;
    default:
      return 0;
  }
}

/** Bytes one element costs when a map allocates per element (BPF_F_NO_PREALLOC hashes, LPM tries, SOCKHASH). */
export function elementBytes(def: MapDef): number {
  return HTAB_ELEM_SIZE + up8(def.keySize) + up8(def.valueSize);
}
