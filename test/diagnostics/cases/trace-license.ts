import { type SkLookup, type Verdict, SK_PASS, trace } from "tsbpf";
export const LICENSE = "Proprietary";
export function p(ctx: SkLookup): Verdict {
  trace("port %u", ctx.localPort);
  return SK_PASS;
}
