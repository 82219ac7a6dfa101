/**
 * The JIT's code shapes and their guards: straight-line code for programs without backward jumps (the dispatch loop
 * otherwise), direct map lookups only where the map and stack key are proven, and the inline memory paths falling
 * back to the checked ones, whose faults carry pc and instruction exactly as the interpreter's do.
 */
import { describe, expect, test } from "vitest";
import { AluOp, AtomicOp, Helper, JmpOp, Size, alu64, atomic, call, exit, jmp64, ldMap, ldx, mov64, reg, st, stx, withLabel, type Instruction } from "../../compiler/asm/index.ts";
import { MapType } from "../../compiler/abi/maps.ts";
import { jitSource } from "../../runtime/vm/jit.ts";
import { TIERS, mapDef, outcome, vmOf } from "./harness.ts";

const arr = mapDef("arr", MapType.ARRAY, 4, 8, 4);
/** r0 = &arr[key] via a stack key at r10-4 (the pattern clang emits), then `rest`. */
const lookup = (key: number, rest: Instruction[], keyInsn: Instruction[] = [mov64(2, reg(10)), alu64(AluOp.ADD, 2, -4)]): Instruction[] => [
  st(Size.W, 10, -4, key),
  ...keyInsn,
  ldMap(1, "arr"),
  call(Helper.map_lookup_elem),
  ...rest,
];

/** Runs on both tiers and checks they agree; returns the JIT's outcome and source. */
function both(insns: Instruction[]) {
  const p = vmOf(insns, [arr]).program("prog");
  const [i, j] = TIERS.map((t) => outcome(p, t));
  expect(j).toEqual(i);
  return { out: j!, src: jitSource(p.prepared) };
}

describe("JIT code shapes", () => {
  test("forward jumps only: straight-line code with labelled breaks", () => {
    const { out, src } = both([mov64(0, 1), jmp64(JmpOp.JEQ, 1, 0, "x"), mov64(0, 0), withLabel(exit(), "x")]);
    expect(out).toEqual({ r0: 0n, n: 4 });
    expect(src).toContain("break L");
    expect(src).not.toContain("for(;;)");
  });

  test("a backward jump keeps the dispatch loop, with the same count as the interpreter", () => {
    const { out, src } = both([mov64(0, 0), withLabel(alu64(AluOp.ADD, 0, 1), "top"), jmp64(JmpOp.JLT, 0, 5, "top"), exit()]);
    expect(out).toEqual({ r0: 5n, n: 12 });
    expect(src).toContain("for(;;)switch(bb)");
  });

  test("a lookup with the map and stack key proven in the block calls the map directly", () => {
    const { out, src } = both(lookup(2, [jmp64(JmpOp.JEQ, 0, 0, "none"), st(Size.DW, 0, 0, 7), ldx(Size.DW, 0, 0, 0), withLabel(exit(), "none")]));
    expect(out).toMatchObject({ r0: 7n });
    expect(src).toContain("K0.lookupAt(SB,508)");
  });

  test("an out-of-range index through the direct lookup returns NULL like the helper", () => {
    const { out } = both(lookup(9, [exit()]));
    expect(out).toMatchObject({ r0: 0n });
  });

  test("a key pointer that is not provably r10-relative keeps the helper call", () => {
    // r2 = r10 copied through r3 after a jump target: the block-local proof is gone, so the helper runs.
    const { src } = both(lookup(1, [exit()], [mov64(3, reg(10)), jmp64(JmpOp.JA, 0, 0, "k"), withLabel(mov64(2, reg(3)), "k"), alu64(AluOp.ADD, 2, -4)]));
    expect(src).not.toContain("lookupAt");
    expect(src).toContain("h1(M,");
  });
});

describe("faults on the inline memory paths", () => {
  const cases: Array<[string, Instruction[], RegExp]> = [
    ["store past a map value", lookup(0, [jmp64(JmpOp.JEQ, 0, 0, "n"), stx(Size.DW, 0, 8, 1), withLabel(exit(), "n")]), /write of 8 bytes at offset 8 of value of arr\[0\] \(size 8\) is out of bounds/],
    ["load before a map value", lookup(0, [jmp64(JmpOp.JEQ, 0, 0, "n"), ldx(Size.W, 0, 0, -4), withLabel(exit(), "n")]), /read of 4 bytes at offset -4/],
    ["load through a map handle", [ldMap(1, "arr"), ldx(Size.W, 0, 1, 0), exit()], /through a map pointer/],
    ["store through a scalar", [mov64(1, 4096), st(Size.W, 1, 0, 1), mov64(0, 1), exit()], /write of 4 bytes at 0x1000, which is not a pointer/],
    ["load through NULL", [mov64(1, 0), ldx(Size.B, 0, 1, 0), exit()], /read of 1 bytes through a NULL pointer/],
    // Atomic add checks as a load first, then as a store (its fast path must keep that order).
    ["atomic add past a map value", lookup(0, [jmp64(JmpOp.JEQ, 0, 0, "n"), mov64(3, 1), atomic(Size.DW, AtomicOp.ADD, 0, 8, 3), withLabel(exit(), "n")]), /read of 8 bytes at offset 8 of value of arr\[0\]/],
    ["atomic add through a map handle", [ldMap(1, "arr"), mov64(3, 1), atomic(Size.W, AtomicOp.ADD, 1, 0, 3), mov64(0, 1), exit()], /read of 4 bytes through a map pointer/],
    ["atomic add on ctx", [mov64(3, 1), atomic(Size.W, AtomicOp.ADD, 1, 60, 3), mov64(0, 1), exit()], /write of 4 bytes into ctx/],
  ];
  test.each(cases)("%s", (_name, insns, reason) => {
    const { out } = both(insns);
    expect(out).toMatchObject({ fault: "VmFault" });
    expect((out as { message: string }).message).toMatch(/^pc \d+ \(.+\): /);
    expect((out as { message: string }).message).toMatch(reason);
  });
});
