/**
 * Code the JIT specialises on its own data-flow facts (runtime/vm/jit-facts.ts, jit-special.ts): each case pins the
 * specialised shape where the facts prove it and the generic, checked shape where a hostile twin breaks the proof,
 * and both tiers must agree on r0, the count and every fault.
 */
import { describe, expect, test } from "vitest";
import { AluOp, Helper, JmpOp, Size, alu64, call, callLocal, exit, jmp64, ldMap, ldx, mov64, reg, st, stx, withLabel, type Instruction } from "../../compiler/asm/index.ts";
import { MapType } from "../../compiler/abi/maps.ts";
import { jitSource } from "../../runtime/vm/jit.ts";
import { Socket } from "../../runtime/net/socket.ts";
import { TIERS, hidden, lookupAt, mapDef, outcome, vmOf } from "./harness.ts";

const arr = mapDef("arr", MapType.ARRAY, 4, 8, 4);
const socks = mapDef("socks", MapType.SOCKMAP, 4, 8, 4);

/** Runs on both tiers (socks[1] holds a TCP socket) and checks they agree; returns the outcome, source and leaks. */
function both(insns: Instruction[]) {
  const results = TIERS.map((tier) => {
    const obj = vmOf(insns, [arr, socks]);
    obj.map("socks").set(1, new Socket({ family: "inet", protocol: "tcp", port: 7007 }));
    const p = obj.program("prog");
    const out = outcome(p, tier);
    return { out, src: jitSource(p.prepared), held: obj.machine.held.length };
  });
  expect(results[1]!.out).toEqual(results[0]!.out);
  expect(results[1]!.held).toBe(results[0]!.held);
  return results[1]!;
}

/** r0 = socks[1] (a socket pointer), its NULL test done; then `rest`. */
const sockLookup = (rest: Instruction[]): Instruction[] => [
  ...lookupAt("socks", 1),
  jmp64(JmpOp.JEQ, 0, 0, "none"),
  ...rest,
  withLabel(mov64(0, 0), "none"),
  exit(),
];

describe("JIT facts: spilled pointers", () => {
  test("a socket pointer spilled and reloaded keeps its object: sk_release without the argument checks", () => {
    const { out, src, held } = both(sockLookup([stx(Size.DW, 10, -16, 0), mov64(0, 0), ldx(Size.DW, 1, 10, -16), call(Helper.sk_release), mov64(0, 1), exit()]));
    expect(out).toEqual({ r0: 1n, n: 12 });
    expect(held).toBe(0);
    expect(src).toContain("s496=g0;");
    expect(src).toContain("g1=s496;");
    expect(src).toContain("SR(M,g1,");
    expect(src).not.toContain("h86(");
  });

  test("a spill slot half overwritten is not a pointer any more: the helper checks it and faults like the interpreter", () => {
    const { out, src } = both(sockLookup([stx(Size.DW, 10, -16, 0), st(Size.W, 10, -12, 0), ldx(Size.DW, 1, 10, -16), call(Helper.sk_release), mov64(0, 1), exit()]));
    expect(out).toMatchObject({ fault: "VmFault" });
    expect((out as { message: string }).message).toMatch(/sk_release: .*not a pointer|sk_release/);
    expect(src).toContain("h86(");
  });

  test("a slot written through a pointer the facts do not know drops the spill", () => {
    // r4 = r10 + r3, r3 = 0 unknown to the facts; *(u64 *)(r4 - 16) = 0 overwrites the spilled socket.
    const { out, src } = both([
      ...hidden(3, 0),
      ...sockLookup([stx(Size.DW, 10, -16, 0), mov64(4, reg(10)), alu64(AluOp.ADD, 4, reg(3)), st(Size.DW, 4, -16, 0), ldx(Size.DW, 1, 10, -16), call(Helper.sk_release), mov64(0, 1), exit()]),
    ]);
    expect(out).toMatchObject({ fault: "VmFault" });
    expect(src).toContain("h86(");
  });
});

describe("JIT facts: NULL tests and constants", () => {
  test("a NULL test through a copy proves the original too (same lookup)", () => {
    // r6 = r0 (dynamic key: a real lookup); if r6 == 0 → out; then *(u64 *)(r0 + 0) = 7 needs no check.
    const { out, src } = both([
      ...hidden(3, 2),
      ...lookupAt("arr", { reg: 3 }),
      mov64(6, reg(0)),
      jmp64(JmpOp.JEQ, 6, 0, "out"),
      st(Size.DW, 0, 0, 7),
      ldx(Size.DW, 0, 6, 0),
      withLabel(exit(), "out"),
    ]);
    expect(out).toMatchObject({ r0: 7n });
    expect(src).toContain("g0.view.setInt32(0,7,true)");
    expect(src).toContain("g6.view.getInt32(0,true)");
  });

  test("a lookup after the NULL test of an earlier one is not proven by it", () => {
    // r6 = arr[k] (tested non-NULL), then r0 = arr[9] (NULL): a store through r0 must fault as a NULL write.
    const { out, src } = both([
      ...hidden(3, 2),
      ...lookupAt("arr", { reg: 3 }),
      mov64(6, reg(0)),
      jmp64(JmpOp.JEQ, 6, 0, "out"),
      ...hidden(3, 9),
      ...lookupAt("arr", { reg: 3 }),
      st(Size.DW, 0, 0, 7),
      withLabel(exit(), "out"),
    ]);
    expect(out).toMatchObject({ fault: "VmFault" });
    expect((out as { message: string }).message).toMatch(/NULL pointer/);
    expect(src).toContain("M.wview(");
  });

  test("comparisons of constants are decided at JIT time, with the interpreter's count", () => {
    const { out, src } = both([mov64(0, 5), alu64(AluOp.MUL, 0, 3), jmp64(JmpOp.JEQ, 0, 15, "yes"), mov64(0, 0), exit(), withLabel(mov64(0, 1), "yes"), exit()]);
    expect(out).toEqual({ r0: 1n, n: 5 });
    expect(src).not.toContain("a0===15");
  });
});

describe("JIT facts: ctx->sk", () => {
  test("ctx->sk read before and after sk_assign: NULL, then the selected socket's fields", () => {
    // r6 = ctx; r7 = ctx->sk (NULL); assign socks[1]; r8 = ctx->sk; r0 = r8->protocol (6) + (r7 == NULL).
    const { out, src } = both([
      mov64(6, reg(1)),
      ldx(Size.DW, 7, 6, 0),
      ...sockLookup([
        mov64(8, reg(0)),
        mov64(1, reg(6)),
        mov64(2, reg(0)),
        mov64(3, 0),
        call(Helper.sk_assign),
        mov64(1, reg(8)),
        call(Helper.sk_release),
        ldx(Size.DW, 8, 6, 0),
        jmp64(JmpOp.JEQ, 8, 0, "none"),
        ldx(Size.W, 0, 8, 12),
        jmp64(JmpOp.JNE, 7, 0, "none"),
        alu64(AluOp.ADD, 0, 100),
        exit(),
      ]),
    ]);
    expect(out).toMatchObject({ r0: 106n });
    expect(src).toContain("{const e=SC(M,g2);");
    expect(src).toContain("g8.region.view.getInt32(12,true)");
  });
});

describe("JIT facts: frames read before written", () => {
  const needs = (insns: Instruction[]): boolean | undefined => vmOf(insns, [arr, socks]).program("prog").jit().needsZeroStack;
  test("a key written before the lookup reads, a socket assigned and released: no zeroed frame needed", () => {
    expect(needs(sockLookup([mov64(1, reg(0)), call(Helper.sk_release), mov64(0, 1), exit()]))).toBe(false);
  });
  test("each read of a byte some path leaves unwritten needs the zeroed frame", () => {
    expect(needs([ldx(Size.W, 0, 10, -4), exit()])).toBe(true);
    // Written on one path only.
    expect(needs([...hidden(3, 0), jmp64(JmpOp.JEQ, 3, 0, "skip"), st(Size.W, 10, -4, 1), withLabel(ldx(Size.W, 0, 10, -4), "skip"), exit()])).toBe(true);
    // A wider read than the write; a key of 4 bytes with only 2 written.
    expect(needs([st(Size.W, 10, -8, 1), ldx(Size.DW, 0, 10, -8), exit()])).toBe(true);
    expect(needs([st(Size.H, 10, -4, 1), mov64(2, reg(10)), alu64(AluOp.ADD, 2, -4), ldMap(1, "arr"), call(Helper.map_lookup_elem), exit()])).toBe(true);
    // Through a frame pointer the facts do not know.
    expect(needs([...hidden(3, 0), st(Size.W, 10, -4, 1), mov64(4, reg(10)), alu64(AluOp.ADD, 4, reg(3)), ldx(Size.W, 0, 4, -4), exit()])).toBe(true);
  });
  test("BPF-to-BPF calls: each function checked on its own frame; a callee reading its caller's frame needs zeroing", () => {
    const callee = (body: Instruction[]): Instruction[] => [st(Size.W, 10, -4, 5), mov64(1, reg(10)), alu64(AluOp.ADD, 1, -4), callLocal("f"), exit(), ...body];
    expect(needs(callee([withLabel(st(Size.W, 10, -8, 1), "f"), ldx(Size.W, 0, 10, -8), exit()]))).toBe(false);
    expect(needs(callee([withLabel(ldx(Size.W, 0, 10, -8), "f"), exit()]))).toBe(true);
    // r1 points into the caller's frame: read through a pointer the callee's facts do not place.
    expect(needs(callee([withLabel(ldx(Size.W, 0, 1, 0), "f"), exit()]))).toBe(true);
    // Both tiers agree on the value read through it, run after run.
    for (const tier of TIERS) expect(outcome(vmOf(callee([withLabel(ldx(Size.W, 0, 1, 0), "f"), exit()])).program("prog"), tier)).toMatchObject({ r0: 5n });
  });
});

describe("JIT facts: sk_assign inline", () => {
  // Two assigns in a row (the second meets the first's selection): r0 = ret1 * 1000 + ret2; the selection and
  // NO_REUSEPORT after the run compared too. Sockets: socks[1] TCP (assignable), socks[2] UDP (wrong protocol).
  const flagsSet: Array<[string, Instruction[]]> = [
    ["0", [mov64(3, 0)]],
    ["REPLACE", [mov64(3, 1)]],
    ["NO_REUSEPORT", [mov64(3, 2)]],
    ["both", [mov64(3, 3)]],
    ["unknown bit", [mov64(3, 4)]],
    ["high word", [mov64(3, 1), alu64(AluOp.LSH, 3, 32)]],
  ];
  const sockets: Array<[string, Instruction[]]> = [
    ["NULL", [mov64(2, 0)]],
    ["TCP", [mov64(2, reg(7))]],
    ["UDP", [mov64(2, reg(8))]],
  ];
  const lookupInto = (r: number, key: number): Instruction[] => [
    st(Size.W, 10, -4, key),
    mov64(2, reg(10)),
    alu64(AluOp.ADD, 2, -4),
    ldMap(1, "socks"),
    call(Helper.map_lookup_elem),
    jmp64(JmpOp.JEQ, 0, 0, "none"),
    mov64(r, reg(0)),
  ];
  for (const [fname, flags] of flagsSet) {
    for (const [sname, sk] of sockets) {
      test(`flags ${fname}, socket ${sname}`, () => {
        const insns = [
          mov64(6, reg(1)),
          ...lookupInto(7, 1),
          ...lookupInto(8, 2),
          mov64(1, reg(6)),
          ...sk,
          ...flags,
          call(Helper.sk_assign),
          mov64(9, reg(0)),
          alu64(AluOp.MUL, 9, 1000),
          mov64(1, reg(6)),
          ...sk,
          ...flags,
          call(Helper.sk_assign),
          alu64(AluOp.ADD, 9, reg(0)),
          mov64(1, reg(7)),
          call(Helper.sk_release),
          mov64(1, reg(8)),
          call(Helper.sk_release),
          mov64(0, reg(9)),
          exit(),
          withLabel(mov64(0, 0), "none"),
          exit(),
        ];
        const seen = TIERS.map((tier) => {
          const obj = vmOf(insns, [socks]);
          obj.map("socks").set(1, new Socket({ name: "tcp", family: "inet", protocol: "tcp", port: 7007 }));
          obj.map("socks").set(2, new Socket({ name: "udp", family: "inet", protocol: "udp", port: 7007 }));
          const out = outcome(obj.program("prog"), tier);
          return { out, selected: obj.machine.selected?.name ?? null, noReuseport: obj.machine.noReuseport };
        });
        expect(seen[1]).toEqual(seen[0]);
        expect(seen[0]!.out).toHaveProperty("r0");
        // Invalid flags are EINVAL at JIT time; a socket is checked by SC; NULL needs neither.
        const src = jitSource(vmOf(insns, [socks]).program("prog").prepared);
        const invalid = fname === "unknown bit" || fname === "high word";
        if (invalid) expect(src).toContain("a0=-22;b0=-1;");
        expect(src.includes("SC(M,g2)")).toBe(!invalid && sname !== "NULL");
      });
    }
  }
});

describe("JIT facts: a map value as the key of another lookup", () => {
  // r0 = &arr[hidden 1] (its value 1 set by the test), then socks[*(u32 *)(r0 + off)]: inline with the key read
  // from the value; past the value's end the helper checks the key and faults as the interpreter does.
  const prog = (off: number): Instruction[] => [
    ...hidden(3, 1),
    ...lookupAt("arr", { reg: 3 }),
    jmp64(JmpOp.JEQ, 0, 0, "none"),
    mov64(2, reg(0)),
    alu64(AluOp.ADD, 2, off),
    ldMap(1, "socks"),
    call(Helper.map_lookup_elem),
    jmp64(JmpOp.JEQ, 0, 0, "none"),
    mov64(1, reg(0)),
    call(Helper.sk_release),
    mov64(0, 1),
    exit(),
    withLabel(mov64(0, 0), "none"),
    exit(),
  ];
  const run = (off: number) =>
    TIERS.map((tier) => {
      const obj = vmOf(prog(off), [arr, socks]);
      obj.map("socks").set(1, new Socket({ family: "inet", protocol: "tcp", port: 7007 }));
      obj.map("arr").set(1, 1n);
      return { out: outcome(obj.program("prog"), tier), src: jitSource(obj.program("prog").prepared), held: obj.machine.held.length };
    });
  test("in bounds: the index read from the value, the socket found and released", () => {
    const [i, j] = run(0);
    expect(j!.out).toEqual(i!.out);
    expect(i!.out).toMatchObject({ r0: 1n });
    expect(j!.held).toBe(0);
    expect(j!.src).toContain("g2.view.getUint32(0,true)");
    expect(j!.src).not.toContain("h1(M,");
  });
  test("a key running past the value's end: the helper call, the same fault", () => {
    const [i, j] = run(6);
    expect(j!.out).toEqual(i!.out);
    expect(i!.out).toMatchObject({ fault: "VmFault" });
    expect(j!.src).toContain("h1(M,");
  });
});

describe("JIT facts: pointer arithmetic that carries into the high word", () => {
  // r10 - 2^31 borrows from the high word: the pointer names the region below frame 0 (ctx), not the frame at a far
  // offset; the facts must drop it, and both tiers fault alike (found by the hardening fuzzer).
  for (const [name, insns] of [
    ["frame - 2^31 as a key", [st(Size.W, 10, -4, 0), mov64(2, reg(10)), alu64(AluOp.ADD, 2, -0x80000000), ldMap(1, "arr"), call(Helper.map_lookup_elem), exit()]],
    ["frame - 2^31 loaded", [mov64(2, reg(10)), alu64(AluOp.ADD, 2, -0x80000000), ldx(Size.W, 0, 2, 0), exit()]],
    ["ctx + 2^31 - 1 + 2^31 - 1", [mov64(2, reg(1)), alu64(AluOp.ADD, 2, 0x7fffffff), alu64(AluOp.ADD, 2, 0x7fffffff), ldx(Size.W, 0, 2, 0), exit()]],
  ] as Array<[string, Instruction[]]>) {
    test(name, () => {
      const { out } = both(insns);
      expect(out).toMatchObject({ fault: "VmFault" });
    });
  }
});
