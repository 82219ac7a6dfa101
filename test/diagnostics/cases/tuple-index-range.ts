import { type SkLookup, type Verdict, SK_PASS, SK_DROP, SockMap, ArrayMap, HashMap, ip4, ip6, cidr4, cidr6, trace, type u32, type u64 } from "tsbpf";
const PORTS = [80, 443] as const;
export function p(ctx: SkLookup): Verdict {
  return ctx.localPort === PORTS[2] ? SK_PASS : SK_DROP;
}
