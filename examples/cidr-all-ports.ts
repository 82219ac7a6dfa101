/**
 * One socket serving every port of a whole IPv4 range: TCP connections to any port of 192.0.2.0/24 are handed to the
 * listener in `sockets[0]` (bound anywhere, e.g. 127.0.0.1:ephemeral). Other traffic is left alone.
 */
import { type SkLookup, type Verdict, SK_PASS, SK_DROP, SockMap, AF_INET, IPPROTO_TCP, cidr4 } from "tsbpf";

/** The serving listener, at index 0. */
export const sockets = new SockMap({ maxEntries: 1 });

/** The range we answer for; evaluated at compile time into a mask and a network-order constant. */
const SERVED = cidr4("192.0.2.0/24");

/** Program `serve_range`: IPv4 TCP to any port of 192.0.2.0/24 → `sockets[0]`. */
export function serve_range(ctx: SkLookup): Verdict {
  if (ctx.family !== AF_INET || ctx.protocol !== IPPROTO_TCP) return SK_PASS;
  if (!SERVED.has(ctx.localIp4)) return SK_PASS;
  const sk = sockets.lookup(0);
  if (sk === null) return SK_PASS;
  return ctx.assign(sk) === 0 ? SK_PASS : SK_DROP;
}
