import { type SkLookup, type Verdict, SK_PASS, SK_DROP } from "tsbpf";
export function p(ctx: SkLookup): Verdict {
  return Math.random() < 0.5 ? SK_PASS : SK_DROP;
}
