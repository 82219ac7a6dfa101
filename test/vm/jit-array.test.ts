/**
 * Array-map lookups with a proven map and stack key are indexed inline by the JIT (the value array read directly,
 * lookupAt only for a value not created yet). Both tiers must agree on hits, misses past max_entries, first use of
 * an index, and writes through the returned pointer landing in the map.
 */
import { describe, expect, test } from "vitest";
import { AluOp, AtomicOp, Helper, atomic, JmpOp, Size, alu64, call, exit, jmp64, ldMap, ldx, mov64, reg, st, stx, withLabel, type Instruction } from "../../compiler/asm/index.ts";
import { MapType } from "../../compiler/abi/maps.ts";
import { jitSource } from "../../runtime/vm/jit.ts";
import { TCP4, TIERS, hidden, lookupAt, mapDef, outcome, vmOf } from "./harness.ts";
import { Socket } from "../../runtime/net/socket.ts";
import { buildCtx } from "../../runtime/vm/ctx.ts";

const arr = mapDef("arr", MapType.ARRAY, 4, 8, 4);
const socks = mapDef("socks", MapType.SOCKMAP, 4, 8, 4);

/**
 * r0 = 1 (SK_PASS) when socks[key] holds a socket (its reference released), 0 (SK_DROP) when the lookup returns NULL.
 * `dynamic`: the key is a value the JIT's facts cannot know, so the index is read from the stack at run time.
 */
const sockAt = (key: number, dynamic = false): Instruction[] => [
  ...(dynamic ? hidden(3, key) : []),
  ...lookupAt("socks", dynamic ? { reg: 3 } : key),
  jmp64(JmpOp.JEQ, 0, 0, "none"),
  mov64(1, reg(0)),
  call(Helper.sk_release),
  mov64(0, 1),
  exit(),
  withLabel(mov64(0, 0), "none"),
  exit(),
];

/** arr[key] += 5 (through the value pointer), r0 = the new value, or 99 when the lookup returns NULL (`dynamic`: see sockAt). */
const bump = (key: number, dynamic = false): Instruction[] => [
  ...(dynamic ? hidden(3, key) : []),
  ...lookupAt("arr", dynamic ? { reg: 3 } : key),
  jmp64(JmpOp.JEQ, 0, 0, "none"),
  ldx(Size.DW, 1, 0, 0),
  alu64(AluOp.ADD, 1, 5),
  stx(Size.DW, 0, 0, 1),
  ldx(Size.DW, 0, 0, 0),
  exit(),
  withLabel(mov64(0, 99), "none"),
  exit(),
];

describe("JIT inline array lookups", () => {
  test("the inline index path is generated for a key the facts do not know", () => {
    const p = vmOf(bump(1, true), [arr]).program("prog");
    expect(jitSource(p.prepared)).toContain(".values[i]??");
  });

  test("a constant key on a small (pinned) array: the value is a constant, no lookup and no NULL test", () => {
    const src = jitSource(vmOf(bump(1), [arr]).program("prog").prepared);
    expect(src).not.toMatch(/lookupAt|\.values\[|h1\(M,|a0===0&&b0===0/);
    // Past max_entries, the constant key is NULL without a lookup either.
    expect(jitSource(vmOf(bump(4), [arr]).program("prog").prepared)).not.toMatch(/lookupAt|\.values\[|h1\(M,/);
  });

  for (const [key, dynamic] of [0, 3, 4, 0xffffffff].flatMap((k) => [[k, false], [k, true]] as const)) {
    test(`key ${key >>> 0}${dynamic ? " (not known to the JIT)" : ""}: both tiers agree, run after run, and the map sees the writes`, () => {
      for (const tier of TIERS) {
        // A fresh object per tier: the first run creates the value (lookupAt path), later runs find it (inline path).
        const obj = vmOf(bump(key, dynamic), [arr]);
        const p = obj.program("prog");
        const rs = [1, 2, 3].map(() => outcome(p, tier));
        const hit = key < 4;
        expect(rs.map((r) => (r as { r0: bigint }).r0), tier).toEqual(hit ? [5n, 10n, 15n] : [99n, 99n, 99n]);
        if (hit) expect(Number(obj.map("arr").get(key))).toBe(15);
      }
    });
  }

  test("SOCKMAP slots are indexed inline too: hit, empty slot, past max_entries", () => {
    for (const [key, want, dynamic] of [[1, 1n, true], [2, 0n, true], [4, 0n, true], [1, 1n, false], [2, 0n, false], [4, 0n, false]] as const) {
      const results = TIERS.map((tier) => {
        const obj = vmOf(sockAt(key, dynamic), [socks]);
        obj.map("socks").set(1, new Socket({ family: "inet", protocol: "tcp", port: 7007 }));
        const p = obj.program("prog");
        // A constant key in range reads its slot directly; past max_entries it is NULL without a lookup.
        const shape = dynamic ? ".slots[i]??null" : key < 4 ? `.slots[${key}]??null` : "a0=0;b0=0;";
        expect(jitSource(p.prepared)).toContain(shape);
        const r = p.runCtx(buildCtx(TCP4), { tier });
        expect(r.leakedRefs).toEqual([]);
        return outcome(p, tier);
      });
      expect(results[1]).toEqual(results[0]);
      expect((results[0] as { r0: bigint }).r0, `key ${key}`).toBe(want);
    }
  });

  // arr[1]: DW at 0 starts at 0xffffffff (the carry into the high word); W at 4 of arr[2] wraps at 2^32.
  const atomics = (size: Size.W | Size.DW, op: AtomicOp, key: number, off: number, addend: number): Instruction[] => [
    st(Size.W, 10, -4, key),
    mov64(2, reg(10)),
    alu64(AluOp.ADD, 2, -4),
    ldMap(1, "arr"),
    call(Helper.map_lookup_elem),
    jmp64(JmpOp.JEQ, 0, 0, "none"),
    mov64(3, addend),
    atomic(size, op, 0, off, 3),
    ldx(Size.DW, 0, 0, 0),
    // r0 = value * 16 + (fetched old low nibble): both the result and the fetch show up.
    alu64(AluOp.LSH, 0, 4),
    alu64(AluOp.AND, 3, 15),
    alu64(AluOp.ADD, 0, reg(3)),
    exit(),
    withLabel(mov64(0, 0), "none"),
    exit(),
  ];
  for (const [name, size, op, off, addend] of [
    ["add dw", Size.DW, AtomicOp.ADD, 0, 1],
    ["fetch add dw", Size.DW, AtomicOp.ADD | AtomicOp.FETCH, 0, 1],
    ["add w", Size.W, AtomicOp.ADD, 0, 3],
    ["fetch add w", Size.W, AtomicOp.ADD | AtomicOp.FETCH, 0, 3],
    ["fetch add dw past the value (faults)", Size.DW, AtomicOp.ADD | AtomicOp.FETCH, 4, 1],
  ] as const) {
    test(`atomic ${name} on a map value: inline path agrees with the interpreter`, () => {
      const results = TIERS.map((tier) => {
        const obj = vmOf(atomics(size, op, 1, off, addend), [arr]);
        obj.map("arr").set(1, 0xffffffffn);
        const p = obj.program("prog");
        return [outcome(p, tier), outcome(p, tier), Number(obj.map("arr").get(1))];
      });
      expect(results[1]).toEqual(results[0]);
      if (off === 4) expect(results[0]![0]).toMatchObject({ fault: "VmFault" });
      else expect(results[0]![2]).not.toBe(0xffffffff);
    });
  }
});
