/**
 * Unregistered pointers (runtime/vm/jit-lazy.ts): a straight-line program that never observes the words of the map
 * values and sockets it gets leaves them out of the region table (high word LAZY_HI); one instruction that could
 * observe them (a store, a comparison of two pointers, a return, a lookup through the generic helper whose id would
 * shift) keeps every registration, and both tiers agree on every word.
 */
import { describe, expect, test } from "vitest";
import { AluOp, Helper, JmpOp, Size, alu64, call, exit, jmp64, ldMap, mov64, reg, st, stx, withLabel, type Instruction } from "../../compiler/asm/index.ts";
import { MapType } from "../../compiler/abi/maps.ts";
import { jitSource } from "../../runtime/vm/jit.ts";
import { LAZY_HI } from "../../runtime/vm/jit-lazy.ts";
import { Socket } from "../../runtime/net/socket.ts";
import { TIERS, hidden, lookupAt, mapDef, outcome, vmOf } from "./harness.ts";

const socks = mapDef("socks", MapType.SOCKMAP, 4, 8, 4);
/** More entries than the VM pins at load, so its values get run ids. */
const big = mapDef("big", MapType.ARRAY, 4, 8, 100);

/** Both tiers on fresh objects (socks[1] a TCP socket); returns the JIT source and whether it skips registration. */
function both(insns: Instruction[]) {
  const results = TIERS.map((tier) => {
    const obj = vmOf(insns, [socks, big]);
    obj.map("socks").set(1, new Socket({ family: "inet", protocol: "tcp", port: 7007 }));
    return outcome(obj.program("prog"), tier);
  });
  expect(results[1]).toEqual(results[0]);
  const src = jitSource(vmOf(insns, [socks, big]).program("prog").prepared);
  return { out: results[0]!, lazy: src.includes(`=${LAZY_HI};`) };
}

/** r7 = socks[1] (NULL → return 0), then `rest`. */
const withSock = (rest: Instruction[]): Instruction[] => [
  ...lookupAt("socks", 1),
  mov64(7, reg(0)),
  jmp64(JmpOp.JEQ, 7, 0, "none"),
  ...rest,
  withLabel(mov64(0, 0), "none"),
  exit(),
];
const release7 = [mov64(1, reg(7)), call(Helper.sk_release)];

describe("JIT: pointers left unregistered", () => {
  test("a socket only NULL-tested, spilled, reloaded and released: not registered", () => {
    const { out, lazy } = both(withSock([stx(Size.DW, 10, -16, 7), mov64(7, 0), ...reloadRelease(), mov64(0, 1), exit()]));
    expect(out).toMatchObject({ r0: 1n });
    expect(lazy).toBe(true);
  });

  const observers: Array<[string, Instruction[]]> = [
    ["its high word returned", [...release7, mov64(0, reg(7)), alu64(AluOp.RSH, 0, 32), exit()]],
    ["compared with another pointer", [mov64(8, reg(7)), ...release7, mov64(0, 0), jmp64(JmpOp.JNE, 8, reg(7), "ne"), mov64(0, 1), withLabel(exit(), "ne")]],
    ["stored into a map value", [...release7, ...bigValue(), stx(Size.DW, 0, 0, 7), mov64(0, 1), exit()]],
    ["masked (arithmetic beyond an offset)", [...release7, mov64(0, reg(7)), alu64(AluOp.AND, 0, 0x7fffffff), exit()]],
    ["half of its spill slot read back", [stx(Size.DW, 10, -16, 7), ...release7, { opcode: 0x61, dst: 0, src: 10, off: -12, imm: 0 }, exit()]],
  ];
  for (const [name, rest] of observers) {
    test(`a socket pointer ${name}: registered, same words on both tiers`, () => {
      expect(both(withSock(rest)).lazy).toBe(false);
    });
  }

  test("a later lookup through the generic helper (its run id would shift): registered, same id on both tiers", () => {
    // r0 = &big[k] through an r2 the facts do not know, its high word returned: interp and JIT must hand out the
    // same id, so the socket before it must be registered as the interpreter registers it.
    const insns = [
      ...hidden(3, -8),
      ...withSock([
        ...release7,
        st(Size.W, 10, -8, 5),
        mov64(2, reg(10)),
        alu64(AluOp.ADD, 2, reg(3)),
        ldMap(1, "big"),
        call(Helper.map_lookup_elem),
        alu64(AluOp.RSH, 0, 32),
        exit(),
      ]),
    ];
    const { out, lazy } = both(insns);
    expect(lazy).toBe(false);
    expect((out as { r0: bigint }).r0).not.toBe(0n);
  });
});

/** r0 = &big[2] (inline lookup, a run id), NULL → return 0. */
function bigValue(): Instruction[] {
  return [st(Size.W, 10, -8, 2), mov64(2, reg(10)), alu64(AluOp.ADD, 2, -8), ldMap(1, "big"), call(Helper.map_lookup_elem), jmp64(JmpOp.JEQ, 0, 0, "none")];
}

/** Reloads the socket spilled at r10-16 into r1 and releases it. */
function reloadRelease(): Instruction[] {
  return [{ opcode: 0x79, dst: 1, src: 10, off: -16, imm: 0 }, call(Helper.sk_release)];
}
