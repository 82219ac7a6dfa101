import { type SkLookup, type Verdict, SK_PASS, SK_DROP } from "tsbpf";
const PORTS = [80, 443, 7007] as const;
export function p(ctx: SkLookup): Verdict {
  for (const port of PORTS) {
    let all = PORTS;
    if (port === ctx.localPort && all.length === 3) return SK_DROP;
  }
  return SK_PASS;
}
