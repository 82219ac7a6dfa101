/**
 * IPv6 variants: one program matches a single address and port, the other a whole /64 on every port. Both read the
 * 16-byte address as four 32-bit words (the kernel accepts no 8-byte loads there) and compare against constants
 * computed at compile time.
 */
import { type SkLookup, type Verdict, SK_PASS, SK_DROP, SockMap, AF_INET6, ip6, cidr6 } from "tsbpf";

/** Index 0: the socket for [fd00::1]:7007; index 1: the socket serving fd00:1::/64 on every port. */
export const sockets = new SockMap({ maxEntries: 2 });

const SERVICE = ip6("fd00::1");
const RANGE = cidr6("fd00:1::/64");

/** Program `redir_ip6`: [fd00::1]:7007 → `sockets[0]`. */
export function redir_ip6(ctx: SkLookup): Verdict {
  if (ctx.family !== AF_INET6 || ctx.localPort !== 7007) return SK_PASS;
  if (!ctx.localIp6.equals(SERVICE)) return SK_PASS;
  const sk = sockets.lookup(0);
  if (sk === null) return SK_PASS;
  return ctx.assign(sk) === 0 ? SK_PASS : SK_DROP;
}

/** Program `redir_ip6_range`: any port of fd00:1::/64 → `sockets[1]`. */
export function redir_ip6_range(ctx: SkLookup): Verdict {
  if (ctx.family !== AF_INET6) return SK_PASS;
  if (!RANGE.has(ctx.localIp6)) return SK_PASS;
  const sk = sockets.lookup(1);
  if (sk === null) return SK_PASS;
  return ctx.assign(sk) === 0 ? SK_PASS : SK_DROP;
}
