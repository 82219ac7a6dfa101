// KeyTable (runtime/maps/key-table.ts), the table behind hash maps and SOCKHASH: against a JS Map of hex keys as the
// reference, under random inserts, deletes and LRU touches that force growth and tombstone purges, for key sizes that
// are and are not whole words; keys are read in place at an offset of a larger buffer.
import { describe, expect, it } from "vitest";
import { KeyTable, NO_SLOT } from "../../runtime/maps/key-table.ts";
import { HashMap } from "../../runtime/maps/hash.ts";
import { MapType } from "../../compiler/abi/maps.ts";

/** A deterministic PRNG (xorshift32), so a failure reproduces. */
function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

describe("KeyTable", () => {
  for (const keySize of [1, 3, 4, 5, 8, 12, 13, 20]) {
    it(`matches a Map with recency order for ${keySize}-byte keys`, () => {
      const t = new KeyTable<number>(keySize);
      const ref = new Map<string, number>();
      const rand = rng(keySize * 7919);
      // A view that starts inside its memory, as helper keys (subarrays of the stack) do.
      const buf = new Uint8Array(new ArrayBuffer(keySize + 20), 3, keySize + 9);
      const off = 5;
      for (let step = 0; step < 4000; step++) {
        // A small key space, so finds hit, deletes leave tombstones and inserts reuse them.
        for (let i = 0; i < keySize; i++) buf[off + i] = i === 0 ? Math.floor(rand() * 300) & 0xff : i === 1 ? Math.floor(rand() * 2) : 0;
        const key = Buffer.from(buf.subarray(off, off + keySize)).toString("hex");
        const slot = t.find(buf, off);
        expect(slot !== NO_SLOT, key).toBe(ref.has(key));
        const r = rand();
        if (slot === NO_SLOT) {
          if (r < 0.7) {
            t.insert(buf, off, step);
            ref.set(key, step);
          }
        } else if (r < 0.4) {
          t.removeAt(slot);
          ref.delete(key);
        } else {
          expect(t.valueAt(slot)).toBe(ref.get(key));
          t.touch(slot);
          ref.delete(key);
          ref.set(key, step);
          t.setValueAt(slot, step);
        }
        expect(t.size).toBe(ref.size);
      }
      const order: Array<[string, number]> = [];
      for (let s = t.first; s !== NO_SLOT; s = t.after(s)) order.push([Buffer.from(t.keyAt(s)).toString("hex"), t.valueAt(s)]);
      expect(order).toEqual([...ref]);
    });
  }
});

describe("HashMap on KeyTable", () => {
  it("LRU_HASH evicts the least recently used key; HASH refuses a new key when full (E2BIG)", () => {
    const def = (type: number) => ({ name: "m", type, keySize: 4, valueSize: 4, maxEntries: 3, flags: 0 }) as never;
    const k = (n: number) => Uint8Array.of(n, 0, 0, 0);
    const lru = new HashMap(def(MapType.LRU_HASH));
    for (const n of [1, 2, 3]) expect(lru.update(k(n), k(n), 0)).toBe(0);
    expect(lru.lookup(k(1))).not.toBeNull(); // 2 is now the least recently used
    expect(lru.update(k(4), k(4), 0)).toBe(0);
    expect(lru.entries().map(([key]) => key[0])).toEqual([3, 1, 4]);
    const hash = new HashMap(def(MapType.HASH));
    for (const n of [1, 2, 3]) expect(hash.update(k(n), k(n), 0)).toBe(0);
    expect(hash.update(k(4), k(4), 0)).toBe(-7);
    expect(hash.update(k(2), k(9), 1)).toBe(-17);
    expect(hash.update(k(5), k(9), 2)).toBe(-2);
    expect(hash.delete(k(2))).toBe(0);
    expect(hash.delete(k(2))).toBe(-2);
    expect(hash.update(k(4), k(4), 0)).toBe(0);
    expect(hash.entries().map(([key]) => key[0])).toEqual([1, 3, 4]);
  });
});
