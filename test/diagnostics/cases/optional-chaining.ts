import { type SkLookup, type Verdict, SK_PASS, SK_DROP } from "tsbpf";
export function p(ctx: SkLookup): Verdict {
  return ctx.sk?.family === 2 ? SK_DROP : SK_PASS;
}
