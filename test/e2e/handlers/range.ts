// e2e handler: every TCP port of 127.0.2.0/24 goes to the listener in sockets[0] (compiled by tsbpf).
import { type SkLookup, type Verdict, SK_PASS, SK_DROP, SockMap, AF_INET, IPPROTO_TCP, cidr4 } from "tsbpf";

export const sockets = new SockMap({ maxEntries: 1 });

const RANGE = cidr4("127.0.2.0/24");

export function serve_range(ctx: SkLookup): Verdict {
  if (ctx.family !== AF_INET || ctx.protocol !== IPPROTO_TCP) return SK_PASS;
  if (!RANGE.has(ctx.localIp4)) return SK_PASS;
  const sk = sockets.lookup(0);
  if (sk === null) return SK_PASS;
  return ctx.assign(sk) === 0 ? SK_PASS : SK_DROP;
}
