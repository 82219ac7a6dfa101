import { type SkLookup, type Verdict, SK_PASS, SK_DROP, SockMap, ArrayMap, HashMap, ip4, ip6, cidr4, cidr6, trace, type u32, type u64 } from "tsbpf";
const NET = cidr4("10.0.0.1/8");
export function p(ctx: SkLookup): Verdict {
  return NET.has(ctx.localIp4) ? SK_PASS : SK_DROP;
}
