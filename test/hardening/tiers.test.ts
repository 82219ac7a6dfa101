/**
 * Both VM tiers agree on every program, fault and pc (issue 11): programs the kernel refuses to load (a jump into
 * the second slot of an ldimm64, which used to throw a SyntaxError from the JIT or differ between tiers) are refused
 * at load; budget exhaustion faults at the exact pc on both tiers, after the same side effects; budgets that would
 * never run out are rejected.
 */
import { describe, expect, test } from "vitest";
import { MapType } from "../../compiler/abi/maps.ts";
import { AluOp, AtomicOp, Class, Helper, JmpOp, Size, alu64, atomic, call, exit, ja, jmp64, lddw, ldMap, mov64, reg, st, withLabel, type Instruction } from "../../compiler/asm/index.ts";
import { ObjectError } from "../../compiler/elf/object.ts";
import { KernelError } from "../../runtime/kernel/native.ts";
import { openKernel } from "../../runtime/kernel/open.ts";
import { JIT_MAX_SLOTS } from "../../runtime/vm/jit.ts";
import { MAX_BUDGET } from "../../runtime/vm/machine.ts";
import { VmObject } from "../../runtime/vm/object.ts";
import { BudgetExceeded, VmFault } from "../../runtime/vm/region.ts";
import { describeKernel } from "../support/kernel.ts";
import { TCP4, TIERS, mapDef, objectOf, vmOf } from "../vm/harness.ts";

/** Programs with a jump whose target is the second slot of an ldimm64 (whose upper half is not an opcode of 0). */
const INTO_LDDW: Record<string, Instruction[]> = {
  "ja into the second slot": [{ opcode: Class.JMP | JmpOp.JA, dst: 0, src: 0, off: 1, imm: 0 }, lddw(0, 5n), exit()],
  // The case: the second slot holds a non-zero "opcode" (the constant's upper half is encoded there, but a
  // hand-made object may put anything), and a back-edge elsewhere made the JIT use its loop shape.
  "conditional jump, second slot with an opcode, back-edge elsewhere": [
    mov64(1, 0),
    jmp64(JmpOp.JNE, 1, 0, "skip"),
    withLabel(lddw(0, 0x95_00000001n), "top"),
    withLabel(mov64(0, 1), "skip"),
    jmp64(JmpOp.JEQ, 1, 1, "top"),
    exit(),
  ],
  "bpf-to-bpf call into the second slot": [{ opcode: Class.JMP | JmpOp.CALL, dst: 0, src: 1, off: 0, imm: 1 }, lddw(0, 1n), exit()],
};

/** Encodes a jump into the slot after a lddw by hand (the encoder resolves labels to instruction starts only). */
function withJumpIntoSecondSlot(name: string, insns: Instruction[]): Instruction[] {
  if (!name.startsWith("conditional")) return insns;
  // jne at index 1 targets "skip"; make it target the lddw's second slot instead (offset 1 from the lddw's start).
  return insns.map((i, k) => (k === 1 ? { ...i, target: undefined, off: 1 } : i));
}

/**
 * What the loader says of each, in the kernel's order of checks: a ja over the first slot leaves the ldimm64 itself
 * unreached (check_cfg names the lowest instruction first); a call into the second slot makes it a function start,
 * so the main function ends on the first slot (check_subprogs). The fuzzers' "tier-safety" checks refuse all three
 * for the jump into the second slot.
 */
const INTO_LDDW_REFUSED: Record<string, RegExp> = {
  "ja into the second slot": /\(EINVAL\): unreachable insn 1$/,
  "conditional jump, second slot with an opcode, back-edge elsewhere": /\(EINVAL\): jump into the middle of ldimm64 insn 2$/,
  "bpf-to-bpf call into the second slot": /\(EINVAL\): last insn is not an exit or jmp \(insn 1, the end of the main function\)$/,
};

describe("a jump into the middle of an ldimm64 is refused at load, as the kernel refuses it", () => {
  for (const [name, insns] of Object.entries(INTO_LDDW)) {
    test(name, () => {
      const file = objectOf({ prog: withJumpIntoSecondSlot(name, insns) });
      expect(() => new VmObject(file)).toThrow(ObjectError);
      expect(() => new VmObject(file)).toThrow(INTO_LDDW_REFUSED[name]!);
      expect(() => new VmObject(file, { loadChecks: "tier-safety" })).toThrow(/jump into the middle of ldimm64 insn \d+ \(from insn \d+\)$/);
    });
  }
});

describeKernel("the kernel refuses the same programs", () => {
  for (const [name, insns] of Object.entries(INTO_LDDW)) {
    test(name, () => {
      const file = objectOf({ prog: withJumpIntoSecondSlot(name, insns) });
      let err: unknown;
      try {
        openKernel().load(file).close();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(KernelError);
      expect((err as KernelError).code).toBe("EINVAL");
    });
  }
});

/**
 * A loop whose body is one long block with side effects: an atomic add to a map value, a helper call (prandom, which
 * advances state) and filler. The budget runs out at every position inside the body for some budget below.
 */
const LOOP: Instruction[] = [
  st(Size.W, 10, -4, 0),
  ldMap(1, "a"),
  mov64(2, reg(10)),
  alu64(AluOp.ADD, 2, -4),
  call(Helper.map_lookup_elem),
  jmp64(JmpOp.JEQ, 0, 0, "end"),
  mov64(6, reg(0)),
  withLabel(mov64(1, 1), "top"),
  atomic(Size.DW, AtomicOp.ADD, 6, 0, 1),
  call(Helper.get_prandom_u32),
  alu64(AluOp.ADD, 7, reg(0)),
  atomic(Size.DW, AtomicOp.ADD, 6, 8, 7),
  alu64(AluOp.ADD, 8, 1),
  alu64(AluOp.ADD, 8, 1),
  ja("top"),
  withLabel(mov64(0, 1), "end"),
  exit(),
];

describe("budget exhaustion: the same pc, count and side effects on both tiers", () => {
  const file = objectOf({ prog: LOOP }, [mapDef("a", MapType.ARRAY, 4, 16, 1)]);
  test("every budget from 1 to 80", () => {
    const pcs = new Set<number>();
    for (let budget = 1; budget <= 80; budget++) {
      const seen = TIERS.map((tier) => {
        const obj = new VmObject(file, { budget, seed: 9 });
        try {
          obj.run("prog", TCP4, { tier });
          return { ok: true };
        } catch (e) {
          expect(e).toBeInstanceOf(BudgetExceeded);
          const f = e as VmFault;
          pcs.add(f.pc);
          return { pc: f.pc, message: f.message, n: obj.machine.n, value: obj.map("a").get(0), prng: obj.machine.prng };
        }
      });
      expect(seen[1], `budget ${budget}`).toEqual(seen[0]);
    }
    // The fault lands on every slot of the loop body, not only on block starts.
    expect([...pcs].sort((a, b) => a - b)).toEqual([1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
  });
});

describe("instruction budgets that would never run out are rejected", () => {
  for (const budget of [Infinity, NaN, "x", 0, -1, 1.5, MAX_BUDGET + 1]) {
    test(String(budget), () => {
      expect(() => vmOf([mov64(0, 1), exit()], [], { budget: budget as number })).toThrow(RangeError);
      expect(() => vmOf([mov64(0, 1), exit()], [], { budget: budget as number })).toThrow(/instruction budget must be an integer from 1 to 4294967296/);
    });
  }
  test("the limits themselves are accepted", () => {
    for (const budget of [2, MAX_BUDGET]) expect(vmOf([mov64(0, 1), exit()], [], { budget }).run("prog", TCP4).verdict).toBe("SK_PASS");
  });
});

describe("a program too large for the JIT runs on the interpreter under the jit tier", () => {
  test(`${JIT_MAX_SLOTS * 6} slots: the same outcome, no multi-second compile`, () => {
    const insns: Instruction[] = [{ opcode: 0x61, dst: 3, src: 1, off: 16, imm: 0 }, { opcode: 0x61, dst: 5, src: 1, off: 40, imm: 0 }];
    for (let i = 0; insns.length < JIT_MAX_SLOTS * 6; i++) {
      insns.push({ opcode: 0x2d, dst: 3, src: 5, off: 2, imm: 0 }, mov64(2, i), { opcode: 0x05, dst: 0, src: 0, off: 1, imm: 0 }, alu64(AluOp.ADD, 4, 1));
    }
    insns.push(mov64(0, reg(4)), alu64(AluOp.AND, 0, 1), exit());
    const file = objectOf({ p: insns });
    const t0 = Date.now();
    const jit = new VmObject(file, { budget: 10_000_000 }).run("p", TCP4, { tier: "jit" });
    // A compiled JIT needed about 4 s to generate and 4 s to first run a program of 100,000 slots.
    expect(Date.now() - t0).toBeLessThan(3000);
    const interp = new VmObject(file, { budget: 10_000_000 }).run("p", TCP4, { tier: "interp" });
    expect(jit).toEqual(interp);
  });
});

describe("fuzz findings", () => {
  // TSBPF_FUZZ_SEED=7 case 28578: a call with a register source (0x8d) reached the JIT as a helper call it had not
  // declared (ReferenceError h32). The kernel refuses it: "BPF_CALL uses reserved fields".
  test("call with BPF_X, and exit/call with reserved fields set, fault identically on both tiers", () => {
    const cases: Instruction[][] = [
      [{ opcode: 0x8d, dst: 0, src: 0, off: 0, imm: 32 }, mov64(0, 1), exit()],
      [{ opcode: 0x85, dst: 3, src: 0, off: 0, imm: 7 }, mov64(0, 1), exit()],
      [{ opcode: 0x85, dst: 0, src: 0, off: 2, imm: 7 }, mov64(0, 1), exit()],
      [mov64(0, 1), { opcode: 0x95, dst: 0, src: 0, off: 0, imm: 1 }],
    ];
    for (const insns of cases) {
      for (const tier of TIERS) {
        expect(() => vmOf(insns).run("prog", TCP4, { tier }), tier).toThrow(/uses reserved fields/);
      }
    }
  });
});
