/**
 * BPF-to-BPF calls on the JIT tier: programs whose functions keep their jumps to themselves compile each function
 * to its own JS function (callees called directly); anything else keeps one JS function over the whole program.
 * Both shapes must agree with the interpreter on r0, instruction counts, frames, callee-saved registers and faults.
 */
import { describe, expect, test } from "vitest";
import { AluOp, Helper, JmpOp, Size, alu64, call, callLocal, exit, jmp64, ldMap, ldx, mov64, reg, st, stx, withLabel, type Instruction } from "../../compiler/asm/index.ts";
import { MapType } from "../../compiler/abi/maps.ts";
import { jitSource } from "../../runtime/vm/jit.ts";
import { TIERS, mapDef, outcome, vmOf } from "./harness.ts";

const arr = mapDef("arr", MapType.ARRAY, 4, 8, 4);

/**
 * Runs on both tiers and checks they agree; returns the JIT's outcome and source. `loadChecks` "tier-safety" loads
 * shapes the kernel refuses (the fuzzers still feed them to both tiers).
 */
function both(insns: Instruction[], loadChecks?: "tier-safety") {
  const p = vmOf(insns, [arr], { loadChecks }).program("prog");
  const [i, j] = TIERS.map((t) => outcome(p, t));
  expect(j).toEqual(i);
  // A second run starts from the same state (frames reset, counter from 0).
  expect(outcome(p, "jit")).toEqual(i);
  return { out: j!, src: jitSource(p.prepared) };
}

/** main: r6 = 5, frame slot = 7, calls `f` with r1 = 3, returns f's r0 + r6 + slot. */
const caller = (f: Instruction[]): Instruction[] => [
  mov64(6, 5),
  st(Size.DW, 10, -8, 7),
  mov64(1, 3),
  callLocal("f"),
  ldx(Size.DW, 2, 10, -8),
  alu64(AluOp.ADD, 0, reg(6)),
  alu64(AluOp.ADD, 0, reg(2)),
  exit(),
  ...f,
];

describe("JIT BPF-to-BPF calls", () => {
  test("closed functions compile to separate JS functions, called directly", () => {
    const { out, src } = both(
      caller([withLabel(mov64(6, 100), "f"), st(Size.DW, 10, -8, 1000), ldx(Size.DW, 0, 10, -8), alu64(AluOp.ADD, 0, reg(1)), alu64(AluOp.ADD, 0, reg(6)), exit()]),
    );
    expect(out).toEqual({ r0: 1103n + 5n + 7n, n: 14 });
    expect(src).toContain("function f8(M,depth,n,");
    expect(src).toContain("a0=f8(M,depth+1,n,");
    expect(src).not.toContain("FN[");
  });

  test("a callee's frame is zero again in the next run (reset clears each frame used from the lowest store)", () => {
    // The callee reads its slot -16 and then writes it; main writes only -8. A second run (both() makes one) must
    // read 0 again on both tiers, so reset must clear frame 1 from the callee's store, not from main's.
    const { out } = both(caller([withLabel(ldx(Size.DW, 0, 10, -16), "f"), st(Size.DW, 10, -16, 99), exit()]));
    expect("r0" in out && out.r0).toBe(0n + 5n + 7n);
  });

  test("a callee with a branch and its own map lookup (facts inside the callee: a constant key, no helper call)", () => {
    const f = [
      withLabel(st(Size.W, 10, -4, 2), "f"),
      mov64(2, reg(10)),
      alu64(AluOp.ADD, 2, -4),
      ldMap(1, "arr"),
      call(Helper.map_lookup_elem),
      jmp64(JmpOp.JEQ, 0, 0, "none"),
      mov64(1, 41),
      stx(Size.DW, 0, 0, 1),
      ldx(Size.DW, 0, 0, 0),
      exit(),
      withLabel(mov64(0, 0), "none"),
      exit(),
    ];
    const { out, src } = both(caller(f));
    expect(out).toEqual({ r0: 41n + 5n + 7n, n: 18 });
    expect(src).toContain("function f8(");
    expect(src).not.toMatch(/h1\(M,|lookupAt/);
  });

  test("a fault inside a callee carries the callee's pc and instruction", () => {
    const f = [withLabel(st(Size.W, 10, -4, 2), "f"), mov64(2, reg(10)), alu64(AluOp.ADD, 2, -4), ldMap(1, "arr"), call(Helper.map_lookup_elem), stx(Size.DW, 0, 1, 0), exit()];
    const { out, src } = both(caller(f));
    expect(out).toMatchObject({ fault: "VmFault" });
    expect((out as { message: string }).message).toBe("pc 14 (*(u64 *)(r0 + 0x1) = r0): write of 8 bytes at offset 1 of value of arr[2] (size 8) is out of bounds");
    expect(src).toContain("function f8(");
  });

  test("a callee that jumps into the caller's code keeps the whole-program shape, like the interpreter", () => {
    // f jumps back to main's `out` block, whose exit then returns from f (the interpreter's frame rules). The kernel
    // refuses this ("jump out of range", check_subprogs), and so does the VM's loader but under the fuzzers' checks.
    const insns = [
      mov64(6, 1),
      callLocal("f"),
      alu64(AluOp.ADD, 0, 10),
      withLabel(exit(), "out"),
      withLabel(mov64(0, 7), "f"),
      jmp64(JmpOp.JA, 0, 0, "out"),
    ];
    expect(() => vmOf(insns, [arr])).toThrow(/the kernel refuses to load it \(EINVAL\): jump out of range from insn 5 to 3/);
    const { out, src } = both(insns, "tier-safety");
    expect(out).toEqual({ r0: 17n, n: 7 });
    expect(src).toContain("FN[");
  });

  test("a callee that falls off its end into nothing faults on both tiers", () => {
    const insns = [callLocal("f"), exit(), withLabel(mov64(0, 1), "f")];
    expect(() => vmOf(insns, [arr])).toThrow(/\(EINVAL\): last insn is not an exit or jmp \(insn 2, the end of the function at insn 2\)/);
    const { out } = both(insns, "tier-safety");
    expect(out).toMatchObject({ fault: "VmFault" });
    expect((out as { message: string }).message).toMatch(/fell off the end/);
  });

  test("nested calls: depth and frames per level, r6-r9 restored at each return", () => {
    const insns = [
      mov64(7, 1),
      st(Size.DW, 10, -8, 10),
      callLocal("g"),
      ldx(Size.DW, 1, 10, -8),
      alu64(AluOp.ADD, 0, reg(1)),
      alu64(AluOp.ADD, 0, reg(7)),
      exit(),
      withLabel(mov64(7, 1000), "g"),
      st(Size.DW, 10, -8, 20),
      callLocal("h"),
      ldx(Size.DW, 1, 10, -8),
      alu64(AluOp.ADD, 0, reg(1)),
      alu64(AluOp.ADD, 0, reg(7)),
      exit(),
      withLabel(mov64(7, 100000), "h"),
      st(Size.DW, 10, -8, 300),
      ldx(Size.DW, 0, 10, -8),
      exit(),
    ];
    const { out, src } = both(insns);
    expect(out).toEqual({ r0: 300n + 20n + 1000n + 10n + 1n, n: 18 });
    expect(src).toContain("function f7(");
    expect(src).toContain("function f14(");
  });

  test("self-recursion through the main function faults at 8 frames on the split shape", () => {
    const { out, src } = both([withLabel(mov64(0, 0), "top"), callLocal("top"), exit()]);
    expect(out).toMatchObject({ fault: "VmFault" });
    expect((out as { message: string }).message).toMatch(/call depth exceeds 8 frames/);
    expect(src).toContain("function f0(");
  });
});
