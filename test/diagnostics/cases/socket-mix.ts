import { type SkLookup, type Verdict, SK_PASS, SK_DROP, SockMap } from "tsbpf";
export const sockets = new SockMap({ maxEntries: 4 });
export function p(ctx: SkLookup): Verdict {
  let sk = sockets.lookup(0);
  if (sk === null) sk = ctx.sk;
  if (sk === null) return SK_PASS;
  return ctx.assign(sk) === 0 ? SK_PASS : SK_DROP;
}
