import { type SkLookup, type Verdict, SK_PASS, SK_DROP, type u32 } from "tsbpf";
function apply(x: u32, f?: (v: u32) => u32): u32 {
  return f?.(x) ?? x;
}
export function p(ctx: SkLookup): Verdict {
  return apply(ctx.localPort) === 80 ? SK_DROP : SK_PASS;
}
