/**
 * Small rule programs of the kinds users write first: a list of redirected ports, a two-condition filter, spreading
 * connections over four sockets, a blocklist with a hit counter, and a longest-prefix walk over a hash map. Each is
 * short in TypeScript; the size benchmark (`npm run bench -- --only=a`) holds their code against clang -O2 on the C
 * twin (bench/c/port-rules.c).
 */
import {
  type SkLookup, type Verdict, SK_PASS, SK_DROP, SockMap, ArrayMap, HashMap, AF_INET, IPPROTO_TCP, type u32,
} from "tsbpf";

/** Index 0: the service socket; 0..3: the spread group (`spread4`); a route's value is an index too. */
export const sockets = new SockMap({ maxEntries: 4 });
/** Refused connections, counted by `block_ports` at index 0. */
export const refused = new ArrayMap<bigint>({ maxEntries: 1 });

/** A route: the host-order address with its low `32 - prefixLen` bits cleared. */
interface RouteKey {
  prefixLen: u32;
  addr: u32;
}
/** route → socket index, matched longest prefix first by `prefix_walk`. */
export const routes = new HashMap<RouteKey, u32>({ maxEntries: 1024 });

/** Program `redir_ports`: these four ports → `sockets[0]`. */
export function redir_ports(ctx: SkLookup): Verdict {
  for (const p of [22, 80, 443, 7007] as const) {
    if (ctx.localPort === p) {
      const sk = sockets.lookup(0);
      if (sk === null) return SK_PASS;
      return ctx.assign(sk) === 0 ? SK_PASS : SK_DROP;
    }
  }
  return SK_PASS;
}

/** Program `tcp4_only`: refuses everything that is not IPv4 TCP; the rest goes on to the normal lookup. */
export function tcp4_only(ctx: SkLookup): Verdict {
  if (ctx.family === AF_INET && ctx.protocol === IPPROTO_TCP) return SK_PASS;
  return SK_DROP;
}

/** Program `spread4`: the remote port picks one of four sockets. */
export function spread4(ctx: SkLookup): Verdict {
  if (ctx.localPort !== 7007) return SK_PASS;
  const sk = sockets.lookup(ctx.remotePort % 4);
  if (sk === null) return SK_PASS;
  return ctx.assign(sk) === 0 ? SK_PASS : SK_DROP;
}

/** Ports nobody may reach on this host. */
const BLOCKED = [23, 25, 110, 135, 139, 445, 1433, 3389] as const;

/** Program `block_ports`: a connection to a blocked port is refused and counted. */
export function block_ports(ctx: SkLookup): Verdict {
  for (const p of BLOCKED) {
    if (ctx.localPort === p) {
      refused.increment(0);
      return SK_DROP;
    }
  }
  return SK_PASS;
}

/** Program `prefix_walk`: the longest route (/32 down to /0) of the local IPv4 address picks the socket. */
export function prefix_walk(ctx: SkLookup): Verdict {
  if (ctx.family !== AF_INET) return SK_PASS;
  let mask: u32 = 0xffffffff;
  for (let i = 0; i <= 32; i++) {
    const index = routes.lookup({ prefixLen: 32 - i, addr: ctx.localIp4 & mask });
    if (index !== null) {
      const sk = sockets.lookup(index);
      if (sk === null) return SK_PASS;
      return ctx.assign(sk) === 0 ? SK_PASS : SK_DROP;
    }
    mask = mask << 1;
  }
  return SK_PASS;
}
