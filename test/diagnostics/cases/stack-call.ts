import { type SkLookup, type Verdict, SK_PASS, SK_DROP, HashMap, type u32, type u64 } from "tsbpf";
interface Big { a: [u64, u64, u64, u64, u64, u64, u64, u64, u64, u64, u64, u64, u64, u64, u64, u64] }
export const m = new HashMap<Big, u32>({ maxEntries: 4 });
function mk(x: u64): Big {
  return { a: [x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x] };
}
export function p(ctx: SkLookup): Verdict {
  const a = mk(1n);
  const b = mk(2n);
  const c = mk(3n);
  const d = mk(4n);
  const e = mk(5n);
  return m.lookup(a) !== null && m.lookup(e) !== null ? SK_PASS : SK_DROP;
}
