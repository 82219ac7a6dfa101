/**
 * BPF helper ids (kernel `enum bpf_func_id`, include/uapi/linux/bpf.h) that matter to sk_lookup programs.
 * Ids are ABI: they never change once released.
 */
export const enum Helper {
  map_lookup_elem = 1,
  map_update_elem = 2,
  map_delete_elem = 3,
  ktime_get_ns = 5,
  trace_printk = 6,
  get_prandom_u32 = 7,
  get_smp_processor_id = 8,
  tail_call = 12,
  perf_event_output = 25,
  get_socket_cookie = 46,
  sk_lookup_tcp = 84,
  sk_lookup_udp = 85,
  sk_release = 86,
  map_push_elem = 87,
  map_pop_elem = 88,
  map_peek_elem = 89,
  get_netns_cookie = 122,
  sk_assign = 124,
  ktime_get_boot_ns = 125,
  ringbuf_output = 130,
}

/** Helper names by id, for disassembly and error messages (the kernel's `bpf_<name>` without the prefix). */
export const HELPER_NAMES: ReadonlyMap<number, string> = new Map<number, string>([
  [1, "map_lookup_elem"],
  [2, "map_update_elem"],
  [3, "map_delete_elem"],
  [4, "probe_read"],
  [5, "ktime_get_ns"],
  [6, "trace_printk"],
  [7, "get_prandom_u32"],
  [8, "get_smp_processor_id"],
  [12, "tail_call"],
  [23, "redirect"],
  [25, "perf_event_output"],
  [26, "skb_load_bytes"],
  [46, "get_socket_cookie"],
  [49, "setsockopt"],
  [84, "sk_lookup_tcp"],
  [85, "sk_lookup_udp"],
  [86, "sk_release"],
  [87, "map_push_elem"],
  [88, "map_pop_elem"],
  [89, "map_peek_elem"],
  [122, "get_netns_cookie"],
  [124, "sk_assign"],
  [125, "ktime_get_boot_ns"],
  [130, "ringbuf_output"],
  [131, "ringbuf_reserve"],
  [132, "ringbuf_submit"],
  [133, "ringbuf_discard"],
  [134, "ringbuf_query"],
]);

/** `name#id` as the kernel verifier prints helpers, e.g. `bpf_sk_assign#124`. */
export function helperLabel(id: number): string {
  const name = HELPER_NAMES.get(id);
  return name ? `bpf_${name}#${id}` : `unknown#${id}`;
}

/** Flags of bpf_sk_assign for sk_lookup (include/uapi/linux/bpf.h). */
export const enum SkLookupFlag {
  REPLACE = 1 << 0,
  NO_REUSEPORT = 1 << 1,
}
