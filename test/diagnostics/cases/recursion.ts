import { type SkLookup, type Verdict, SK_PASS, SK_DROP, SockMap, ArrayMap, HashMap, ip4, ip6, cidr4, cidr6, trace, type u32, type u64 } from "tsbpf";
function fact(n: u32): u32 {
  return n === 0 ? 1 : n * fact(n - 1);
}
export function p(ctx: SkLookup): Verdict {
  return fact(ctx.localPort) === 0 ? SK_DROP : SK_PASS;
}
