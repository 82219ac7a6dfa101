/**
 * The LPM trie's storage (entries in shared chunks, a value's Region made on first use): a value keeps one Region
 * (pointer identity across lookups, user-space updates seen through it), a deleted value that a Region still points
 * to keeps its bytes (the kernel frees after a grace period), and slots of values nothing points to are reused.
 */
import { expect, test } from "vitest";
import { BPF_F_NO_PREALLOC, MapType } from "../../compiler/abi/maps.ts";
import { LpmTrieMap } from "../../runtime/maps/lpm.ts";
import type { Region } from "../../runtime/vm/region.ts";
import { mapDef } from "./harness.ts";

const key = (len: number, ...bytes: number[]) => Uint8Array.of(len, 0, 0, 0, ...bytes);
const u32 = (v: number) => Uint8Array.of(v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >>> 24);
const read = (r: Region | null) => (r === null ? null : r.view.getUint32(0, true));

test("one Region per value: the same object on every lookup, and it sees updates", () => {
  const m = new LpmTrieMap(mapDef("p", MapType.LPM_TRIE, 8, 4, 16, BPF_F_NO_PREALLOC));
  expect(m.update(key(16, 10, 1, 0, 0), u32(7), 0)).toBe(0);
  const a = m.lookup(key(32, 10, 1, 2, 3));
  expect(read(a)).toBe(7);
  expect(m.lookup(key(32, 10, 1, 9, 9))).toBe(a);
  expect(m.update(key(16, 10, 1, 0, 0), u32(8), 0)).toBe(0);
  expect(read(a)).toBe(8);
  expect(a!.label).toBe("value of p{/16}");
  expect(m.entries().map(([k, v]) => [[...k], read(v)])).toEqual([[[16, 0, 0, 0, 10, 1, 0, 0], 8]]);
});

test("a deleted value still held keeps its bytes; a new entry gets other memory", () => {
  const m = new LpmTrieMap(mapDef("p", MapType.LPM_TRIE, 8, 4, 16, BPF_F_NO_PREALLOC));
  expect(m.update(key(8, 10, 0, 0, 0), u32(1), 0)).toBe(0);
  const held = m.lookup(key(32, 10, 0, 0, 1));
  expect(m.delete(key(8, 10, 0, 0, 0))).toBe(0);
  expect(m.update(key(8, 11, 0, 0, 0), u32(2), 0)).toBe(0);
  expect(read(held)).toBe(1);
  expect(read(m.lookup(key(32, 11, 0, 0, 1)))).toBe(2);
  expect(m.lookup(key(32, 10, 0, 0, 1))).toBeNull();
});

test("update/delete cycles without lookups reuse slots: the storage does not grow", () => {
  const m = new LpmTrieMap(mapDef("p", MapType.LPM_TRIE, 8, 4, 4, BPF_F_NO_PREALLOC));
  for (let i = 0; i < 5000; i++) {
    expect(m.update(key(32, 10, 0, i >> 8, i & 255), u32(i), 0)).toBe(0);
    expect(m.delete(key(32, 10, 0, i >> 8, i & 255))).toBe(0);
  }
  expect(m.size).toBe(0);
  // One chunk of 1024 entries holds everything (5000 fresh slots would need five).
  expect((m as unknown as { records: unknown[] }).records.length).toBe(1);
});
