/**
 * The LPM trie map against a brute-force longest-prefix match over the same entries, through random updates,
 * overwrites and deletes (the trie changes in place), with iteration in the kernel's order; and its nodes freed and
 * reused as prefixes come and go.
 */
import { describe, expect, test } from "vitest";
import { BPF_F_NO_PREALLOC, MapType } from "../../compiler/abi/maps.ts";
import { elementBytes } from "../../compiler/abi/map-limits.ts";
import { LpmTrieMap } from "../../runtime/maps/lpm.ts";
import { NODE_BYTES } from "../../runtime/maps/lpm-trie.ts";
import { FEW_MAX, FewPrefixes } from "../../runtime/maps/lpm-few.ts";
import { MapMemory } from "../../runtime/maps/map.ts";
import type { Region } from "../../runtime/vm/region.ts";
import { mapDef } from "./harness.ts";

/** xorshift32, so a failure reproduces. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

/** Key bytes: u32 prefix length (host order) then `data`. */
function key(len: number, data: Uint8Array): Uint8Array {
  const k = new Uint8Array(4 + data.length);
  new DataView(k.buffer).setUint32(0, len, true);
  k.set(data, 4);
  return k;
}

/** True when the first `len` bits of a and b agree. */
function samePrefix(a: Uint8Array, b: Uint8Array, len: number): boolean {
  for (let i = 0; i < len; i++) {
    const bit = (x: Uint8Array) => (x[i >> 3]! >> (7 - (i & 7))) & 1;
    if (bit(a) !== bit(b)) return false;
  }
  return true;
}

describe("LPM trie map", () => {
  // "few": four prefix lengths (0, 3, half, all), so that prefixes nest often; "any": every length. Maps of at most
  // 12 entries keep crossing FEW_MAX, so that lookups alternate between the few-prefix table and the trie walk.
  const cases = [[1, "any", 64], [4, "any", 64], [8, "any", 64], [1, "few", 64], [4, "few", 64], [8, "few", 64], [4, "any", 12], [8, "few", 12], [20, "any", 12]] as const;
  for (const [dataSize, lengths, maxEntries] of cases) {
    test(`agrees with a brute-force longest-prefix match (${dataSize}-byte data, ${lengths} prefix lengths, ${maxEntries} entries)`, () => {
      const next = rng(dataSize * 7919 + maxEntries);
      const def = mapDef("p", MapType.LPM_TRIE, 4 + dataSize, 4, maxEntries, BPF_F_NO_PREALLOC);
      const memory = new MapMemory();
      const m = new LpmTrieMap(def, memory);
      // Elements and trie nodes in use are what the map memory holds (reserve charges exactly the nodes insert makes).
      const trie = (m as unknown as { trie: { top: number; freeList: number; n: Int32Array } }).trie;
      const accounted = () => {
        let free = 0;
        for (let node = trie.freeList; node !== 0; node = trie.n[node + 33]!) free++;
        return m.size * elementBytes(def) + (trie.top / 48 - 1 - free) * NODE_BYTES;
      };
      const bits = dataSize * 8;
      // The model: live entries by (len, masked data) with the value bytes they were last given.
      const model = new Map<string, { len: number; data: Uint8Array; value: number }>();
      // Few distinct data patterns, so that prefixes overlap and lookups hit often.
      const pattern = (): Uint8Array => Uint8Array.from({ length: dataSize }, (_, i) => ((next() & 3) === 0 ? next() & 0xff : (i * 37) & 0xff));
      const mask = (d: Uint8Array, len: number): Uint8Array => d.map((b, i) => (i * 8 >= len ? 0 : i * 8 + 8 <= len ? b : b & (0xff00 >> (len - i * 8)) & 0xff));
      let hits = 0;
      // Lookups made while the few-prefix table answers them (FEW_MAX prefixes or fewer, the /0 one aside).
      let fewLookups = 0;
      for (let step = 0; step < 1500; step++) {
        const op = next() % 4;
        const len = lengths === "few" ? [0, 3, bits >> 1, bits][next() % 4]! : next() % (bits + 1);
        const data = pattern();
        const id = `${len}/${mask(data, len).join(",")}`;
        if (op === 0) {
          const value = next() & 0xffff;
          const rc = m.update(key(len, data), Uint8Array.of(value & 0xff, value >> 8, 0, 0), 0);
          if (rc === 0) model.set(id, { len, data: mask(data, len), value });
          else expect(model.size).toBe(maxEntries);
        } else if (op === 1 && maxEntries < 64 && model.size > 0 && (next() & 1) === 0) {
          // Small maps delete a stored prefix half the time, so that their size keeps going up and down.
          const [storedId, e] = [...model.entries()][next() % model.size]!;
          expect(m.delete(key(e.len, e.data))).toBe(0);
          model.delete(storedId);
        } else if (op === 1) {
          expect(m.delete(key(len, data))).toBe(model.delete(id) ? 0 : -2);
        } else {
          const limit = next() % (bits + 9); // beyond the data size too: such a key matches nothing
          let best: { len: number; value: number } | undefined;
          for (const e of model.values()) {
            if (limit <= bits && e.len <= limit && samePrefix(e.data, data, e.len) && (!best || e.len > best.len)) best = e;
          }
          const got = m.lookup(key(limit, data)) as Region | null;
          if ((trie as unknown as { fewOn: boolean }).fewOn) fewLookups++;
          if (best) hits++;
          expect(got === null ? null : got.bytes[0]! | (got.bytes[1]! << 8)).toBe(best ? best.value : null);
        }
        expect(memory.used).toBe(accounted());
      }
      expect(hits).toBeGreaterThan(50);
      if (maxEntries <= 12 && FewPrefixes.fits(dataSize)) expect(fewLookups).toBeGreaterThan(50);
      // Iteration: the kernel's get_next_key order (post-order of the binary trie: a longer prefix before the prefix it
      // extends, next bit 0 before next bit 1), which test/vm/lpm-kernel.test.ts checks against the kernel itself.
      const bitsOf = (e: { len: number; data: Uint8Array }) => Array.from({ length: e.len }, (_, i) => (e.data[i >> 3]! >> (7 - (i & 7))) & 1).join("");
      const kernelOrder = (a: string, b: string) => {
        for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] === "0" ? -1 : 1;
        return b.length - a.length;
      };
      const expected = [...model.values()].map((e) => ({ bits: bitsOf(e), value: e.value })).sort((a, b) => kernelOrder(a.bits, b.bits));
      const got = m.entries().map(([k, v]) => ({ bits: bitsOf({ len: k[0]!, data: k.subarray(4) }), value: v.bytes[0]! | (v.bytes[1]! << 8) }));
      expect(got).toEqual(expected);
    });
  }
});

test("deleting every prefix frees every trie node, and refilling reuses them", () => {
  const next = rng(77);
  const m = new LpmTrieMap(mapDef("p", MapType.LPM_TRIE, 8, 4, 5000, BPF_F_NO_PREALLOC));
  const keys = Array.from({ length: 5000 }, () => key(1 + (next() % 32), Uint8Array.of(next() & 0xff, next() & 0xff, next() & 0xff, next() & 0xff)));
  const fill = () => keys.filter((k) => m.update(k, Uint8Array.of(1, 0, 0, 0), 1) === 0).length;
  const stored = fill();
  const trie = (m as unknown as { trie: { top: number; freeList: number; n: Int32Array } }).trie;
  const made = trie.top / 48;
  expect(made).toBeGreaterThan(100);
  for (const k of keys) m.delete(k);
  expect(m.size).toBe(0);
  expect(m.entries()).toEqual([]);
  let free = 0;
  for (let node = trie.freeList; node !== 0; node = trie.n[node + 33]!) free++;
  expect(free).toBe(made - 1); // all but the root
  expect(fill()).toBe(stored);
  expect(trie.top / 48).toBe(made);
});

test("the shared head of every prefix is skipped, and inserts and deletes that change it are seen", () => {
  // 8-byte data: A, B and D share their first 4 nibbles (the skipped path ends in the node where they part; three,
  // as a leaf holds two prefixes).
  const m = new LpmTrieMap(mapDef("p", MapType.LPM_TRIE, 12, 4, 16, BPF_F_NO_PREALLOC));
  // Lookups walk the trie here whatever the number of prefixes (not the few-prefix table).
  (m as unknown as { trie: { fewLimit: number } }).trie.fewLimit = 0;
  const data = (...bytes: number[]) => Uint8Array.from({ length: 8 }, (_, i) => bytes[i] ?? 0);
  const val = (d: Uint8Array) => (m.lookup(key(64, d)) as Region | null)?.bytes[0] ?? null;
  const put = (len: number, d: Uint8Array, v: number) => expect(m.update(key(len, d), Uint8Array.of(v, 0, 0, 0), 0)).toBe(0);
  const A = data(0xaa, 0xbb, 0x11, 0x22);
  const B = data(0xaa, 0xbb, 0x33, 0x44);
  const D = data(0xaa, 0xbb, 0x55, 0x66);
  const C = data(0xaa, 0xcc, 0x55);
  put(64, A, 1);
  put(64, B, 2);
  put(64, D, 6);
  expect([val(A), val(B), val(C), val(D)]).toEqual([1, 2, null, 6]);
  const trie = m as unknown as { trie: { skipDepth: number } };
  expect(trie.trie.skipDepth).toBe(4);
  // An insert that leaves the skipped path inside it: the path is shorter now.
  put(24, C, 3);
  expect([val(A), val(B), val(C), val(D)]).toEqual([1, 2, 3, 6]);
  expect(trie.trie.skipDepth).toBe(2);
  // An insert below the path keeps it (no recomputation between updates and lookups).
  put(64, data(0xaa, 0xbb, 0x11, 0x99), 4);
  expect(val(data(0xaa, 0xbb, 0x11, 0x99))).toBe(4);
  // A delete in the node where the path ends lets it grow back.
  expect(m.delete(key(24, C))).toBe(0);
  expect(m.delete(key(64, data(0xaa, 0xbb, 0x11, 0x99)))).toBe(0);
  expect([val(A), val(B), val(C), val(D)]).toEqual([1, 2, null, 6]);
  expect(trie.trie.skipDepth).toBe(4);
  // Deletes that leave one prefix: it moves up to the root, and there is no path to skip.
  expect(m.delete(key(64, B))).toBe(0);
  expect(m.delete(key(64, D))).toBe(0);
  expect([val(A), val(B), val(D)]).toEqual([1, null, null]);
  expect(trie.trie.skipDepth).toBe(0);
  // A delete below the node where the path ends that empties a child of it, so that node goes too: B's /24, B and
  // B2 fill a node below the path's end (the /24 ends in it, B and B2 share a leaf there).
  const B2 = data(0xaa, 0xbb, 0x33, 0x55);
  put(64, B, 2);
  put(24, B, 5);
  put(64, B2, 7);
  expect([val(A), val(B), val(B2)]).toEqual([1, 2, 7]);
  expect(trie.trie.skipDepth).toBe(4);
  expect(m.delete(key(64, B))).toBe(0);
  expect(m.delete(key(64, B2))).toBe(0);
  expect(val(B)).toBe(5);
  expect(m.delete(key(24, B))).toBe(0);
  expect([val(A), val(B)]).toEqual([1, null]);
});

test("lookups scan the few-prefix table up to FEW_MAX prefixes (the /0 one aside) and walk the trie beyond", () => {
  const m = new LpmTrieMap(mapDef("p", MapType.LPM_TRIE, 8, 4, 64, BPF_F_NO_PREALLOC));
  const trie = (m as unknown as { trie: { fewOn: boolean } }).trie;
  const addr = (i: number) => Uint8Array.of(10, i, 0, 0);
  const val = (len: number, d: Uint8Array) => (m.lookup(key(len, d)) as Region | null)?.bytes[0] ?? null;
  expect(m.update(key(0, addr(0)), Uint8Array.of(200, 0, 0, 0), 0)).toBe(0);
  for (let i = 1; i <= FEW_MAX; i++) expect(m.update(key(16, addr(i)), Uint8Array.of(i, 0, 0, 0), 0)).toBe(0);
  expect(val(32, addr(FEW_MAX))).toBe(FEW_MAX);
  expect(trie.fewOn).toBe(true);
  // The longest match wins in the table too, a key's own length bounds it, and a miss falls back to the /0 prefix.
  expect(m.update(key(24, addr(1)), Uint8Array.of(100, 0, 0, 0), 0)).toBe(0);
  expect([val(32, addr(1)), val(23, addr(1)), val(32, addr(99))]).toEqual([100, 1, 200]);
  expect(trie.fewOn).toBe(false);
  expect(m.delete(key(24, addr(1)))).toBe(0);
  expect([val(32, addr(1)), val(32, addr(99))]).toEqual([1, 200]);
  expect(trie.fewOn).toBe(true);
  expect(m.delete(key(0, addr(0)))).toBe(0);
  expect(val(32, addr(99))).toBe(null);
  expect(trie.fewOn).toBe(true);
});
