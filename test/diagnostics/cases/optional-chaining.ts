import { type SkLookup, type Verdict, SK_PASS, SK_DROP } from "tsbpf";
const PORTS = [80, 443] as const;
export function p(ctx: SkLookup): Verdict {
  return PORTS?.[0] === 80 ? SK_DROP : SK_PASS;
}
