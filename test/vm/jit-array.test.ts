/**
 * Array-map lookups with a proven map and stack key are indexed inline by the JIT (the value array read directly,
 * lookupAt only for a value not created yet). Both tiers must agree on hits, misses past max_entries, first use of
 * an index, and writes through the returned pointer landing in the map.
 */
import { describe, expect, test } from "vitest";
import { AluOp, Helper, JmpOp, Size, alu64, call, exit, jmp64, ldMap, ldx, mov64, reg, st, stx, withLabel, type Instruction } from "../../compiler/asm/index.ts";
import { MapType } from "../../compiler/abi/maps.ts";
import { jitSource } from "../../runtime/vm/jit.ts";
import { TIERS, mapDef, outcome, vmOf } from "./harness.ts";

const arr = mapDef("arr", MapType.ARRAY, 4, 8, 4);

/** arr[key] += 5 (through the value pointer), r0 = the new value, or 99 when the lookup returns NULL. */
const bump = (key: number): Instruction[] => [
  st(Size.W, 10, -4, key),
  mov64(2, reg(10)),
  alu64(AluOp.ADD, 2, -4),
  ldMap(1, "arr"),
  call(Helper.map_lookup_elem),
  jmp64(JmpOp.JEQ, 0, 0, "none"),
  ldx(Size.DW, 1, 0, 0),
  alu64(AluOp.ADD, 1, 5),
  stx(Size.DW, 0, 0, 1),
  ldx(Size.DW, 0, 0, 0),
  exit(),
  withLabel(mov64(0, 99), "none"),
  exit(),
];

describe("JIT inline array lookups", () => {
  test("the inline index path is generated", () => {
    const p = vmOf(bump(1), [arr]).program("prog");
    expect(jitSource(p.prepared)).toContain(".values[i]??");
  });

  for (const key of [0, 3, 4, 0xffffffff]) {
    test(`key ${key >>> 0}: both tiers agree, run after run, and the map sees the writes`, () => {
      for (const tier of TIERS) {
        // A fresh object per tier: the first run creates the value (lookupAt path), later runs find it (inline path).
        const obj = vmOf(bump(key), [arr]);
        const p = obj.program("prog");
        const rs = [1, 2, 3].map(() => outcome(p, tier));
        const hit = key < 4;
        expect(rs.map((r) => (r as { r0: bigint }).r0), tier).toEqual(hit ? [5n, 10n, 15n] : [99n, 99n, 99n]);
        if (hit) expect(Number(obj.map("arr").get(key))).toBe(15);
      }
    });
  }
});
