/**
 * Redirect one port to a socket: TCP or UDP connections to local port 7007 go to the socket user space put in
 * `sockets[0]`, whatever address they were sent to. Everything else continues through the normal lookup.
 */
import { type SkLookup, type Verdict, SK_PASS, SK_DROP, SockMap } from "tsbpf";

/** Slot 0 holds the listening (TCP) or bound (UDP) socket that serves port 7007. */
export const sockets = new SockMap({ maxEntries: 32 });

/** Program `redir_port`: port 7007 → `sockets[0]`. */
export function redir_port(ctx: SkLookup): Verdict {
  if (ctx.localPort !== 7007) return SK_PASS;
  const sk = sockets.lookup(0);
  if (sk === null) return SK_PASS; // nothing registered yet: let the normal lookup run
  // The socket reference taken by lookup() is released by the compiler on every path.
  return ctx.assign(sk) === 0 ? SK_PASS : SK_DROP;
}
