/**
 * map_update_elem and map_delete_elem that the JIT writes inline (jit-special.ts: an ARRAY update in ArrayMap.update's
 * order, HashMap.updateAt / deleteAt for a hash map) when the map is known, the key and value are in the frame and
 * the flags are a constant. Each case runs on both tiers from the same map contents: the helper's result (r0, errnos
 * included) and the map afterwards must agree, and the generated code must take the inline path (or, where the facts
 * prove less, the helper).
 */
import { describe, expect, test } from "vitest";
import { AluOp, Helper, Size, alu64, call, exit, ldMap, lddw, mov64, reg, st, type Instruction } from "../../compiler/asm/index.ts";
import { MapType, type MapDef } from "../../compiler/abi/maps.ts";
import { jitSource } from "../../runtime/vm/jit.ts";
import type { Region } from "../../runtime/vm/region.ts";
import { TIERS, hidden, mapDef, outcome, updateAt, vmOf } from "./harness.ts";

const ARR = mapDef("m", MapType.ARRAY, 4, 8, 4);
const HASH = mapDef("m", MapType.HASH, 4, 8, 2);
const LRU = mapDef("m", MapType.LRU_HASH, 4, 8, 2);
const PERCPU = mapDef("m", MapType.PERCPU_HASH, 4, 8, 2);
const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);
const u64 = (n: number): Uint8Array => new Uint8Array(new BigUint64Array([BigInt(n)]).buffer);

/** key (fp-4) and an 8-byte value (fp-16) on the stack; r0 = the helper's result. */
const store = (key: number, value: number): Instruction[] => [st(Size.W, 10, -4, key), st(Size.W, 10, -16, value), st(Size.W, 10, -12, 0x01020304)];
const update = (key: number, value: number, flags: number): Instruction[] => [...store(key, value), ...updateAt("m", -4, -16, flags), exit()];
const remove = (key: number): Instruction[] => [st(Size.W, 10, -4, key), ldMap(1, "m"), mov64(2, reg(10)), alu64(AluOp.ADD, 2, -4), call(Helper.map_delete_elem), exit()];
/** Flags the facts cannot know (r4 set through `hidden`). */
const hiddenFlags = (key: number, value: number, flags: number): Instruction[] => [
  ...hidden(6, flags),
  ...store(key, value),
  ldMap(1, "m"),
  mov64(2, reg(10)),
  alu64(AluOp.ADD, 2, -4),
  mov64(3, reg(10)),
  alu64(AluOp.ADD, 3, -16),
  mov64(4, reg(6)),
  call(Helper.map_update_elem),
  exit(),
];
/** Flags of 2^32 (a lddw constant): invalid whatever its low word says. */
const wideFlags = (key: number): Instruction[] => [...store(key, 7), ldMap(1, "m"), mov64(2, reg(10)), alu64(AluOp.ADD, 2, -4), mov64(3, reg(10)), alu64(AluOp.ADD, 3, -16), lddw(4, 1n << 32n), call(Helper.map_update_elem), exit()];

/** r0 and the map's entries (hex) after one run on `tier`, from `fill`. */
function runOn(def: MapDef, insns: Instruction[], fill: Array<[number, number]>, tier: "interp" | "jit") {
  const vm = vmOf(insns, [def]);
  const raw = vm.map("m").raw;
  for (const [k, v] of fill) expect(raw.update(u32(k), u64(v), 0)).toBe(0);
  const out = outcome(vm.program("prog"), tier);
  const entries = raw.entries().map(([k, v]) => `${Buffer.from(k).toString("hex")}=${Buffer.from((v as Region).bytes).toString("hex")}`);
  return { out, entries, src: jitSource(vm.program("prog").prepared) };
}

/** Runs on both tiers; they must agree; returns r0 as a signed number and the entries. */
function agree(def: MapDef, insns: Instruction[], fill: Array<[number, number]> = []) {
  const [a, b] = TIERS.map((t) => runOn(def, insns, fill, t));
  expect(b!.out).toEqual(a!.out);
  expect(b!.entries).toEqual(a!.entries);
  const out = a!.out as { r0: bigint };
  return { r0: Number(BigInt.asIntN(64, out.r0)), entries: a!.entries, src: a!.src };
}

describe("ARRAY updates, inline", () => {
  test("the generated code calls no helper", () => {
    expect(agree(ARR, update(1, 5, 0)).src).not.toMatch(/h2\(M,/);
  });
  const cases: Array<[string, Instruction[], number]> = [
    ["BPF_ANY", update(1, 5, 0), 0],
    ["BPF_EXIST", update(3, 5, 2), 0],
    ["BPF_NOEXIST: EEXIST", update(1, 5, 1), -17],
    ["index past max_entries: E2BIG", update(4, 5, 0), -7],
    ["index past max_entries with BPF_NOEXIST: E2BIG first", update(9, 5, 1), -7],
    ["flags 3: EINVAL", update(1, 5, 3), -22],
    ["flags 2^32: EINVAL", wideFlags(1), -22],
    ["flags the JIT cannot know (helper path)", hiddenFlags(2, 6, 0), 0],
  ];
  for (const [name, insns, r0] of cases) {
    test(`${name}: both tiers agree`, () => {
      const r = agree(ARR, insns, [[1, 9]]);
      expect(r.r0).toBe(r0);
    });
  }
  test("the whole value is written, from the frame", () => {
    expect(agree(ARR, update(2, 0x55, 0)).entries[2]).toBe("02000000=5500000004030201");
  });
});

describe("hash updates and deletes through HashMap.updateAt / deleteAt", () => {
  for (const def of [HASH, LRU, PERCPU]) {
    const kind = `type ${def.type}`;
    test(`${kind}: update and delete call no helper`, () => {
      expect(agree(def, update(1, 5, 0)).src).toMatch(/\.updateAt\(SB,/);
      expect(agree(def, remove(1), [[1, 2]]).src).toMatch(/\.deleteAt\(SB,/);
    });
    const cases: Array<[string, Instruction[], Array<[number, number]>, number, string[]]> = [
      ["update of an existing key", update(1, 5, 2), [[1, 9]], 0, ["01000000=0500000004030201"]],
      ["BPF_EXIST of an absent key: ENOENT", update(2, 5, 2), [[1, 9]], -2, ["01000000=0900000000000000"]],
      ["BPF_NOEXIST of a present key: EEXIST", update(1, 5, 1), [[1, 9]], -17, ["01000000=0900000000000000"]],
      ["flags 7: EINVAL", update(1, 5, 7), [[1, 9]], -22, ["01000000=0900000000000000"]],
      ["flags 2^32: EINVAL", wideFlags(1), [[1, 9]], -22, ["01000000=0900000000000000"]],
      ["delete of an absent key: ENOENT", remove(3), [[1, 9]], -2, ["01000000=0900000000000000"]],
      ["delete", remove(1), [[1, 9], [2, 8]], 0, ["02000000=0800000000000000"]],
    ];
    for (const [name, insns, fill, r0, entries] of cases) {
      test(`${kind}: ${name}: both tiers agree`, () => {
        const r = agree(def, insns, fill);
        expect(r.r0).toBe(r0);
        expect(r.entries).toEqual(entries);
      });
    }
    test(`${kind}: an insert into a full map`, () => {
      // HASH and PERCPU_HASH refuse with E2BIG; LRU evicts the least recently used key (1).
      const r = agree(def, update(3, 5, 0), [[1, 9], [2, 8]]);
      if (def.type === MapType.LRU_HASH) expect(r.entries).toEqual(["02000000=0800000000000000", "03000000=0500000004030201"]);
      else expect(r.r0).toBe(-7);
    });
  }
});
