/**
 * An all-ports L7 proxy: every TCP connection to any local address, IPv4 or IPv6, goes to one proxy listener —
 * except SSH (port 22), which keeps reaching sshd through the normal lookup. Hits are counted per family.
 */
import { type SkLookup, type Verdict, SK_PASS, SK_DROP, SockMap, ArrayMap, AF_INET6, IPPROTO_TCP, type u32 } from "tsbpf";

/** The proxy's listener (a dual-stack IPv6 socket accepts both families), at index 0. */
export const proxy = new SockMap({ maxEntries: 1 });

/** Connections handed to the proxy: index 0 counts IPv4, index 1 IPv6. */
export const hits = new ArrayMap<bigint>({ maxEntries: 2 });

/** Ports the proxy must never take. */
const BYPASS = [22] as const;

/** True when `port` must go through the normal lookup. */
function bypassed(port: u32): boolean {
  for (const p of BYPASS) {
    if (port === p) return true;
  }
  return false;
}

/** Program `proxy_all`: all TCP ports except 22 → `proxy[0]`, counted in `hits`. */
export function proxy_all(ctx: SkLookup): Verdict {
  if (ctx.protocol !== IPPROTO_TCP) return SK_PASS;
  if (bypassed(ctx.localPort)) return SK_PASS;
  const sk = proxy.lookup(0);
  if (sk === null) return SK_PASS;
  if (ctx.assign(sk) !== 0) return SK_DROP;
  hits.increment(ctx.family === AF_INET6 ? 1 : 0);
  return SK_PASS;
}
