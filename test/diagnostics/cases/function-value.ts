import { type SkLookup, type Verdict, SK_PASS, SK_DROP, SockMap, ArrayMap, HashMap, ip4, ip6, cidr4, cidr6, trace, type u32, type u64 } from "tsbpf";
function isWeb(port: u32): boolean {
  return port === 80;
}
const check = isWeb;
export function p(ctx: SkLookup): Verdict {
  return SK_PASS;
}
