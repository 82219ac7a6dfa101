/**
 * A tubular-style dispatcher. User space binds (protocol, prefix, port) triples to labels, and each label to a
 * socket: `bindings` is an LPM trie from {protocol, port, address prefix} to a label, `destinations` a SOCKHASH from
 * label to socket, and `hits` counts lookups per label. A binding with port 0 serves every port of its prefix; the
 * exact port is tried first.
 */
import {
  type SkLookup, type Verdict, SK_PASS, SK_DROP, LpmTrie, SockHash, ArrayMap, type u16, type u32,
} from "tsbpf";

/** LPM key: the first field is the prefix length; the rest are matched in network byte order, most significant first. */
interface BindingKey {
  prefixLen: u32;
  protocol: u16;
  port: u16;
  addr: u32;
}

/** Number of significant bits before the address: protocol (16) + port (16). */
const PROTO_PORT_BITS = 32;

/** Labels are small integers chosen by user space; 0..MAX_LABELS-1. */
const MAX_LABELS = 64;

/** (protocol, port, prefix) → label. */
export const bindings = new LpmTrie<BindingKey, u32>({ maxEntries: 4096 });
/** label → socket. */
export const destinations = new SockHash<u32>({ maxEntries: MAX_LABELS });
/** label → number of lookups that reached it. */
export const hits = new ArrayMap<bigint>({ maxEntries: MAX_LABELS });

/** Program `dispatch`: find the label for this lookup and hand the connection to its socket. */
export function dispatch(ctx: SkLookup): Verdict {
  // Exact port first, then the "all ports" binding (port 0).
  let label = bindings.lookup({
    prefixLen: PROTO_PORT_BITS + 32, protocol: ctx.protocol, port: ctx.localPort, addr: ctx.localIp4,
  });
  if (label === null) {
    label = bindings.lookup({ prefixLen: PROTO_PORT_BITS + 32, protocol: ctx.protocol, port: 0, addr: ctx.localIp4 });
  }
  if (label === null) return SK_PASS; // not ours
  const id: u32 = label;
  hits.increment(id);
  const sk = destinations.lookup(id);
  if (sk === null) return SK_DROP; // bound but no socket: refuse rather than leak to another service
  return ctx.assign(sk) === 0 ? SK_PASS : SK_DROP;
}
