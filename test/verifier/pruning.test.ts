/**
 * The state comparison's fast paths (stack compared only as deep as touched, stacks shared by copy on write, shared
 * register objects, known scalars, reused id maps) decide exactly as the full comparison does, and loops with a
 * data-dependent branch keep their verdicts and processed counts.
 */
import { describe, expect, test } from "vitest";
import { AluOp, JmpOp, Size, alu64, exit, jmp64, ldx, mov64, reg, withLabel as L } from "../../compiler/asm/index.ts";
import { verifyProgram } from "../../compiler/verifier/index.ts";
import { sconst, sincludes, srangeU, sunknown } from "../../compiler/verifier/scalar.ts";
import { Byte, type VState, cloneState, newFrame, ownStack, ptrReg, scalarReg, stateCovers } from "../../compiler/verifier/state.ts";
import { asmProgram } from "./kernel-harness.ts";

const fresh = (): VState => {
  const f = newFrame(-1, 0);
  f.regs[1] = ptrReg("ctx");
  f.regs[10] = ptrReg("fp", { frame: 0 });
  return { frames: [f], refs: [], parent: null, hist: [], histLen: -1, jmps: 0 };
};

/** Spills `r` to the 8-byte slot at fp-8(slot+1), as memory.ts does (bytes SPILL, depth grows). */
const spill = (st: VState, slot: number, r: ReturnType<typeof scalarReg>): void => {
  const f = st.frames[0]!;
  ownStack(f);
  const base = 512 - 8 * (slot + 1);
  f.bytes.fill(Byte.SPILL, base, base + 8);
  f.spills[slot] = r;
  f.depth = Math.max(f.depth, 8 * (slot + 1));
};

describe("stateCovers fast paths", () => {
  test("a spill deeper than the old state ever touched is compared (depth of either frame counts)", () => {
    const old = fresh();
    const cur = cloneState(old);
    spill(cur, 40, ptrReg("ctx") as never);
    // old never touched slot 40 (INVALID bytes) and cur holds a pointer there: not covered.
    expect(stateCovers(old, cur, false)).toBe(false);
    // Loop detection (exact) sees the difference in either direction.
    expect(stateCovers(cur, old, true)).toBe(false);
    expect(stateCovers(cur, cloneState(cur), true)).toBe(true);
  });

  test("shared stacks still map ids through their spills", () => {
    const old = fresh();
    spill(old, 0, ptrReg("sock_or_null", { id: 5 }) as never);
    old.frames[0]!.regs[6] = ptrReg("sock_or_null", { id: 5 });
    const cur = cloneState(old);
    expect(cur.frames[0]!.bytes).toBe(old.frames[0]!.bytes);
    expect(stateCovers(old, cur, false)).toBe(true);
    // Same stack object, but r6 now carries another null-check id: old's id 5 cannot map to both 5 and 7.
    cur.frames[0]!.regs[6] = ptrReg("sock_or_null", { id: 7 });
    expect(stateCovers(old, cur, false)).toBe(false);
  });

  test("a register object shared by both states is checked for its ids", () => {
    const shared = ptrReg("sock_or_null", { id: 3 });
    const old = fresh();
    old.frames[0]!.regs[6] = shared;
    old.frames[0]!.regs[7] = ptrReg("sock_or_null", { id: 4 });
    const cur = cloneState(old);
    cur.frames[0]!.regs[7] = shared; // r6 and r7 alias in cur but not in old
    expect(stateCovers(old, cur, false)).toBe(false);
    // An earlier comparison's id pairs must not leak into the next one (the id map is reused).
    expect(stateCovers(old, cloneState(old), false)).toBe(true);
  });

  test("sincludes: known old values decide as the full comparison", () => {
    const five = sconst(5n);
    expect(sincludes(five, sconst(5n))).toBe(true);
    expect(sincludes(five, sconst(6n))).toBe(false);
    expect(sincludes(five, srangeU(5n, 6n)!)).toBe(false);
    expect(sincludes(srangeU(0n, 10n)!, five)).toBe(true);
    expect(sincludes(sunknown(), five)).toBe(true);
    expect(sincludes(five, sunknown())).toBe(false);
  });
});

describe("loops with a data-dependent branch", () => {
  // r2 counts to n; each iteration compares a ctx field with r2 and toggles (xor) or counts (add) r0.
  const loop = (n: number, op: AluOp) =>
    asmProgram(`loop${n}`, [
      mov64(0, 0), mov64(2, 0),
      L(ldx(Size.W, 3, 1, 60), "l"), jmp64(JmpOp.JNE, 3, reg(2), "n"), alu64(op, 0, 1),
      L(alu64(AluOp.ADD, 2, 1), "n"), jmp64(JmpOp.JLT, 2, n, "l"), alu64(AluOp.AND, 0, 1), exit(),
    ]);

  test("64 iterations toggling r0: accepted, processed count pinned", () => {
    const r = verifyProgram(loop(64, AluOp.XOR), []);
    expect(r.ok).toBe(true);
    expect(r.insnsProcessed).toMatchInlineSnapshot(`19499`);
  });

  test("200 iterations counting in r0: rejected at the 1M instruction limit (as the kernel does)", { timeout: 60_000 }, () => {
    const r = verifyProgram(loop(200, AluOp.ADD), []);
    expect(r.ok).toBe(false);
    expect(r.error?.message).toBe("BPF program is too large. Processed 1000001 insn");
  });
});
