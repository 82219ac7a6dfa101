import { type SkLookup, type Verdict, SK_PASS, SK_DROP, SockMap, ArrayMap, HashMap, ip4, ip6, cidr4, cidr6, trace, type u32, type u64 } from "tsbpf";
function id(x: unknown): u32 {
  return 0;
}
export function p(ctx: SkLookup): Verdict {
  return SK_PASS;
}
