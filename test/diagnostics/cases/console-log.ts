import { type SkLookup, type Verdict, SK_PASS } from "tsbpf";
export function p(ctx: SkLookup): Verdict {
  console.log("lookup for", ctx.localPort);
  return SK_PASS;
}
