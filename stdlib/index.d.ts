/**
 * tsbpf — the DSL for Linux BPF `sk_lookup` programs, as TypeScript declarations.
 *
 * A program file imports from `"tsbpf"`, exports one function per program (one `SkLookup` parameter, returning a
 * `Verdict`) and one `const` per map (`new SockMap(...)`, `new HashMap(...)`, ...). The object carries the license
 * `GPL` unless the file exports `const LICENSE = "..."` (for example `"Dual BSD/GPL"`); `trace` needs a GPL-compatible
 * license.
 *
 * Everything here is evaluated by the compiler: calling the map methods from plain JavaScript throws.
 */

// ---------------------------------------------------------------------------------------------------------------
// Integer types

/** Unsigned 8-bit integer (wraps at 2^8). */
export type u8 = number;
/** Unsigned 16-bit integer (wraps at 2^16). */
export type u16 = number;
/** Unsigned 32-bit integer (wraps at 2^32). */
export type u32 = number;
/** Unsigned 64-bit integer, a `bigint` (wraps at 2^64). */
export type u64 = bigint;
/** Signed 8-bit integer (two's complement, wraps as in C). */
export type i8 = number;
/** Signed 16-bit integer (two's complement, wraps as in C). */
export type i16 = number;
/** Signed 32-bit integer (two's complement, wraps as in C). A plain `number` has no width: it is 64-bit, so it holds every u32 and i32 value. */
export type i32 = number;
/** Signed 64-bit integer, a `bigint`. */
export type i64 = bigint;

// ---------------------------------------------------------------------------------------------------------------
// Verdicts and constants

/** `SK_PASS`: let the kernel continue (with the socket selected by `ctx.assign`, if any). Value 1. */
export declare const SK_PASS: 1;
/** `SK_DROP`: refuse the connection / drop the datagram (unless another program selected a socket). Value 0. */
export declare const SK_DROP: 0;
/** What an sk_lookup program returns: `SK_PASS` (1) or `SK_DROP` (0). */
export type Verdict = typeof SK_PASS | typeof SK_DROP;

/** Address family IPv4 (`AF_INET`, 2). */
export declare const AF_INET: 2;
/** Address family IPv6 (`AF_INET6`, 10). */
export declare const AF_INET6: 10;
/** Protocol TCP (`IPPROTO_TCP`, 6). */
export declare const IPPROTO_TCP: 6;
/** Protocol UDP (`IPPROTO_UDP`, 17). */
export declare const IPPROTO_UDP: 17;
/** Socket type stream (`SOCK_STREAM`, 1), as read from `Sock.type`. */
export declare const SOCK_STREAM: 1;
/** Socket type datagram (`SOCK_DGRAM`, 2), as read from `Sock.type`. */
export declare const SOCK_DGRAM: 2;
/** TCP state LISTEN (10), as read from `Sock.state`. */
export declare const TCP_LISTEN: 10;
/** TCP state ESTABLISHED (1); a connected UDP socket also reports it. */
export declare const TCP_ESTABLISHED: 1;
/** TCP state CLOSE (7); an unconnected UDP socket reports it. */
export declare const TCP_CLOSE: 7;

/** `ctx.assign` flag `BPF_SK_LOOKUP_F_REPLACE` (1): override a socket selected by an earlier program. */
export declare const ASSIGN_REPLACE: 1;
/** `ctx.assign` flag `BPF_SK_LOOKUP_F_NO_REUSEPORT` (2): skip the reuseport group of the selected socket. */
export declare const ASSIGN_NO_REUSEPORT: 2;

/** Map update flag `BPF_ANY` (0): create or replace. */
export declare const BPF_ANY: 0;
/** Map update flag `BPF_NOEXIST` (1): create only; `-EEXIST` if the key exists. */
export declare const BPF_NOEXIST: 1;
/** Map update flag `BPF_EXIST` (2): replace only; `-ENOENT` if the key is missing. */
export declare const BPF_EXIST: 2;

// ---------------------------------------------------------------------------------------------------------------
// Addresses

declare const ip6Brand: unique symbol;
declare const cidrBrand: unique symbol;

/**
 * An IPv6 address: 16 bytes in network order (the kernel's `__u32[4]`). Build constants with `ip6("fd00::1")`;
 * compare with `.equals()`; test prefixes with `cidr6(...).has()`.
 */
export interface Ip6 {
  /** Brand: an `Ip6` is opaque, not a number or a string. */
  readonly [ip6Brand]: true;
  /** True when both addresses are the same 16 bytes. */
  equals(other: Ip6): boolean;
}

/** An IPv4 prefix such as `cidr4("192.0.2.0/24")`, evaluated at compile time. */
export interface Cidr4 {
  /** Brand: a `Cidr4` exists only at compile time. */
  readonly [cidrBrand]: "v4";
  /** True when the host-order IPv4 address `addr` lies in the prefix (e.g. `cidr4("10.0.0.0/8").has(ctx.localIp4)`). */
  has(addr: u32): boolean;
}

/** An IPv6 prefix such as `cidr6("fd00::/64")`, evaluated at compile time. */
export interface Cidr6 {
  /** Brand: a `Cidr6` exists only at compile time. */
  readonly [cidrBrand]: "v6";
  /** True when `addr` lies in the prefix. */
  has(addr: Ip6): boolean;
}

/** The IPv4 address in dotted-quad form as a host-order `u32`: `ip4("127.0.0.1") === 0x7f000001`. Compile-time only. */
export declare function ip4(address: string): u32;
/** The IPv6 address (any RFC 4291 text form, e.g. `"fd00::1"`, `"::ffff:1.2.3.4"`). Compile-time only. */
export declare function ip6(address: string): Ip6;
/** The IPv4 prefix `"a.b.c.d/len"` (host bits must be zero). Compile-time only. */
export declare function cidr4(prefix: string): Cidr4;
/** The IPv6 prefix `"addr/len"` (host bits must be zero). Compile-time only. */
export declare function cidr6(prefix: string): Cidr6;

// ---------------------------------------------------------------------------------------------------------------
// The context and sockets

/**
 * A socket (the kernel's `struct bpf_sock`), from `ctx.sk` or a `SockMap`/`SockHash` lookup. Read-only.
 * A socket from a map lookup is a reference that the compiler releases on every path.
 */
export interface Sock {
  /** `AF_INET` or `AF_INET6`. */
  readonly family: u32;
  /** `SOCK_STREAM` or `SOCK_DGRAM`. */
  readonly type: u32;
  /** `IPPROTO_TCP` or `IPPROTO_UDP`. */
  readonly protocol: u32;
  /** TCP state (`TCP_LISTEN` for a listener; UDP: `TCP_CLOSE` unconnected, `TCP_ESTABLISHED` connected). */
  readonly state: u32;
  /** The socket's bound local port, host order. */
  readonly srcPort: u16;
  /** The interface the socket is bound to (0 for none). */
  readonly boundDevIf: u32;
  /** `SO_MARK`. */
  readonly mark: u32;
  /** `SO_PRIORITY`. */
  readonly priority: u32;
}

/**
 * The sk_lookup context (the kernel's `struct bpf_sk_lookup`), read-only. Ports and IPv4 addresses read in host
 * order; the compiler handles the kernel's byte orders.
 */
export interface SkLookup {
  /** `AF_INET` (2) or `AF_INET6` (10). */
  readonly family: u32;
  /** `IPPROTO_TCP` (6) or `IPPROTO_UDP` (17). */
  readonly protocol: u32;
  /** The peer's IPv4 address (host order; 0 in an IPv6 lookup). */
  readonly remoteIp4: u32;
  /** The local (destination) IPv4 address (host order; 0 in an IPv6 lookup). */
  readonly localIp4: u32;
  /** The peer's IPv6 address (all zero in an IPv4 lookup). */
  readonly remoteIp6: Ip6;
  /** The local (destination) IPv6 address (all zero in an IPv4 lookup). */
  readonly localIp6: Ip6;
  /** The peer's port, host order. */
  readonly remotePort: u16;
  /** The local (destination) port, host order. */
  readonly localPort: u16;
  /** The ingress interface index. Linux 5.17+: on an older `--target-kernel` (the default is 5.10) reading it is TSBPF3003. */
  readonly ingressIfindex: u32;
  /** The socket selected so far (by an earlier program, or by `assign`), or null. Not a reference. */
  readonly sk: Sock | null;
  /**
   * `bpf_sk_assign`: select `sk` (or clear the selection with null and `ASSIGN_REPLACE`). Returns 0, or a negative
   * errno: -EEXIST (17), -EPROTOTYPE (91), -EAFNOSUPPORT (97), -ESOCKTNOSUPPORT (94), -EINVAL (22).
   */
  assign(sk: Sock | null, flags?: u32): i32;
}

// ---------------------------------------------------------------------------------------------------------------
// Maps

/** Options every map takes. */
export interface MapOptions {
  /** `max_entries`: a compile-time constant. */
  maxEntries: number;
  /** `"byName"` pins the map by name under the loader's pin path (libbpf `LIBBPF_PIN_BY_NAME`). */
  pin?: "byName";
}

/** `BPF_MAP_TYPE_ARRAY` with `u32` keys `0..maxEntries-1` and values `V` (an integer type or a struct). */
export declare class ArrayMap<V> {
  /** Declares the map; only valid as the initializer of an exported module-level `const`. */
  constructor(options: MapOptions);
  /** The value at `index` (a live view for struct values), or null when `index` is out of range. */
  lookup(index: u32): V | null;
  /** Stores `value` at `index`; 0 or a negative errno. */
  update(index: u32, value: V, flags?: u64 | number): i32;
  /** Atomically adds `by` (default 1) to the integer value at `index`. */
  increment<T extends number | bigint>(this: ArrayMap<T>, index: u32, by?: T): void;
}

/** `BPF_MAP_TYPE_HASH` from keys `K` (an integer type or a struct) to values `V`. */
export declare class HashMap<K, V> {
  /** Declares the map; only valid as the initializer of an exported module-level `const`. */
  constructor(options: MapOptions);
  /** The value for `key` (a live view for struct values), or null. */
  lookup(key: K): V | null;
  /** Inserts or replaces; 0 or a negative errno. `flags`: `BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST`. */
  update(key: K, value: V, flags?: u64 | number): i32;
  /** Removes `key`; 0 or -ENOENT. */
  delete(key: K): i32;
  /** Atomically adds `by` (default 1) to the integer value for `key`, inserting `by` when the key is missing. */
  increment<T extends number | bigint>(this: HashMap<K, T>, key: K, by?: T): void;
}

/**
 * `BPF_MAP_TYPE_LPM_TRIE` for longest-prefix match. `K` is an interface whose first field is `prefixLen: u32`; the
 * other fields are the matched data, stored in network byte order (prefixes count from the most significant bit of the
 * first data field). Example key: `{ prefixLen: u32; protocol: u16; port: u16; addr: u32 }`.
 */
export declare class LpmTrie<K extends { prefixLen: u32 }, V> {
  /** Declares the map; only valid as the initializer of an exported module-level `const`. */
  constructor(options: MapOptions);
  /** The value of the longest prefix matching `key` (with `key.prefixLen` the number of significant bits), or null. */
  lookup(key: K): V | null;
  /** Inserts or replaces the prefix `key`; 0 or a negative errno. */
  update(key: K, value: V, flags?: u64 | number): i32;
  /** Removes the exact prefix `key`; 0 or -ENOENT. */
  delete(key: K): i32;
}

/** `BPF_MAP_TYPE_SOCKMAP`: sockets by `u32` index, filled from user space. */
export declare class SockMap {
  /** Declares the map; only valid as the initializer of an exported module-level `const`. */
  constructor(options: MapOptions);
  /** The socket at `index`, or null. The reference is released automatically. */
  lookup(index: u32): Sock | null;
  /** Stores `sk` at `index`; 0 or a negative errno. */
  update(index: u32, sk: Sock, flags?: u64 | number): i32;
  /** Empties slot `index`; 0 or a negative errno. */
  delete(index: u32): i32;
}

/** `BPF_MAP_TYPE_SOCKHASH`: sockets by key `K`, filled from user space. */
export declare class SockHash<K> {
  /** Declares the map; only valid as the initializer of an exported module-level `const`. */
  constructor(options: MapOptions);
  /** The socket for `key`, or null. The reference is released automatically. */
  lookup(key: K): Sock | null;
  /** Stores `sk` under `key`; 0 or a negative errno. */
  update(key: K, sk: Sock, flags?: u64 | number): i32;
  /** Removes `key`; 0 or a negative errno. */
  delete(key: K): i32;
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers

/** `bpf_ktime_get_ns`: nanoseconds since boot (monotonic, excluding suspend). */
export declare function ktimeGetNs(): u64;
/** `bpf_get_prandom_u32`: a pseudo-random `u32`. */
export declare function getPrandomU32(): u32;
/**
 * `bpf_trace_printk`: writes to `/sys/kernel/tracing/trace_pipe`. `format` is a string literal with printf
 * conversions (`%d %u %x %llu ...`); at most 3 integer arguments. Needs a GPL-compatible license.
 */
export declare function trace(format: string, ...args: (number | bigint | boolean)[]): void;
