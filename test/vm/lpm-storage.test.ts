/**
 * The LPM trie's storage (entries in shared chunks, a value's Region made on first use): a value keeps one Region
 * (pointer identity across lookups, user-space updates seen through it), a deleted value that a Region still points
 * to keeps its bytes (the kernel frees after a grace period), slots of values nothing points to are reused, and the
 * trie's nodes are charged to the map memory.
 */
import { expect, test } from "vitest";
import { BPF_F_NO_PREALLOC, MapType } from "../../compiler/abi/maps.ts";
import { elementBytes } from "../../compiler/abi/map-limits.ts";
import { LpmTrieMap } from "../../runtime/maps/lpm.ts";
import { NODE_BYTES } from "../../runtime/maps/lpm-trie.ts";
import { MapMemory } from "../../runtime/maps/map.ts";
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

test("trie nodes are charged to the map memory: prefixes sharing long paths fail with ENOMEM, not by filling the process", () => {
  const def = mapDef("p6", MapType.LPM_TRIE, 20, 4, 100_000, BPF_F_NO_PREALLOC);
  const memory = new MapMemory(1 << 20);
  const m = new LpmTrieMap(def, memory);
  const trie = (m as unknown as { trie: { top: number; freeList: number; n: Int32Array } }).trie;
  const liveNodes = () => {
    let free = 0;
    for (let node = trie.freeList; node !== 0; node = trie.n[node + 33]!) free++;
    return trie.top / 48 - 1 - free;
  };
  const accounted = () => m.size * elementBytes(def) + liveNodes() * NODE_BYTES;
  // Triples of /128 keys that differ in their last nibble: each shares a path of 31 nibbles below its first byte (a
  // leaf holds two prefixes, so the third makes the nodes).
  const k6 = (i: number, last: number) => {
    const k = new Uint8Array(20);
    k[0] = 128;
    k[4] = i;
    k.fill(0xaa, 5, 19);
    k[19] = last;
    return k;
  };
  let stored = 0;
  let rc = 0;
  for (let i = 0; i < 256 && rc === 0; i++) {
    for (const last of [0, 1, 2]) {
      rc = m.update(k6(i, last), u32(i), 0);
      if (rc !== 0) break;
      stored++;
      expect(memory.used).toBe(accounted());
    }
  }
  expect(rc).toBe(-12); // ENOMEM
  // ~6 KB a triple: ~520 keys, where the per-element charge alone (80 bytes) would have let 13000 in.
  expect(stored).toBeGreaterThan(450);
  expect(stored).toBeLessThan(600);
  expect(memory.used).toBe(accounted());
  for (let i = 0; i < 256; i++) for (const last of [0, 1, 2]) m.delete(k6(i, last));
  expect(m.size).toBe(0);
  expect(memory.used).toBe(0);
  expect(liveNodes()).toBe(0);
});
