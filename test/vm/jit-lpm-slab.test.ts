/**
 * LPM trie values reached without a Region (jit-facts.ts `slab` facts, jit-special.ts): an inline LPM lookup whose
 * pointer words no instruction observes hands the JIT the map's chunk of records and the value's offset in it. Both
 * tiers must agree on every outcome: reads and writes of the value, a spilled and reloaded pointer, a key read from
 * such a value, words observed (the value's Region registered as the interpreter registers it), accesses past the
 * value (faults, never the neighbouring record), and a value deleted in the run that still reads its old bytes after
 * an insert in the same run (the kernel frees after a grace period: compared with the running kernel).
 */
import { describe, expect, test } from "vitest";
import { BPF_F_NO_PREALLOC, MapType } from "../../compiler/abi/maps.ts";
import { AluOp, Helper, JmpOp, Size, alu64, call, exit, jmp64, ldMap, ldx, mov64, reg, st, stx, withLabel, type Instruction } from "../../compiler/asm/index.ts";
import { openKernel } from "../../runtime/kernel/open.ts";
import { LpmTrieMap } from "../../runtime/maps/lpm.ts";
import { jitSource } from "../../runtime/vm/jit.ts";
import { LAZY_HI } from "../../runtime/vm/jit-lazy.ts";
import { VmObject } from "../../runtime/vm/object.ts";
import { describeKernel } from "../support/kernel.ts";
import { TCP4, TIERS, mapDef, objectOf, outcome, vmOf, wrap, updateAt } from "./harness.ts";

/** Keys {u32 prefixLen, 4 data bytes}, 8-byte values. */
const P = mapDef("p", MapType.LPM_TRIE, 8, 8, 16, BPF_F_NO_PREALLOC);
const OUT = mapDef("out", MapType.ARRAY, 4, 8, 1);

const u32le = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
/** The /32 key of `addr` as the programs below store it (two little-endian words). */
const key = (addr: number): Uint8Array => Uint8Array.of(32, 0, 0, 0, ...u32le(addr));
const A = 0x0a000001;
const B = 0x0a000002;
/** p: A → the key of B (so that a value can be the next lookup's key), B → 8 distinct bytes, C (/8) → zeros. */
function fill(obj: VmObject): void {
  const raw = obj.map("p").raw;
  expect(raw.update(key(A), key(B), 0)).toBe(0);
  expect(raw.update(key(B), Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), 0)).toBe(0);
  expect(raw.update(Uint8Array.of(8, 0, 0, 0, 0x0b, 0, 0, 0), new Uint8Array(8), 0)).toBe(0);
}

/** `r0 = p[/32 addr]` with the key at fp-8 (r1-r5 clobbered). */
const lookup = (addr: number): Instruction[] => [st(Size.W, 10, -8, 32), st(Size.W, 10, -4, addr), mov64(2, reg(10)), alu64(AluOp.ADD, 2, -8), ldMap(1, "p"), call(Helper.map_lookup_elem)];
/** `rest` with r6 = p[/32 addr], returning 99 when it is missing. */
const withValue = (addr: number, rest: Instruction[]): Instruction[] => [...lookup(addr), jmp64(JmpOp.JEQ, 0, 0, "none"), mov64(6, reg(0)), ...rest, withLabel(mov64(0, 99), "none"), exit()];

/** Both tiers on fresh filled objects: the outcome and p's values after the run must agree; the JIT's source. */
function both(insns: Instruction[]) {
  const runs = TIERS.map((tier) => {
    const obj = vmOf(insns, [P]);
    fill(obj);
    const out = outcome(obj.program("prog"), tier);
    const values = (obj.map("p").raw as LpmTrieMap).entries().map(([k, v]) => `${Buffer.from(k).toString("hex")}=${Buffer.from(v.bytes).toString("hex")}`);
    return { out, values };
  });
  expect(runs[1]).toEqual(runs[0]);
  const obj = vmOf(insns, [P]);
  fill(obj);
  const src = jitSource(obj.program("prog").prepared);
  return { out: runs[0]!.out, values: runs[0]!.values, src, lazy: src.includes(`=${LAZY_HI};`) };
}

describe("JIT: LPM trie values through their record slab", () => {
  test("reads and writes of the value: no Region, same results and map contents", () => {
    const r = both(withValue(B, [st(Size.W, 6, 4, 0x55), ldx(Size.DW, 0, 6, 0), exit()]));
    expect(r.out).toMatchObject({ r0: 0x0000005504030201n });
    expect(r.values).toContain(`200000000200000a=0102030455000000`);
    expect(r.lazy).toBe(true);
    expect(r.src).toContain(".findId(SB,");
    expect(r.src).toMatch(/g0=K\d+\.slabs\[i>>10\];x0=\(i&1023\)\*20\+8;/);
    expect(r.src).toContain("g6.view.setInt32(x6+4,85,true)");
  });

  test("a pointer spilled and reloaded keeps its offset in the slab", () => {
    const r = both(withValue(B, [stx(Size.DW, 10, -16, 6), mov64(6, 0), ldx(Size.DW, 7, 10, -16), ldx(Size.W, 0, 7, 4), exit()]));
    expect(r.out).toMatchObject({ r0: 0x08070605n });
    expect(r.src).toContain("s496=g6;t496=x6;");
    expect(r.src).toContain("g7=s496;x7=t496;");
  });

  test("a key read from a slab value: the next lookup reads it at the value's offset", () => {
    const r = both(withValue(A, [mov64(2, reg(6)), ldMap(1, "p"), call(Helper.map_lookup_elem), jmp64(JmpOp.JEQ, 0, 0, "none"), ldx(Size.B, 0, 0, 7), exit()]));
    expect(r.out).toMatchObject({ r0: 8n });
    expect(r.src).toContain(".findId(g2.bytes,x2)");
  });

  test("pointer words observed: the value's Region is registered, same words on both tiers", () => {
    const r = both(withValue(B, [mov64(0, reg(6)), alu64(AluOp.RSH, 0, 32), exit()]));
    expect(r.lazy).toBe(false);
    expect("r0" in r.out && r.out.r0 !== 0n).toBe(true);
  });

  for (const [name, off] of [
    ["just past the value (the record's link)", 8],
    ["before the value (its key)", -4],
  ] as const) {
    test(`a read ${name} faults on both tiers`, () => {
      const r = both(withValue(B, [ldx(Size.W, 0, 6, off), exit()]));
      expect(r.out).toMatchObject({ fault: "VmFault" });
    });
  }

  test("NULL for a key that matches nothing", () => {
    expect(both(withValue(0x0c000001, [mov64(0, 1), exit()])).out).toMatchObject({ r0: 99n });
  });
});

/**
 * r6 = p[B]; delete B; insert a new prefix D → 0x1111111111111111; r0 = *(u64 *)r6 (B's old bytes: its storage must
 * not have gone to D in the same run).
 */
const DELETE_THEN_INSERT: Instruction[] = withValue(B, [
  ldMap(1, "p"),
  mov64(2, reg(10)),
  alu64(AluOp.ADD, 2, -8),
  call(Helper.map_delete_elem),
  st(Size.W, 10, -24, 32),
  st(Size.W, 10, -20, 0x0d000001),
  st(Size.W, 10, -32, 0x11111111),
  st(Size.W, 10, -28, 0x11111111),
  ...updateAt("p", -24, -32),
  ldx(Size.DW, 0, 6, 0),
  exit(),
]);

describe("JIT: an LPM value deleted during the run", () => {
  test("keeps its bytes for the run's pointers after an insert in the same run (both tiers)", () => {
    const r = both(DELETE_THEN_INSERT);
    expect(r.out).toMatchObject({ r0: 0x0807060504030201n });
    expect(r.lazy).toBe(true);
  });

  test("its storage is reused from the next run on: a thousand runs that delete and insert stay in one chunk", () => {
    const obj = vmOf(DELETE_THEN_INSERT, [P]);
    fill(obj);
    const p = obj.program("prog");
    const raw = obj.map("p").raw as LpmTrieMap;
    for (let i = 0; i < 1100; i++) {
      expect(p.exec(TCP4, { tier: "jit" })).toBe(0x0807060504030201n);
      // Put B back and delete D, for the next run to delete B and insert D again.
      expect(raw.update(key(B), Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), 0)).toBe(0);
      expect(raw.delete(key(0x0d000001))).toBe(0);
    }
    expect(raw.size).toBe(3);
    expect((raw as unknown as { records: unknown[] }).records.length).toBe(1);
  });
});

describeKernel("LPM value deleted during the run: VM vs kernel", () => {
  test("the kernel also reads the deleted value's old bytes", () => {
    const file = objectOf({ prog: wrap(DELETE_THEN_INSERT) }, [P, OUT]);
    const k = openKernel().load(file);
    try {
      const km = k.map("p");
      km.update(key(A), key(B));
      km.update(key(B), Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
      expect(k.program("prog").testRun(TCP4).retval).toBe(1);
      const kernelR0 = k.map("out").lookupInt(0);
      expect(kernelR0).toBe(0x0807060504030201n);
      for (const tier of TIERS) {
        const vm = new VmObject(file);
        fill(vm);
        expect(vm.run("prog", TCP4, { tier }).verdict).toBe("SK_PASS");
        expect(BigInt(vm.map("out").get(0) as number | string), `${tier} vs kernel`).toBe(kernelR0);
      }
    } finally {
      k.close();
    }
  });
});
