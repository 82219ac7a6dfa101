/**
 * The inline ARRAY lookup on a map whose every value is pinned at load (object.ts, at most 64 entries) writes the
 * value's pinned id into the pointer's high word without testing for registration (jit-special.ts allPinned); a
 * larger ARRAY keeps the test. Both tiers return the same pointer words for every key, in range or not.
 */
import { describe, expect, test } from "vitest";
import { AluOp, Size, alu64, exit, ldx, mov64, reg } from "../../compiler/asm/index.ts";
import { MapType } from "../../compiler/abi/maps.ts";
import { CtxOff } from "../../compiler/abi/sk-lookup.ts";
import { jitSource } from "../../runtime/vm/jit.ts";
import { TCP4, TIERS, lookupAt, mapDef, outcome, vmOf } from "./harness.ts";

const small = mapDef("arr", MapType.ARRAY, 4, 4, 8);
const big = mapDef("arr", MapType.ARRAY, 4, 4, 100);
/** r0 = &arr[local_port - 7000] (a key the facts do not know), its high word returned (0 for NULL). */
const prog = [ldx(Size.W, 6, 1, CtxOff.local_port), alu64(AluOp.SUB, 6, 7000), ...lookupAt("arr", { reg: 6 }), alu64(AluOp.RSH, 0, 32), exit()];

describe("JIT: inline ARRAY lookup on a fully pinned map", () => {
  for (const [name, def, pinnedForm] of [["8 entries (pinned)", small, true], ["100 entries (not pinned)", big, false]] as const) {
    test(`${name}: same pointer words on both tiers for keys in and out of range`, () => {
      for (const port of [7000, 7003, 7007, 7008, 7099, 7100, 9000]) {
        const [interp, jit] = TIERS.map((tier) => outcome(vmOf(prog, [def]).program("prog"), tier, { ...TCP4, localPort: port }));
        expect(jit).toEqual(interp);
        expect((interp as { r0: bigint }).r0 !== 0n).toBe(port - 7000 < def.maxEntries);
      }
      const src = jitSource(vmOf(prog, [def]).program("prog").prepared);
      expect(src.includes("v.table===RT?")).toBe(!pinnedForm);
      expect(/b0=-?\d+\|v\.id;/.test(src)).toBe(pinnedForm);
    });
  }
});
