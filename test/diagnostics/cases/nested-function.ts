import { type SkLookup, type Verdict, SK_PASS, SK_DROP, SockMap, ArrayMap, HashMap, ip4, ip6, cidr4, cidr6, trace, type u32, type u64 } from "tsbpf";
export function p(ctx: SkLookup): Verdict {
  function inner(): boolean {
    return true;
  }
  return inner() ? SK_PASS : SK_DROP;
}
