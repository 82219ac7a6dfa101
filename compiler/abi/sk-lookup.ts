/**
 * The sk_lookup context as BPF programs see it: `struct bpf_sk_lookup` (include/uapi/linux/bpf.h), 72 bytes.
 * Offsets and the set of loads the verifier accepts were measured on the target kernel (shared/kernel-facts.md).
 * Compiler, verifier and VM all take the layout from here.
 */

/** Program type BPF_PROG_TYPE_SK_LOOKUP. */
export const PROG_TYPE_SK_LOOKUP = 30;
/** Expected attach type BPF_SK_LOOKUP, required at load time. */
export const ATTACH_TYPE_SK_LOOKUP = 36;
/** Size of struct bpf_sk_lookup. */
export const CTX_SIZE = 72;
/** Verdicts. */
export const SK_DROP = 0;
export const SK_PASS = 1;

/** Byte offsets of the context fields. */
export const enum CtxOff {
  /** union { struct bpf_sock *sk; __u64 cookie; }: 8-byte loads only; gives sock_or_null. */
  sk = 0,
  family = 8,
  protocol = 12,
  /** Network byte order. */
  remote_ip4 = 16,
  /** Four network-order u32 words. */
  remote_ip6 = 20,
  /** __be16, network order; the 2 bytes after it are padding that reads 0. */
  remote_port = 36,
  /** Network byte order. */
  local_ip4 = 40,
  /** Four network-order u32 words. */
  local_ip6 = 44,
  /** Host byte order (u32). */
  local_port = 60,
  ingress_ifindex = 64,
}

/** A context field and the load (offset, size) pairs the kernel verifier accepts inside it. */
export interface CtxField {
  name: string;
  offset: number;
  size: number;
  /** Accepted loads as [offset within the field, size]. */
  loads: ReadonlyArray<readonly [number, 1 | 2 | 4 | 8]>;
}

/** The offset of the 2 padding bytes after remote_port: a 2-byte load there reads 0 from 5.18, the port before (target/versions.ts CTX_LAYOUT_ROW). */
export const REMOTE_PORT_PADDING = 38;

/** The loads accepted in a 4-byte field: bytes at +0..+3, halves at +0 and +2, the word at +0. */
const WORD_LOADS = [[0, 1], [1, 1], [2, 1], [3, 1], [0, 2], [2, 2], [0, 4]] as const;

/** Every field, in offset order, with its legal loads (kernel-facts: "Context loads the verifier accepted"). */
export const CTX_FIELDS: readonly CtxField[] = [
  { name: "sk", offset: 0, size: 8, loads: [[0, 8]] },
  { name: "family", offset: 8, size: 4, loads: WORD_LOADS },
  { name: "protocol", offset: 12, size: 4, loads: WORD_LOADS },
  { name: "remote_ip4", offset: 16, size: 4, loads: WORD_LOADS },
  ...[0, 1, 2, 3].map((i) => ({ name: `remote_ip6[${i}]`, offset: 20 + 4 * i, size: 4, loads: WORD_LOADS })),
  // remote_port: bytes 36 and 37, the half at 36, and a 4-byte load at 36 that returns the zero-extended be16.
  { name: "remote_port", offset: 36, size: 2, loads: [[0, 1], [1, 1], [0, 2], [0, 4]] },
  { name: "padding", offset: 38, size: 2, loads: [[0, 1], [1, 1], [0, 2]] },
  { name: "local_ip4", offset: 40, size: 4, loads: WORD_LOADS },
  ...[0, 1, 2, 3].map((i) => ({ name: `local_ip6[${i}]`, offset: 44 + 4 * i, size: 4, loads: WORD_LOADS })),
  { name: "local_port", offset: 60, size: 4, loads: WORD_LOADS },
  { name: "ingress_ifindex", offset: 64, size: 4, loads: WORD_LOADS },
];

/** The field containing a context load, or undefined when the kernel rejects the (offset, size) pair. */
export function ctxLoadField(offset: number, size: number): CtxField | undefined {
  for (const f of CTX_FIELDS) {
    if (offset < f.offset || offset >= f.offset + f.size) continue;
    return f.loads.some(([o, s]) => f.offset + o === offset && s === size) ? f : undefined;
  }
  return undefined;
}

/**
 * Fields the kernel keeps as u16 internally: a 2-byte load at +2 returns the field's low 16 bits (not 0), a quirk
 * measured on the target kernel. Executors must reproduce it; the compiler never emits such loads.
 */
export const U16_BACKED_FIELDS: ReadonlySet<number> = new Set([CtxOff.family, CtxOff.protocol, CtxOff.local_port]);

/** struct bpf_sock fields readable through ctx->sk after a NULL check (offsets in struct bpf_sock). */
export const enum SockOff {
  bound_dev_if = 0,
  family = 4,
  type = 8,
  protocol = 12,
  mark = 16,
  priority = 20,
  src_ip4 = 24,
  src_ip6 = 28,
  /** Host byte order. */
  src_port = 44,
  /** Network byte order (__be16 in a u32 slot). */
  dst_port = 48,
  dst_ip4 = 52,
  dst_ip6 = 56,
  state = 72,
  rx_queue_mapping = 76,
}
/** sizeof(struct bpf_sock). */
export const SOCK_SIZE = 80;

/** Address families and protocols. */
export const AF_INET = 2;
export const AF_INET6 = 10;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;

/** TCP states (include/net/tcp_states.h); UDP sockets report CLOSE (7) when unconnected, ESTABLISHED (1) when connected. */
export const TCP_STATES = {
  established: 1,
  syn_sent: 2,
  syn_recv: 3,
  fin_wait1: 4,
  fin_wait2: 5,
  time_wait: 6,
  close: 7,
  close_wait: 8,
  last_ack: 9,
  listen: 10,
  closing: 11,
  new_syn_recv: 12,
} as const;

/** Errnos returned (negated) by bpf_sk_assign and map helpers. */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  E2BIG: 7,
  ENOMEM: 12,
  EBUSY: 16,
  EEXIST: 17,
  EINVAL: 22,
  ENOSPC: 28,
  ERANGE: 34,
  EPROTOTYPE: 91,
  ESOCKTNOSUPPORT: 94,
  EOPNOTSUPP: 95,
  EAFNOSUPPORT: 97,
} as const;
