import { type SkLookup, type Verdict, SK_PASS, SK_DROP, SockMap } from "tsbpf";
export const sockets = new SockMap({ maxEntries: 4 });
export function p(ctx: SkLookup): Verdict {
  // The lookup may be null: the kernel refuses an unchecked map result as bpf_sk_assign's socket.
  return ctx.assign(sockets.lookup(0)) === 0 ? SK_PASS : SK_DROP;
}
