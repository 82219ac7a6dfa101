import { type SkLookup, type Verdict, SK_PASS, SK_DROP, SockMap, ArrayMap, HashMap, ip4, ip6, cidr4, cidr6, trace, type u32, type u64 } from "tsbpf";
export function p(ctx: SkLookup): Verdict {
  const field = ctx.protocol === 6 ? 1 : 0;
  const PORTS = [80, 443] as const;
  return PORTS[field] === ctx.localPort ? SK_PASS : SK_DROP;
}
