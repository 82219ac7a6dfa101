/**
 * Structural checks and API behaviour that need no kernel: control-flow errors, malformed input, line info lookup,
 * explanations, state printing.
 */
import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { AluOp, JmpOp, Size, alu64, call, callLocal, exit, ja, jmp64, ldMap, ldx, mov64, reg, st, withLabel } from "../../compiler/asm/index.ts";
import { checkCfg, isCfgError } from "../../compiler/verifier/cfg.ts";
import { explain, lineFor, verifyProgram } from "../../compiler/verifier/index.ts";
import { asmProgram } from "./kernel-harness.ts";
import { MAPS } from "../fixtures/verifier/asm-cases.ts";

const L = withLabel;
const verdict = (insns: Parameters<typeof asmProgram>[1], maps = [] as (typeof MAPS)[string][]) => verifyProgram(asmProgram("t", insns), maps);

describe("control flow", () => {
  test("finds function entries from BPF-to-BPF calls", () => {
    const cfg = checkCfg(asmProgram("t", [callLocal("f"), exit(), L(mov64(0, 1), "f"), exit()]).insns);
    expect(isCfgError(cfg) ? cfg.message : cfg.funcs).toEqual([0, 2]);
  });

  test("a jump may not leave its function", () => {
    const r = verdict([mov64(0, 1), callLocal("f"), ja("x"), L(exit(), "f"), L(exit(), "x")]);
    expect(r.error?.message).toBe("jump out of range from insn 2 to 4");
  });

  test("refusals in the kernel's order, words and instruction (compiler/asm/control-flow.ts)", () => {
    const I = (opcode: number, dst = 0, src = 0, off = 0, imm = 0) => ({ opcode, dst, src, off, imm });
    const r0 = I(0xb7, 0, 0, 0, 1);
    const ldimm64 = [{ ...I(0x18, 2, 0, 0, 5), imm64: 5n }, I(0)];
    const refusal = (insns: ReturnType<typeof I>[]) => verifyProgram({ ...asmProgram("t", [exit()]), insns }, []).error;
    // Calls first (add_subprog), then jumps (check_subprogs), then opcodes slot by slot (resolve_pseudo_ldimm64).
    expect(refusal([r0, I(0x85, 0, 1, 0, 5), I(0xff), I(0x95)])).toMatchObject({ pc: 1, message: "call to invalid destination" });
    expect(refusal([r0, I(0xff), I(0x05, 0, 0, 5), I(0x95)])).toMatchObject({ pc: 2, message: "jump out of range from insn 2 to 8" });
    expect(refusal([r0, I(0xff), ...ldimm64, I(0x95)])).toMatchObject({ pc: 1, message: "unknown opcode ff" });
    // A call into an ldimm64's second half starts a function there: the main function then ends on the first half.
    expect(refusal([r0, I(0x85, 0, 1, 0, 1), ...ldimm64, I(0x95)])).toMatchObject({ pc: 2, message: "last insn is not an exit or jmp" });
    // A jump into it is found by check_cfg's walk, and shown at the jump.
    expect(refusal([r0, I(0x25, 10, 0, 1, 7), ...ldimm64, I(0x95)])).toMatchObject({ pc: 1, message: "jump into the middle of ldimm64 insn 2" });
    // Only exit, ja and gotol may end a function: ja with the X bit is an opcode of its own.
    expect(refusal([r0, I(0x25, 10, 0, 1, 7), I(0x95), I(0x0d, 0, 0, -2)])).toMatchObject({ pc: 3, message: "last insn is not an exit or jmp" });
  });

  test("an ldimm64 of a function address starts a function", () => {
    const cfg = checkCfg([{ opcode: 0x18, dst: 1, src: 4, off: 0, imm: 3 }, { opcode: 0, dst: 0, src: 0, off: 0, imm: 0 }, mov64(0, 1), exit(), mov64(0, 0), exit()]);
    expect(isCfgError(cfg) ? cfg.message : cfg.funcs).toEqual([0, 4]);
  });

  test("empty program", () => {
    const r = verifyProgram({ ...asmProgram("t", [exit()]), insns: [], bytes: new Uint8Array() }, []);
    expect(r).toMatchObject({ ok: false, error: { message: "empty program", pc: 0 } });
  });
});

describe("malformed input is a rejection, never an exception", () => {
  test("relocation against a map the object does not define", () => {
    const r = verdict([ldMap(1, "nope"), mov64(0, 1), exit()]);
    expect(r.error?.message).toMatch(/^fd 0 is not pointing to valid bpf_map/);
  });

  test("register numbers above r10", () => {
    expect(verdict([{ ...mov64(0, 1), dst: 12 }, exit()]).error?.message).toBe("R12 is invalid");
  });

  test("every byte pattern of a one-instruction program is handled", () => {
    for (let op = 0; op < 256; op++) {
      const r = verifyProgram({ ...asmProgram("t", [exit()]), insns: [{ opcode: op, dst: 0, src: 0, off: 0, imm: 0 }, exit()] }, []);
      expect(typeof r.ok).toBe("boolean");
      if (!r.ok) expect(r.error!.message).not.toMatch(/internal error/);
    }
  });
});

describe("reports", () => {
  test("error carries pc, instruction text, state and the explanation", () => {
    const r = verdict([...[mov64(6, reg(1)), st(Size.W, 10, -4, 0), mov64(2, reg(10)), alu64(AluOp.ADD, 2, -4), ldMap(1, "sockets"), call(1)], mov64(1, reg(6)), mov64(2, reg(0)), mov64(3, 0), call(124), mov64(0, 1), exit()], [MAPS.sockets!]);
    expect(r.error).toMatchObject({
      pc: 10,
      insn: "call 0x7c",
      message: "R2 type=map_value_or_null expected=sock",
      state: "R0=map_value_or_null(map=sockets,id=2,ref_obj_id=2) R1=ctx() R2=map_value_or_null(map=sockets,id=2,ref_obj_id=2) R3=0 R6=ctx() R10=fp0 fp-8=????0000 refs=2",
    });
    expect(r.error!.explain).toMatch(/sockets\.lookup\(\) is passed to ctx\.assign\(\) before checking it for null/);
  });

  test("line info: the entry at or before pc", () => {
    const lines = [5, 2, 9].map((slot) => ({ slot, file: "a.ts", text: `line ${slot}`, line: slot, column: 1 }));
    expect(lineFor(lines, 4)?.slot).toBe(2);
    expect(lineFor(lines, 9)?.slot).toBe(9);
    expect(lineFor(lines, 1)).toBeUndefined();
  });

  test("explanations exist for the common messages and not for unknown ones", () => {
    expect(explain("R1 must be referenced when passed to release function")).toMatch(/ctx\.sk is owned by the kernel/);
    expect(explain("At program exit the register R0 has smin=2 smax=2 should have been in [0, 1]")).toMatch(/SK_PASS/);
    expect(explain("something else")).toBeUndefined();
  });

  test("processed count grows with explored paths", () => {
    const straight = verdict([mov64(0, 1), exit()]);
    const branchy = verdict([ldx(Size.W, 2, 1, 60), jmp64(JmpOp.JEQ, 2, 1, "a"), mov64(0, 0), exit(), L(mov64(0, 1), "a"), exit()]);
    expect(straight.insnsProcessed).toBe(2);
    expect(branchy.insnsProcessed).toBe(6);
  });
});

describe("benchVerify", () => {
  test("one row per program with its verdict, processed count and a positive time", async () => {
    const { benchVerify, benchVerifyObjects, formatBench } = await import("../../compiler/verifier/index.ts");
    const path = new URL("../fixtures/verifier/global-masked.o", import.meta.url).pathname;
    const one = benchVerify(readFileSync(path), "ok_global_result_masked", 3);
    expect(one).toEqual({ ms: expect.any(Number), processed: expect.any(Number), error: undefined });
    expect(benchVerify(readFileSync(path), "nope", 1).error).toBe("no program nope");
    const rows = benchVerifyObjects([path], 3);
    expect(rows).toEqual([{ object: path, program: "ok_global_result_masked", ok: true, slots: expect.any(Number), processed: expect.any(Number), ms: expect.any(Number) }]);
    expect(rows[0]!.ms).toBeGreaterThan(0);
    expect(formatBench(rows).split("\n")[0]).toMatch(/^object\s+program\s+verdict\s+slots\s+processed\s+µs$/);
  });
});

describe("liveness", () => {
  test("a register is live from its last write to its last read, r0 at exit, r1-r5 at calls", async () => {
    const { liveRegisters } = await import("../../compiler/verifier/liveness.ts");
    const p = asmProgram("t", [ldx(Size.W, 2, 1, 60), mov64(3, 7), jmp64(JmpOp.JEQ, 2, 0, "a"), call(5), L(mov64(0, 1), "a"), exit()]);
    const live = liveRegisters(p.insns, p.insns.map(() => false));
    const regs = (m: number): number[] => [...Array(11).keys()].filter((r) => m & (1 << r));
    // r4/r5 are read by the helper call without a write before it, so they are live from the entry.
    expect(Array.from(live, (m) => regs(m).join(","))).toEqual(["1,4,5", "1,2,4,5", "1,2,3,4,5", "1,2,3,4,5", "", "0"]);
  });
});
