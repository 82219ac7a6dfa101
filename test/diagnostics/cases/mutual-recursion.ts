import { type SkLookup, type Verdict, SK_PASS, SK_DROP, SockMap, ArrayMap, HashMap, ip4, ip6, cidr4, cidr6, trace, type u32, type u64 } from "tsbpf";
function even(n: u32): boolean {
  return n === 0 ? true : odd(n - 1);
}
function odd(n: u32): boolean {
  return n === 0 ? false : even(n - 1);
}
export function p(ctx: SkLookup): Verdict {
  return even(ctx.localPort) ? SK_PASS : SK_DROP;
}
