import { type SkLookup, type Verdict, SK_PASS, SK_DROP, SockMap, ArrayMap, HashMap, ip4, ip6, cidr4, cidr6, trace, type u32, type u64 } from "tsbpf";
const NET = cidr6("fd00::/129");
export function p(ctx: SkLookup): Verdict {
  return NET.has(ctx.localIp6) ? SK_PASS : SK_DROP;
}
