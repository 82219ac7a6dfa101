import { type SkLookup, type Verdict, SK_PASS, SK_DROP, SockMap, ArrayMap, HashMap, ip4, ip6, cidr4, cidr6, trace, type u32, type u64 } from "tsbpf";
export function p(ctx: SkLookup): Verdict {
  let sum: u32 = 0;
  for (let i = 0; i < ctx.localPort; i++) sum += i;
  return sum === 7 ? SK_PASS : SK_DROP;
}
