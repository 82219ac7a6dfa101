/**
 * The JIT's code shapes and their guards: straight-line code for programs without backward jumps (the dispatch loop
 * otherwise), direct map lookups only where the map and stack key are proven, and the inline memory paths falling
 * back to the checked ones, whose faults carry pc and instruction exactly as the interpreter's do.
 */
import { describe, expect, test } from "vitest";
import { AluOp, AtomicOp, Helper, JmpOp, Size, alu64, atomic, call, exit, jmp64, ldMap, ldx, mov64, reg, st, stx, withLabel, type Instruction } from "../../compiler/asm/index.ts";
import { MapType } from "../../compiler/abi/maps.ts";
import { jitSource } from "../../runtime/vm/jit.ts";
import { TIERS, hidden, mapDef, outcome, vmOf } from "./harness.ts";

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

  test("straight-line code checks the budget once at entry; a budget below its bound runs on the interpreter", () => {
    // 6 slots, the taken path 4 long (mov, jeq, mov, exit skipped over 2 movs): the bound is every block, 6.
    const prog = [mov64(0, 1), jmp64(JmpOp.JEQ, 0, 1, "x"), mov64(0, 2), mov64(0, 3), withLabel(mov64(0, 4), "x"), exit()];
    const src = jitSource(vmOf(prog).program("prog").prepared);
    expect(src).toContain("if(M.n+6>M.budget)return IN(M);");
    expect(src).not.toContain("BX(");
    // Budgets around the path length and the bound: same r0, count, or the same fault at the same pc.
    for (const budget of [3, 4, 5, 6, 7]) {
      const outs = TIERS.map((t) => outcome(vmOf(prog, [], { budget }).program("prog"), t));
      expect(outs[1], `budget ${budget}`).toEqual(outs[0]);
      expect(outs[0], `budget ${budget}`).toEqual(budget < 4 ? expect.objectContaining({ fault: "BudgetExceeded" }) : { r0: 4n, n: 4 });
    }
  });

  test("a natural loop is a JS loop (continue to its header, break out of it), with the interpreter's count", () => {
    const { out, src } = both([mov64(0, 0), withLabel(alu64(AluOp.ADD, 0, 1), "top"), jmp64(JmpOp.JLT, 0, 5, "top"), exit()]);
    expect(out).toEqual({ r0: 5n, n: 12 });
    expect(src).toContain("C1:for(;;){");
    expect(src).toContain("continue C1;");
    expect(src).not.toContain("switch(bb)");
  });

  test("nested loops with an early exit from the inner one: labelled loops, same results", () => {
    // for (i = 0; i < 4; i++) for (j = 0; j < 4; j++) { r0++; if (r0 == 7) goto out; }   → r0 = 7
    const { out, src } = both([
      mov64(0, 0),
      mov64(1, 0),
      withLabel(mov64(2, 0), "outer"),
      withLabel(alu64(AluOp.ADD, 0, 1), "inner"),
      jmp64(JmpOp.JEQ, 0, 7, "out"),
      alu64(AluOp.ADD, 2, 1),
      jmp64(JmpOp.JLT, 2, 4, "inner"),
      alu64(AluOp.ADD, 1, 1),
      jmp64(JmpOp.JLT, 1, 4, "outer"),
      withLabel(exit(), "out"),
    ]);
    expect(out).toMatchObject({ r0: 7n });
    expect(src).toMatch(/C2:for\(;;\)\{[^}]*C3:for\(;;\)\{/);
    expect(src).not.toContain("switch(bb)");
  });

  test("a jump into the middle of a loop keeps the dispatch loop", () => {
    // The loop top..back is entered at `mid` by the first jump: no structured shape, same results.
    const { out, src } = both([
      mov64(0, 0),
      jmp64(JmpOp.JA, 0, 0, "mid"),
      withLabel(alu64(AluOp.ADD, 0, 2), "top"),
      withLabel(alu64(AluOp.ADD, 0, 1), "mid"),
      jmp64(JmpOp.JLT, 0, 9, "top"),
      exit(),
    ]);
    expect(out).toMatchObject({ r0: 10n });
    expect(src).toContain("for(;;)switch(bb)");
  });

  test("a constant key on a small (pinned) ARRAY: the value is a constant, no lookup and no NULL test", () => {
    const { out, src } = both(lookup(2, [jmp64(JmpOp.JEQ, 0, 0, "none"), st(Size.DW, 0, 0, 7), ldx(Size.DW, 0, 0, 0), withLabel(exit(), "none")]));
    expect(out).toMatchObject({ r0: 7n });
    expect(src).not.toMatch(/lookupAt|h1\(M,|a0===0&&b0===0/);
  });

  test("a key the facts do not know: the map is indexed inline, and the value accessed through its object", () => {
    const { out, src } = both(lookup(0, [jmp64(JmpOp.JEQ, 0, 0, "none"), st(Size.DW, 0, 0, 7), ldx(Size.DW, 0, 0, 0), withLabel(exit(), "none")], [
      ...hidden(3, 2),
      stx(Size.W, 10, -4, 3),
      mov64(2, reg(10)),
      alu64(AluOp.ADD, 2, -4),
    ]));
    expect(out).toMatchObject({ r0: 7n });
    expect(src).toContain("K0.values[i]??K0.lookupAt(SB,508)");
    expect(src).toContain("g0.view.setInt32(0,7,true)");
  });

  test("an out-of-range index through the direct lookup returns NULL like the helper", () => {
    const { out } = both(lookup(9, [exit()]));
    expect(out).toMatchObject({ r0: 0n });
  });

  test("facts follow jumps: a key pointer copied from r10 before a jump is still proven", () => {
    const { src } = both(lookup(1, [exit()], [mov64(3, reg(10)), jmp64(JmpOp.JA, 0, 0, "k"), withLabel(mov64(2, reg(3)), "k"), alu64(AluOp.ADD, 2, -4)]));
    expect(src).not.toContain("h1(M,");
  });

  test("a key pointer that is one of two frame offsets after a join keeps the helper call", () => {
    // r2 = r10 - 4 or r10 - 8 depending on a ctx field: the facts keep neither, so the helper checks the pointer.
    const { out, src } = both(lookup(1, [exit()], [st(Size.W, 10, -8, 9), ...hidden(3, -4), mov64(2, reg(10)), alu64(AluOp.ADD, 2, reg(3))]));
    expect((out as { r0: bigint }).r0).not.toBe(0n); // arr[1] (r3 is -4 at run time)
    expect(src).toContain("h1(M,");
  });

  test("a frame slot written through a pointer the facts do not know is not a known key any more", () => {
    // key 1 at r10-4, then r4 = r10 + r3 (r3 = 0, unknown to the facts) and *(u32 *)(r4 - 4) = 9: index 9 is past
    // max_entries, so the lookup must return NULL on both tiers (a stale constant key would find arr[1]).
    const { out } = both([
      ...hidden(3, 0),
      st(Size.W, 10, -4, 1),
      mov64(4, reg(10)),
      alu64(AluOp.ADD, 4, reg(3)),
      st(Size.W, 4, -4, 9),
      mov64(2, reg(10)),
      alu64(AluOp.ADD, 2, -4),
      ldMap(1, "arr"),
      call(Helper.map_lookup_elem),
      exit(),
    ]);
    expect(out).toMatchObject({ r0: 0n });
  });

  test("a lookup in a loop with a changing key is not constant-folded", () => {
    // for (i = 3; i != -1; i--) if (arr[i]) count++  — indexes 3..0 hit, so r6 = 4; facts meet i to unknown.
    const { out } = both([
      mov64(6, 0),
      mov64(7, 3),
      withLabel(stx(Size.W, 10, -4, 7), "top"),
      mov64(2, reg(10)),
      alu64(AluOp.ADD, 2, -4),
      ldMap(1, "arr"),
      call(Helper.map_lookup_elem),
      jmp64(JmpOp.JEQ, 0, 0, "miss"),
      alu64(AluOp.ADD, 6, 1),
      withLabel(alu64(AluOp.SUB, 7, 1), "miss"),
      jmp64(JmpOp.JSGE, 7, 0, "top"),
      mov64(0, reg(6)),
      exit(),
    ]);
    expect(out).toMatchObject({ r0: 4n });
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
