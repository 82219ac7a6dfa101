/**
 * Test handlers for namespace combination: `take_b` selects `socks[1]` with or without ASSIGN_REPLACE (by port) and
 * traces assign's result; `drop_all` refuses everything on port 9000.
 */
import { type SkLookup, type Verdict, SK_PASS, SK_DROP, SockMap, ASSIGN_REPLACE, trace } from "tsbpf";

/** Slot 1 holds socket B. */
export const socks = new SockMap({ maxEntries: 2 });

/** Port 7007: select B politely (first selection wins); port 7008: select B with ASSIGN_REPLACE. */
export function take_b(ctx: SkLookup): Verdict {
  if (ctx.localPort !== 7007 && ctx.localPort !== 7008) return SK_PASS;
  const sk = socks.lookup(1);
  if (sk === null) return SK_PASS;
  const err = ctx.assign(sk, ctx.localPort === 7008 ? ASSIGN_REPLACE : 0);
  trace("take_b: assign returned %d", err);
  return SK_PASS;
}

/** Port 9000: SK_DROP. */
export function drop_all(ctx: SkLookup): Verdict {
  return ctx.localPort === 9000 ? SK_DROP : SK_PASS;
}
