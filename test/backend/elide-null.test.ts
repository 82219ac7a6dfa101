/**
 * Dropping NULL tests after constant-key ARRAY lookups on 6.14+ targets (backend/elide-null.ts): only where the
 * kernel verifier tracks the key as a constant (a stored 0 anywhere, any constant at an 8-byte aligned offset) and
 * the key is in range. The running kernel is the judge: every program the pass strips loads; the cases the pass
 * keeps are refused once stripped by hand (but one, where the pass is knowingly conservative).
 */
import { describe, expect, it } from "vitest";
import { MapType } from "../../compiler/abi/maps.ts";
import { FP, Helper, JmpOp, Size, call, exit, jmp64, ldMap, ldx, mov64, alu64, AluOp, reg, st, withLabel, type Instruction } from "../../compiler/asm/index.ts";
import { elideConstKeyNullChecks } from "../../compiler/backend/elide-null.ts";
import { readObject, writeObject } from "../../compiler/elf/index.ts";
import type { IrMap } from "../../compiler/ir/ir.ts";
import { resolveTarget } from "../../compiler/target/index.ts";
import { openKernel } from "../../runtime/kernel/open.ts";
import { describeKernel } from "../support/kernel.ts";

const arr: IrMap = { name: "arr", type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 4, flags: 0, pinning: 0 };
const hash: IrMap = { name: "h", type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 4, flags: 0, pinning: 0 };
const MAPS = [arr, hash];

/** key store; lookup; [label]; if r0 == 0 goto out; r0 = *(u32 *)(r0 + 0); out: r0 = 1; exit. */
function program(map: string, off: number, key: number, labelBeforeTest = false): Instruction[] {
  const test = jmp64(JmpOp.JEQ, 0, 0, "out");
  return [
    st(Size.W, FP, off, key),
    ldMap(1, map),
    mov64(2, reg(FP)),
    alu64(AluOp.ADD, 2, off),
    call(Helper.map_lookup_elem),
    labelBeforeTest ? withLabel(test, "here") : test,
    ldx(Size.W, 0, 0, 0),
    withLabel(mov64(0, 1), "out"),
    exit(),
  ];
}

function strip(insns: Instruction[]): { insns: Instruction[]; elided: number } {
  const copy = insns.map((i) => ({ ...i }));
  const elided = elideConstKeyNullChecks(copy, { fileName: "elide.ts", source: "", license: "GPL", maps: MAPS, functions: [] });
  return { insns: copy, elided };
}

/** `elide`: what the pass does; `kernel`: whether the kernel loads the program with the test removed by hand. */
const CASES: { name: string; insns: Instruction[]; elide: boolean; kernel: boolean }[] = [
  { name: "key 0 at an unaligned offset (STACK_ZERO)", insns: program("arr", -4, 0), elide: true, kernel: true },
  { name: "key 3 at an aligned offset (a spilled constant)", insns: program("arr", -8, 3), elide: true, kernel: true },
  { name: "key 1 at an unaligned offset (not tracked)", insns: program("arr", -4, 1), elide: false, kernel: false },
  { name: "key 4 out of range", insns: program("arr", -8, 4), elide: false, kernel: false },
  { name: "a HASH map", insns: program("h", -8, 0), elide: false, kernel: false },
  // Conservative: another path could reach a label with other values; here none does, so the kernel would accept.
  { name: "a label between lookup and test", insns: program("arr", -8, 0, true), elide: false, kernel: true },
];

describe("NULL tests of constant-key ARRAY lookups", () => {
  for (const c of CASES) {
    it(`${c.elide ? "are dropped" : "stay"}: ${c.name}`, () => {
      const { insns, elided } = strip(c.insns);
      expect(elided).toBe(c.elide ? 1 : 0);
      expect(insns.length).toBe(c.insns.length - elided);
    });
  }
});

describeKernel("NULL-test elision against the running kernel", () => {
  const host = resolveTarget("host");
  const loads = (insns: Instruction[]): boolean => {
    try {
      openKernel().load(readObject(writeObject({ fileName: "elide.ts", license: "GPL", programs: [{ name: "p", insns }], maps: MAPS }))).close();
      return true;
    } catch {
      return false;
    }
  };

  it.runIf(host.arrayLookupConstKeyNonNull).each(CASES)("the kernel agrees on: $name", (c) => {
    // Without its test the program loads where the pass drops it (and, for the conservative case, elsewhere too).
    const untested = c.insns.filter((i) => !(i.target === "out" && (i.opcode & 0xf0) === JmpOp.JEQ));
    expect(untested.length).toBe(c.insns.length - 1);
    expect(loads(untested)).toBe(c.kernel);
    expect(loads(strip(c.insns).insns)).toBe(true);
  });
});
