/** Focused checks of the backend's pieces: IR printer, inliner, folding, selection choices, frame, errors, peepholes. */
import { describe, expect, it } from "vitest";
import { Class, JmpOp, LDDW, Size, classOf, exit, ja, jmp64, mov64, JmpOp as J, type Instruction } from "../../compiler/asm/index.ts";
import { MapType } from "../../compiler/abi/maps.ts";
import { BackendError, disassembleEmitted, generate, type CodegenFeatures } from "../../compiler/backend/index.ts";
import { select } from "../../compiler/backend/isel.ts";
import { layoutBlocks } from "../../compiler/backend/layout.ts";
import { peephole } from "../../compiler/backend/peephole.ts";
import { InlineError, inlineCalls } from "../../compiler/ir/inline.ts";
import { foldBin, foldBswap, foldCmp, foldExt } from "../../compiler/ir/passes/fold.ts";
import { simplify } from "../../compiler/ir/passes/simplify.ts";
import { printFunction, printModule } from "../../compiler/ir/print.ts";
import { FnBuilder, k, map, module, v } from "./ir-builder.ts";
import { cases, pressure } from "./programs.ts";

const asm = (b: FnBuilder, maps = [map("m", MapType.ARRAY, 4, 8, 1)], features?: CodegenFeatures) =>
  disassembleEmitted(generate(b.fn, module([b.fn], maps), { features }).insns).map((l) => l.split("\t")[1]);

describe("IR printer", () => {
  it("prints slots, blocks, pointer kinds and terminators in a stable format", () => {
    const b = new FnBuilder("p");
    const s = b.slot(8, 4, "key");
    b.slotStore(s, 4, 4, k(-1));
    const x = b.ctxLoad(60, 4);
    const y = b.bin("udiv", v(x), k(3), 32);
    const p = b.lookupU32("m", v(y));
    const t = b.block();
    const e = b.block();
    b.cbr("eq", v(p), k(0), t, e);
    b.at(t).ret(k(1));
    b.at(e).ret(v(b.setcc("sge", v(x), k(5))));
    expect(printFunction(b.fn)).toBe(
      [
        "fn p(v0) program",
        "  slot s0: 8 bytes align 4 (key)",
        "  slot s1: 4 bytes align 4 (key)",
        "b0:",
        "  slot_store.4 s0+4, 18446744073709551615",
        "  v1 = ctx_load.4 [60]",
        "  v2 = udiv.32 v1, 3",
        "  slot_store.4 s1+0, v2",
        "  v3 = map_ref m : map",
        "  v4 = slot_addr s1+0 : stack",
        "  v5 = call helper#1(v3, v4) : map_value_or_null",
        "  cbr.64 eq v5, 0 -> b1, b2",
        "b1:",
        "  ret 1",
        "b2:",
        "  v6 = setcc.64 sge v1, 5",
        "  ret v6",
        "",
      ].join("\n"),
    );
  });
});

describe("inliner", () => {
  it("replaces every call_local with the callee's blocks and leaves the input module untouched", () => {
    const c = cases().find((x) => x.name === "both_in_net")!;
    const before = printFunction(c.fn);
    const out = inlineCalls(c.module);
    expect(printFunction(c.fn)).toBe(before);
    const prog = out.functions.find((f) => f.name === "both_in_net")!;
    const text = printFunction(prog);
    expect(text).not.toContain("call_local");
    expect(text.match(/and\.32/g)).toHaveLength(2); // one copy of the body per call site
    // Fresh vregs: no id is defined twice except through the inliner's parameter/result moves.
    expect(prog.vregCount).toBeGreaterThan(c.fn.vregCount);
  });

  it("reports unknown callees, arity mismatches and recursion as InlineError", () => {
    const call = (callee: string, args = [k(1)]) => {
      const b = new FnBuilder("main");
      b.emit({ op: "call_local", callee, args });
      b.ret(k(1));
      return b.fn;
    };
    const selfRec = new FnBuilder("rec", false, 1);
    selfRec.emit({ op: "call_local", callee: "rec", args: [v(0)] });
    selfRec.ret(k(0));
    expect(() => inlineCalls(module([call("nope")], []))).toThrow(InlineError);
    expect(() => inlineCalls(module([call("nope")], []))).toThrow(/unknown local function nope/);
    expect(() => inlineCalls(module([call("rec", []), selfRec.fn], []))).toThrow(/takes 1 arguments, called with 0/);
    expect(() => inlineCalls(module([call("rec"), selfRec.fn], []))).toThrow(/depth/);
  });
});

describe("constant folding follows BPF semantics", () => {
  it("divides by zero like BPF and wraps at the width", () => {
    expect(foldBin("udiv", 64, 7n, 0n)).toBe(0n);
    expect(foldBin("umod", 64, 7n, 0n)).toBe(7n);
    expect(foldBin("umod", 32, 0x1_0000_0007n, 0n)).toBe(7n);
    expect(foldBin("sdiv", 64, 1n << 63n, -1n)).toBe(1n << 63n);
    expect(foldBin("sdiv", 32, -7n, 2n)).toBe(0xffff_fffdn);
    expect(foldBin("add", 32, 0xffff_ffffn, 1n)).toBe(0n);
    expect(foldBin("shl", 32, 1n, 33n)).toBe(2n);
    expect(foldBin("ashr", 64, -8n, 1n)).toBe(BigInt.asUintN(64, -4n));
    expect(foldCmp("slt", 32, 0xffff_ffffn, 0n)).toBe(true);
    expect(foldCmp("ult", 32, 0xffff_ffffn, 0n)).toBe(false);
    expect(foldExt(0x80n, 8, true)).toBe(BigInt.asUintN(64, -128n));
    expect(foldBswap(0x1b5fn, 16)).toBe(0x5f1bn);
    expect(foldBswap(0x0102_0304n, 32)).toBe(0x0403_0201n);
  });

  it("folds constant branches and removes the dead side", () => {
    const b = new FnBuilder("f");
    const x = b.bin("mul", k(6), k(7));
    const t = b.block();
    const e = b.block();
    b.cbr("eq", v(x), k(42), t, e);
    b.at(t).ret(k(1));
    b.at(e).ret(k(0));
    simplify(b.fn, 0);
    expect(printFunction(b.fn)).toBe("fn f(v0) program\nb0:\n  ret 1\n");
  });

  it("turns a boolean diamond into setcc and fuses setcc into the branch that tests it", () => {
    const b = new FnBuilder("f");
    const d = b.boolDiamond("ugt", v(b.ctxLoad(60, 4)), k(1024), 32);
    const t = b.block();
    const e = b.block();
    b.cbr("ne", v(d), k(0), t, e);
    b.at(t).ret(k(0));
    b.at(e).ret(k(1));
    simplify(b.fn, 0);
    // (the branch on the boolean returning 0/1 itself becomes a setcc, and the two setccs fold into one)
    expect(printFunction(b.fn)).toBe("fn f(v0) program\nb0:\n  v1 = ctx_load.4 [60]\n  v3 = setcc.32 ule v1, 1024\n  ret v3\n");
  });
});

describe("instruction selection", () => {
  const one = (body: (b: FnBuilder) => number, features?: CodegenFeatures) => {
    const b = new FnBuilder("f");
    const r = body(b);
    b.ret(v(b.bin("and", v(r), k(1))));
    return asm(b, undefined, features);
  };

  it("picks imm32, a zero-extending w move, or lddw for constants", () => {
    expect(one((b) => b.bin("xor", v(b.ctxLoad(8, 4)), v(b.mov(k(0xffff_ffff)))))).toEqual(expect.arrayContaining([expect.stringMatching(/^w\d = -0x1$/)]));
    expect(one((b) => b.bin("xor", v(b.ctxLoad(8, 4)), v(b.mov(k(1n << 40n)))))).toEqual(expect.arrayContaining([expect.stringMatching(/^r\d = 0x10000000000 ll$/)]));
    expect(one((b) => b.bin("add", v(b.ctxLoad(8, 4)), k(-5)))).toEqual(expect.arrayContaining([expect.stringMatching(/^r\d \+= -0x5$/)]));
  });

  it("keeps an immediate that does not fit imm32 out of 64-bit ALU operands", () => {
    const out = one((b) => b.bin("and", v(b.ctxLoad(8, 4)), k(0x1_0000_0001n)));
    expect(out.some((l) => / = 0x100000001 ll$/.test(l))).toBe(true);
    expect(out.some((l) => /&= r\d$/.test(l))).toBe(true);
  });

  it("uses ALU32 for width 32, be16 for byte swaps, shifts for sign extension, off=1 for signed division on cpu-v4 targets", () => {
    expect(one((b) => b.bin("sub", v(b.ctxLoad(8, 4)), k(3), 32))).toEqual(expect.arrayContaining([expect.stringMatching(/^w\d -= 0x3$/)]));
    const sw = one((b) => {
      const d = b.vreg();
      b.emit({ op: "bswap", dst: d, src: v(b.ctxLoad(36, 2)), bits: 16 });
      return d;
    });
    expect(sw).toEqual(expect.arrayContaining([expect.stringMatching(/^r(\d) = be16 r\1$/)]));
    const sx = one((b) => {
      const d = b.vreg();
      b.emit({ op: "ext", dst: d, src: v(b.ctxLoad(8, 4)), bits: 16, signed: true });
      return d;
    });
    expect(sx).toEqual(expect.arrayContaining([expect.stringMatching(/^r\d <<= 0x30$/), expect.stringMatching(/^r\d s>>= 0x30$/)]));
    expect(one((b) => b.bin("sdiv", v(b.ctxLoad(8, 4)), v(b.ctxLoad(12, 4))), { signedDivision: true })).toEqual(expect.arrayContaining([expect.stringMatching(/^r\d s\/= r\d$/)]));
    expect(one((b) => b.bin("shl", v(b.ctxLoad(8, 4)), k(35), 32))).toEqual(expect.arrayContaining([expect.stringMatching(/^w\d <<= 0x3$/)]));
  });

  it("lowers signed division and remainder to unsigned operations by default (no cpu-v4 encoding)", () => {
    const both = (kind: "sdiv" | "smod", width: 32 | 64) => one((b) => b.bin(kind, v(b.ctxLoad(8, 4)), v(b.ctxLoad(12, 4)), width));
    const r = "r";
    // Sign masks, magnitudes, an unsigned division, the quotient's sign from both masks.
    expect(both("sdiv", 64)).toEqual([
      `${r}2 = *(u32 *)(r1 + 0x8)`, "r1 = *(u32 *)(r1 + 0xc)",
      "r3 = r2", "r3 s>>= 0x3f", "r2 ^= r3", "r2 -= r3",
      "r4 = r1", "r4 s>>= 0x3f", "r1 ^= r4", "r1 -= r4",
      "r2 /= r1", "r3 ^= r4", "r2 ^= r3", "r2 -= r3",
      "r2 &= 0x1", "r0 = r2", "exit",
    ]);
    // The remainder takes the dividend's sign only.
    const mod = both("smod", 32);
    expect(mod.filter((l) => /%=/.test(l))).toEqual(["w2 %= w1"]);
    expect(mod.filter((l) => /s>>= 0x1f/.test(l))).toHaveLength(2);
    // A constant divisor needs no run-time sign or magnitude: |−3| = 3, and the quotient's sign is flipped.
    const byConst = one((b) => b.bin("sdiv", v(b.ctxLoad(8, 4)), k(-3), 32));
    expect(byConst.filter((l) => /\/=/.test(l))).toEqual([expect.stringMatching(/^w\d \/= 0x3$/)]);
    expect(byConst.filter((l) => /s>>=/.test(l))).toHaveLength(1);
    for (const out of [both("sdiv", 32), both("smod", 64), mod, byConst]) expect(out.join("\n")).not.toMatch(/s\/=|s%=/);
  });

  it("folds division by a constant zero (the verifier rejects it) to BPF's result", () => {
    const out = one((b) => b.bin("umod", v(b.ctxLoad(8, 4)), v(b.vreg() && b.mov(k(0)))));
    expect(out.join("\n")).not.toMatch(/%=/);
    // A 32-bit operation sees only the low half of its immediate: 1 << 32 is a zero divisor there (found by the fuzzer).
    const wide = one((b) => b.bin("udiv", v(b.ctxLoad(8, 4)), k(1n << 32n), 32));
    expect(wide.join("\n")).not.toMatch(/\/=/);
  });

  it("loads the context only at legal offsets, always from the register holding the original ctx", () => {
    const c = cases().find((x) => x.name === "redir_ip6")!;
    const insns = generate(c.fn, c.module).insns;
    const ctxLoads = insns.filter((i) => classOf(i.opcode) === Class.LDX && i.src !== 10 && i.src !== 0 && i.dst !== i.src);
    const base = new Set(ctxLoads.map((i) => i.src));
    expect(base.size).toBe(1);
    const [r] = [...base];
    // Nothing but the entry copy `r6 = r1` writes that register before the last context load.
    const lastLoad = insns.indexOf(ctxLoads[ctxLoads.length - 1]!);
    const writes = insns.slice(0, lastLoad).filter((i) => (classOf(i.opcode) === Class.ALU64 || classOf(i.opcode) === Class.ALU || classOf(i.opcode) === Class.LDX) && i.dst === r);
    expect(writes).toEqual([mov64(r!, { reg: 1 })].map((w) => expect.objectContaining({ opcode: w.opcode, dst: w.dst, src: w.src })));
  });

  it("rejects context loads the kernel does not accept", () => {
    for (const [off, size] of [[4, 4], [62, 2], [40, 8], [68, 4]] as const) {
      const b = new FnBuilder("f");
      b.ret(v(b.bin("and", v(b.ctxLoad(off, size)), k(1))));
      expect(() => generate(b.fn, module([b.fn], []))).toThrow(new RegExp(`context load at offset ${off}`));
      expect(() => generate(b.fn, module([b.fn], []))).toThrow(BackendError);
    }
  });

  it("moves helper arguments that sit in each other's registers through a parallel move", () => {
    const b = new FnBuilder("f");
    const x = b.ctxLoad(8, 4);
    const y = b.ctxLoad(12, 4);
    b.callVoid(5, [v(x), v(y)]);
    b.ret(k(1));
    const loc = new Map([
      [0, { reg: 6 }],
      [x, { reg: 2 }],
      [y, { reg: 1 }],
    ]);
    const insns = select({ fn: b.fn, module: module([b.fn], []), order: layoutBlocks(b.fn), alloc: { loc, spillSlots: 0, scratch: [], crossing: new Set() }, frame: { slotOffset: new Map(), spillOffset: [], size: 0 }, ctx: 0 });
    // Simulate register contents up to the call: the cycle r1 <-> r2 must be resolved.
    const regs = new Map<number, string>([[1, "ctx"]]);
    for (const i of insns) {
      if (i.opcode === (Class.JMP | JmpOp.CALL)) break;
      if (i.opcode === mov64(0, { reg: 0 }).opcode) regs.set(i.dst, regs.get(i.src)!);
      else if (classOf(i.opcode) === Class.LDX) regs.set(i.dst, `ctx+${i.off}`);
      else throw new Error(`unexpected instruction before the call: ${JSON.stringify(i)}`);
    }
    expect(regs.get(1)).toBe("ctx+8");
    expect(regs.get(2)).toBe("ctx+12");
  });
});

describe("frame and spills", () => {
  it("spills to 8-byte aligned 8-byte slots and keeps the frame within 512 bytes", () => {
    const c = pressure();
    const { insns, stackSize } = generate(c.fn, c.module);
    const spills = insns.filter((i) => (i.src === 10 || i.dst === 10) && (classOf(i.opcode) === Class.STX || classOf(i.opcode) === Class.LDX));
    expect(spills.length).toBeGreaterThan(0);
    for (const s of spills) {
      expect(s.opcode & 0x18).toBe(Size.DW);
      expect(Math.abs(s.off % 8)).toBe(0);
    }
    expect(stackSize).toBeLessThanOrEqual(512);
    expect(stackSize % 8).toBe(0);
  });

  it("rejects a frame over 512 bytes with a BackendError", () => {
    const b = new FnBuilder("big");
    const s1 = b.slot(256, 8);
    const s2 = b.slot(260, 4);
    b.slotStore(s1, 0, 8, k(0));
    b.slotStore(s2, 0, 4, k(0));
    b.ret(k(1));
    expect(() => generate(b.fn, module([b.fn], []))).toThrow(BackendError);
    expect(() => generate(b.fn, module([b.fn], []))).toThrow(/stack frame of 520 bytes exceeds the BPF limit of 512/);
  });

  it("places slots by decreasing alignment below r10", () => {
    const b = new FnBuilder("slots");
    const a = b.slot(2, 2, "a");
    const q = b.slot(8, 8, "q");
    b.slotStore(a, 0, 2, k(1));
    b.slotStore(q, 0, 8, k(2));
    b.ret(k(1));
    expect(asm(b)).toEqual(["*(u16 *)(r10 - 0xa) = 0x1", "*(u64 *)(r10 - 0x8) = 0x2", "r0 = 0x1", "exit"]);
  });
});

describe("errors", () => {
  it("names unknown maps, non-programs and uninlinable calls", () => {
    const b = new FnBuilder("f");
    b.lookupU32("missing", k(0));
    b.ret(k(1));
    expect(() => generate(b.fn, module([b.fn], []))).toThrow(/unknown map missing/);
    const h = new FnBuilder("helper", false);
    h.ret(k(0));
    expect(() => generate(h.fn, module([h.fn], []))).toThrow(/helper is not a program/);
    const c = new FnBuilder("c");
    c.emit({ op: "call_local", callee: "ghost", args: [] });
    c.ret(k(1));
    expect(() => generate(c.fn, module([c.fn], []))).toThrow(BackendError);
    expect(() => generate(c.fn, module([c.fn], []))).toThrow(/unknown local function ghost/);
  });
});

describe("control flow", () => {
  it("emits no jump to the next instruction and no unreachable code", () => {
    for (const c of cases()) {
      const insns = generate(c.fn, c.module).insns;
      const text = disassembleEmitted(insns);
      expect(text.filter((l) => /goto \+0x0$/.test(l)), c.name).toEqual([]);
      insns.forEach((insn, i) => {
        const prev = insns[i - 1];
        if (prev && (prev.opcode === (Class.JMP | JmpOp.EXIT) || prev.opcode === (Class.JMP | JmpOp.JA))) {
          expect(insn.labels?.length, `${c.name}: instruction ${i} after goto/exit has no label`).toBeGreaterThan(0);
        }
      });
      // Every path ends in exit with r0 set by an immediate or a move right before it.
      insns.forEach((insn, i) => {
        if (insn.opcode === (Class.JMP | JmpOp.EXIT)) expect(insns[i - 1]!.dst, c.name).toBe(0);
      });
    }
  });

  it("threads jumps to jumps, drops jumps to the next instruction and inverts a branch over a goto", () => {
    const L = (insn: Instruction, ...labels: string[]) => ({ ...insn, labels });
    const out = peephole([
      jmp64(J.JEQ, 1, 0, "a"),
      ja("b"),
      L(mov64(0, 1), "a"),
      ja("c"),
      L(mov64(0, 0), "b"),
      L(ja("d"), "c"),
      L(exit(), "d"),
    ]);
    const text = disassembleEmitted(out).map((l) => l.split("\t")[1]);
    expect(text).toEqual(["if r1 != 0x0 goto +0x2", "r0 = 0x1", "goto +0x1", "r0 = 0x0", "exit"]);
    expect(out.some((i) => i.opcode === LDDW)).toBe(false);
  });
});

describe("redundant stack stores", () => {
  it("keeps only the changed field when a second lookup rebuilds the same key", () => {
    const b = new FnBuilder("rebuild");
    const key = b.slot(8, 4, "key");
    const build = (port: ReturnType<typeof k>) => {
      b.slotStore(key, 0, 4, v(b.ctxLoad(12, 4))); // a fresh load of the same context field each time
      b.slotStore(key, 4, 4, port);
      return b.call(1, [v(b.mapRef("m")), v(b.slotAddr(key))], "map_value_or_null");
    };
    const first = build(v(b.ctxLoad(60, 4)));
    const retry = b.block();
    const done = b.block();
    b.cbr("eq", v(first), k(0), retry, done);
    b.at(retry);
    const second = build(k(0));
    b.ret(v(b.setcc("ne", v(second), k(0))));
    b.at(done).ret(k(1));
    simplify(b.fn, 0);
    const text = printFunction(b.fn);
    expect(text.match(/slot_store/g)).toHaveLength(3); // protocol once, port twice
    expect(text).toContain("slot_store.4 s0+4, 0");
    expect(text.match(/ctx_load.4 \[12\]/g)).toHaveLength(1);
  });

  it("forgets what a slot holds after a partial overwrite or a helper that may write memory", () => {
    const b = new FnBuilder("partial");
    const s = b.slot(8, 8);
    b.slotStore(s, 0, 8, k(-1));
    b.slotStore(s, 4, 4, k(0));
    b.slotStore(s, 0, 8, k(-1)); // needed again: bytes 4..7 changed
    b.callVoid(89, [v(b.mapRef("m")), v(b.slotAddr(s))]); // map_peek_elem writes into the slot
    b.slotStore(s, 0, 8, k(-1)); // needed again
    b.slotStore(s, 0, 8, k(-1)); // redundant
    b.ret(v(b.setcc("eq", v(b.vreg() && b.ctxLoad(8, 4)), k(2))));
    simplify(b.fn, 0);
    expect(printFunction(b.fn).match(/slot_store\.8/g)).toHaveLength(3);
  });
});

describe("socket release placement", () => {
  it("releases once before a branch when both sides release, one of them after unrelated work", () => {
    const b = new FnBuilder("rel");
    const sk = b.lookupU32("sockets", k(0), "sock_or_null");
    const some = b.block();
    const none = b.block();
    b.cbr("eq", v(sk), k(0), none, some);
    b.at(none).ret(k(1));
    b.at(some);
    const r = b.call(124, [v(b.ctx), v(sk), k(0)]);
    const bad = b.block();
    const good = b.block();
    b.cbr("ne", v(r), k(0), bad, good, 32);
    b.at(bad).callVoid(86, [v(sk)]).ret(k(0));
    b.at(good);
    const p = b.lookupU32("hits", k(0));
    b.emit({ op: "store", ptr: p, offset: 0, size: 8, value: k(1) });
    b.callVoid(86, [v(sk)]);
    b.ret(k(1));
    simplify(b.fn, 0);
    const text = printFunction(b.fn);
    expect(text.match(/call helper#86/g)).toHaveLength(1);
    // The release now comes right after the assign, before the verdict branch.
    expect(text).toMatch(/call helper#124\(v0, v\d+, 0\)\n  call helper#86\(v\d+\)/);
  });
});

describe("verifier-sensitive rewrites", () => {
  it("never hoists a helper call above the null test of its argument", () => {
    const b = new FnBuilder("guarded");
    const sk = b.lookupU32("sockets", k(0), "sock_or_null");
    const t = b.block();
    const e = b.block();
    b.cbr("ne", v(sk), k(0), t, e);
    b.at(t).callVoid(86, [v(sk)]).ret(k(1));
    b.at(e).callVoid(86, [v(sk)]).ret(k(0));
    simplify(b.fn, 0);
    const text = printFunction(b.fn);
    expect(text).toMatch(/cbr\.64 ne v\d+, 0/);
    expect(text.match(/call helper#86/g)).toHaveLength(2);
  });
});

describe("parallel moves into argument registers", () => {
  /** Runs the emitted moves symbolically up to the call and returns what each register holds. */
  const simulate = (insns: Instruction[], init: Map<number, string>) => {
    const regs = new Map(init);
    for (const i of insns) {
      if (i.opcode === (Class.JMP | JmpOp.CALL)) break;
      if (i.opcode === mov64(0, { reg: 0 }).opcode) regs.set(i.dst, regs.get(i.src)!);
      else if (classOf(i.opcode) === Class.LDX) regs.set(i.dst, `ctx+${i.off}`);
      else if (i.opcode === mov64(0, 0).opcode) regs.set(i.dst, `#${i.imm}`);
      else throw new Error(`unexpected instruction before the call: ${JSON.stringify(i)}`);
    }
    return regs;
  };

  it("resolves a three-register cycle and mixes in immediates", () => {
    const b = new FnBuilder("f");
    const x = b.ctxLoad(8, 4);
    const y = b.ctxLoad(12, 4);
    const z = b.ctxLoad(16, 4);
    b.callVoid(5, [v(x), v(y), v(z), k(7)]);
    b.ret(k(1));
    // x in r2, y in r3, z in r1: r1 <- r2 <- r3 <- r1.
    const loc = new Map([[0, { reg: 6 }], [x, { reg: 2 }], [y, { reg: 3 }], [z, { reg: 1 }]]);
    const insns = select({ fn: b.fn, module: module([b.fn], []), order: layoutBlocks(b.fn), alloc: { loc, spillSlots: 0, scratch: [], crossing: new Set() }, frame: { slotOffset: new Map(), spillOffset: [], size: 0 }, ctx: 0 });
    const regs = simulate(insns, new Map([[1, "ctx"]]));
    expect([1, 2, 3, 4].map((r) => regs.get(r))).toEqual(["ctx+8", "ctx+12", "ctx+16", "#7"]);
  });
});

describe("module printer", () => {
  it("lists license, maps and functions", () => {
    const b = new FnBuilder("p");
    b.ret(k(1));
    const m = module([b.fn], [map("sockets", MapType.SOCKMAP, 4, 8, 32), map("lpm", MapType.LPM_TRIE, 12, 4, 16, 1)]);
    expect(printModule(m)).toBe(
      [
        "; module test.ts",
        '; license "GPL"',
        "map sockets: type 15 key 4 value 8 max 32",
        "map lpm: type 11 key 12 value 4 max 16 flags 1",
        "",
        "fn p(v0) program",
        "b0:",
        "  ret 1",
        "",
      ].join("\n"),
    );
  });
});

describe("returns", () => {
  it("branches to an existing `ret 1` block instead of materialising a boolean verdict", () => {
    const b = new FnBuilder("verdict");
    const pass = b.block();
    const go = b.block();
    b.cbr("ne", v(b.ctxLoad(60, 4)), k(7007), pass, go, 32);
    b.at(pass).ret(k(1));
    b.at(go);
    const r = b.call(7, []);
    const verdict = b.setcc("eq", v(r), k(0), 32);
    b.callVoid(5, []);
    b.ret(v(verdict));
    simplify(b.fn, 0);
    const text = printFunction(b.fn);
    expect(text).not.toContain("setcc");
    expect(text).toMatch(/call helper#5\(\)\n  cbr\.32 eq v\d+, 0 -> b1, b3\nb3:\n  ret 0/);
  });

  it("keeps the setcc when no shared return block exists (a branch would cost more)", () => {
    const b = new FnBuilder("verdict2");
    const r = b.call(7, []);
    const verdict = b.setcc("eq", v(r), k(0), 32);
    b.callVoid(5, []);
    b.ret(v(verdict));
    simplify(b.fn, 0);
    expect(printFunction(b.fn)).toContain("setcc.32 eq");
  });
});

describe("known-narrow values", () => {
  it("drops zero extensions and 32-bit identities of values that are already narrow", () => {
    const b = new FnBuilder("narrow");
    const x = b.ctxLoad(8, 4);
    const z = b.vreg();
    b.emit({ op: "ext", dst: z, src: v(x), bits: 32, signed: false });
    const m = b.bin("and", v(b.ctxLoad(60, 4)), k(0xff), 32);
    const z8 = b.vreg();
    b.emit({ op: "ext", dst: z8, src: v(m), bits: 8, signed: false });
    const z4 = b.vreg();
    b.emit({ op: "ext", dst: z4, src: v(b.ctxLoad(60, 4)), bits: 16, signed: false }); // 32 bits wide: kept
    const s = b.bin("add", v(z), v(b.bin("or", v(z8), k(0), 32)));
    b.ret(v(b.bin("and", v(b.bin("xor", v(s), v(z4))), k(1))));
    simplify(b.fn, 0);
    const text = printFunction(b.fn);
    expect(text.match(/zext/g)).toEqual(["zext"]);
    expect(text).toContain("zext.16");
    expect(text).not.toMatch(/or\.32/);
  });
});

describe("malformed IR", () => {
  it("is reported as BackendError naming the problem", () => {
    const mk = (mutate: (b: FnBuilder) => void) => {
      const b = new FnBuilder("bad");
      b.ret(k(1));
      mutate(b);
      return () => generate(b.fn, module([b.fn], []));
    };
    expect(mk((b) => (b.fn.blocks[0]!.term = { op: "br", target: 9 }))).toThrow(/b0 jumps to missing block b9/);
    expect(mk((b) => b.fn.blocks[0]!.insts.push({ op: "mov", dst: 0, src: v(42) }))).toThrow(/reads v42/);
    expect(mk((b) => b.fn.blocks[0]!.insts.push({ op: "slot_load", dst: 0, slot: 3, offset: 0, size: 4 }))).toThrow(/unknown stack slot s3/);
    expect(mk((b) => b.fn.blocks[0]!.insts.push({ op: "call", helper: 6, args: [k(1), k(2), k(3), k(4), k(5), k(6)] }))).toThrow(/at most 5/);
    expect(mk((b) => (b.fn.blocks[0]!.id = 4))).toThrow(BackendError);
  });
});

describe("copy propagation", () => {
  it("reads the source of a copy in later blocks (no register-to-register move survives)", () => {
    const b = new FnBuilder("copies");
    const x = b.ctxLoad(36, 2);
    const t = b.block();
    const e = b.block();
    b.cbr("eq", v(x), k(0x481f), t, e, 32);
    b.at(t).ret(k(0));
    b.at(e);
    const y = b.mov(v(x));
    const t2 = b.block();
    const e2 = b.block();
    b.cbr("eq", v(y), k(0x3123), t, t2, 32);
    b.at(t2).cbr("eq", v(y), k(0x100), t, e2, 32);
    b.at(e2).ret(k(1));
    const text = disassembleEmitted(generate(b.fn, module([b.fn], [])).insns).map((l) => l.split("\t")[1]);
    expect(text.filter((l) => /^r\d = r\d$/.test(l!))).toEqual([]);
    expect(text).toHaveLength(8);
  });
});
