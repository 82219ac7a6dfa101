import { type SkLookup, type Verdict, SK_PASS, SK_DROP } from "tsbpf";
const T = [1, 2, 3] as const;
export function p(ctx: SkLookup): Verdict {
  let n = 0;
  for (let i = 0; i < 100; i++) {
    if (T[i] === ctx.localPort) n = 1;
  }
  return n === 1 ? SK_DROP : SK_PASS;
}
