import { type SkLookup, type Verdict, SK_PASS, SK_DROP, SockMap, ArrayMap, HashMap, ip4, ip6, cidr4, cidr6, trace, type u32, type u64 } from "tsbpf";
interface Block64 { words: [u64, u64, u64, u64, u64, u64, u64, u64] }
export const seen = new HashMap<Block64, u32>({ maxEntries: 16 });
export function p(ctx: SkLookup): Verdict {
  for (let i = 0n; i < 9n; i++) {
    const block: Block64 = { words: [0n, 0n, 0n, 0n, 0n, 0n, 0n, i] };
    seen.update(block, 1);
  }
  return SK_PASS;
}
