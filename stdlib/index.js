// Run-time side of `import ... from "tsbpf"`: the declarations live in index.d.ts. Constants and the address helpers
// are real (they compute what the compiler computes at build time); map methods and kernel helpers exist only inside a
// compiled BPF program, so calling them from plain JavaScript throws.

export const SK_PASS = 1;
export const SK_DROP = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const TCP_LISTEN = 10;
export const TCP_ESTABLISHED = 1;
export const TCP_CLOSE = 7;
export const ASSIGN_REPLACE = 1;
export const ASSIGN_NO_REUSEPORT = 2;
export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;

function bpfOnly(what) {
  return () => {
    throw new Error(`${what} is only available inside a compiled BPF program`);
  };
}

/** Parses a dotted quad into a host-order u32; throws on malformed input. */
export function ip4(address) {
  const parts = String(address).split(".");
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)) {
    throw new Error(`malformed IPv4 address '${address}'`);
  }
  return parts.reduce((acc, p) => ((acc << 8) | Number(p)) >>> 0, 0);
}

/** Parses an IPv6 address into 16 bytes (network order); throws on malformed input. */
function parseIp6(address) {
  const bad = () => new Error(`malformed IPv6 address '${address}'`);
  let text = String(address);
  // A trailing dotted quad (::ffff:1.2.3.4) stands for the last two 16-bit groups.
  const v4 = text.match(/^(.*:)(\d+\.\d+\.\d+\.\d+)$/);
  if (v4) {
    const n = ip4(v4[2]);
    text = `${v4[1]}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) throw bad();
  const groups = (s) => (s === "" ? [] : s.split(":"));
  const parse = (g) => {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) throw bad();
    return parseInt(g, 16);
  };
  const head = groups(halves[0]).map(parse);
  const rest = halves.length === 2 ? groups(halves[1]).map(parse) : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) throw bad();
  const words = [...head, ...Array(missing).fill(0), ...rest];
  const bytes = new Uint8Array(16);
  words.forEach((w, i) => {
    bytes[2 * i] = w >> 8;
    bytes[2 * i + 1] = w & 0xff;
  });
  return bytes;
}

class Ip6Value {
  constructor(bytes) {
    this.bytes = bytes;
  }
  equals(other) {
    return other instanceof Ip6Value && this.bytes.every((b, i) => b === other.bytes[i]);
  }
}

/** An IPv6 address value with `equals`. */
export function ip6(address) {
  return new Ip6Value(parseIp6(address));
}

function splitPrefix(prefix, max) {
  const m = String(prefix).match(/^([^/]+)\/(0|[1-9][0-9]{0,2})$/);
  if (!m || Number(m[2]) > max) throw new Error(`malformed prefix '${prefix}'`);
  return [m[1], Number(m[2])];
}

/** An IPv4 prefix with `has(addr)` over host-order u32 addresses. */
export function cidr4(prefix) {
  const [addr, len] = splitPrefix(prefix, 32);
  const net = ip4(addr);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  if ((net & ~mask) >>> 0 !== 0) throw new Error(`prefix '${prefix}' has host bits set`);
  return { has: (a) => ((a & mask) >>> 0) === net };
}

/** An IPv6 prefix with `has(addr)` over `ip6` values. */
export function cidr6(prefix) {
  const [addr, len] = splitPrefix(prefix, 128);
  const net = parseIp6(addr);
  const bit = (bytes, i) => (bytes[i >> 3] >> (7 - (i & 7))) & 1;
  for (let i = len; i < 128; i++) if (bit(net, i)) throw new Error(`prefix '${prefix}' has host bits set`);
  return {
    has: (a) => {
      for (let i = 0; i < len; i++) if (bit(a.bytes, i) !== bit(net, i)) return false;
      return true;
    },
  };
}

class BpfMap {
  constructor(options) {
    this.options = options;
  }
}
for (const m of ["lookup", "update", "delete", "increment"]) {
  BpfMap.prototype[m] = bpfOnly(`map method ${m}()`);
}

/** Declares a BPF_MAP_TYPE_ARRAY (methods work only when compiled). */
export class ArrayMap extends BpfMap {}
/** Declares a BPF_MAP_TYPE_HASH (methods work only when compiled). */
export class HashMap extends BpfMap {}
/** Declares a BPF_MAP_TYPE_LPM_TRIE (methods work only when compiled). */
export class LpmTrie extends BpfMap {}
/** Declares a BPF_MAP_TYPE_SOCKMAP (methods work only when compiled). */
export class SockMap extends BpfMap {}
/** Declares a BPF_MAP_TYPE_SOCKHASH (methods work only when compiled). */
export class SockHash extends BpfMap {}

export const ktimeGetNs = bpfOnly("ktimeGetNs()");
export const getPrandomU32 = bpfOnly("getPrandomU32()");
export const trace = bpfOnly("trace()");
