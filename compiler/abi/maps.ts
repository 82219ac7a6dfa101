/** BPF map types, flags and BTF map-definition conventions (include/uapi/linux/bpf.h). */

/** `enum bpf_map_type` values used by sk_lookup programs. */
export const enum MapType {
  HASH = 1,
  ARRAY = 2,
  PERF_EVENT_ARRAY = 4,
  PERCPU_HASH = 5,
  PERCPU_ARRAY = 6,
  LRU_HASH = 9,
  LPM_TRIE = 11,
  SOCKMAP = 15,
  SOCKHASH = 18,
  RINGBUF = 27,
}

/** Map type names as bpftool prints them. */
export const MAP_TYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [1, "hash"],
  [2, "array"],
  [4, "perf_event_array"],
  [5, "percpu_hash"],
  [6, "percpu_array"],
  [9, "lru_hash"],
  [11, "lpm_trie"],
  [15, "sockmap"],
  [18, "sockhash"],
  [27, "ringbuf"],
]);

/** Update flags of bpf_map_update_elem. */
export const enum UpdateFlag {
  ANY = 0,
  NOEXIST = 1,
  EXIST = 2,
}

/** map_flags: BPF_F_NO_PREALLOC, required by LPM_TRIE. */
export const BPF_F_NO_PREALLOC = 1;
/** map_flags: BPF_F_RDONLY_PROG, programs may only read the map (libbpf sets it on `.rodata` maps). */
export const BPF_F_RDONLY_PROG = 0x80;
/** map_flags: BPF_F_MMAPABLE (libbpf 1.1 sets it on every global-data map). */
export const BPF_F_MMAPABLE = 0x400;
/** `pinning` value of libbpf's LIBBPF_PIN_BY_NAME. */
export const LIBBPF_PIN_BY_NAME = 1;

/** A map definition as carried in `.maps` (BTF-defined) and created by loaders. */
export interface MapDef {
  /** Symbol name in `.maps`, e.g. `sockets`. */
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  /** 0 none, 1 LIBBPF_PIN_BY_NAME. */
  pinning: number;
  /** BTF type ids of key and value in the object's .BTF, when known (0 = none). */
  keyTypeId?: number;
  valueTypeId?: number;
  /**
   * Global-data maps only (libbpf's internal maps: one ARRAY element holding a whole `.rodata*`/`.data*`/`.bss`
   * section; `name` is the section name): the bytes of element 0 when the map is created (zeros for `.bss`).
   */
  initialValue?: Uint8Array;
  /** Global-data maps only: BPF_MAP_FREEZE after filling (`.rodata*`), so user space cannot change it any more. */
  frozen?: boolean;
  /**
   * Global-data maps only: the variables inside the value (the section's ELF object symbols), by offset, each with
   * its BTF type when the object's DATASEC names it. Lets user-side views show `{ calls: 102, runs: 2 }`.
   */
  vars?: GlobalVar[];
}

/** A global variable inside a global-data map's value. */
export interface GlobalVar {
  /** ELF symbol name (`calls`; function-scope statics read `count_globals.____fmt`). */
  name: string;
  offset: number;
  size: number;
  /** BTF type of the variable (the VAR's type), 0 when unknown. */
  typeId: number;
}
