/**
 * The VM's LPM trie map against a kernel BPF_MAP_TYPE_LPM_TRIE, op by op from user space: the same seeded sequence
 * of updates (all flags, bits past the prefix set at random), deletes and longest-prefix lookups (key lengths past
 * the data size too) must give the same errnos and values, and iteration (the kernel's get_next_key) the same keys
 * in the same order, bits past the prefix included.
 */
import { expect, test } from "vitest";
import { BPF_F_NO_PREALLOC, MapType } from "../../compiler/abi/maps.ts";
import { Errno } from "../../compiler/abi/sk-lookup.ts";
import { exit, mov64 } from "../../compiler/asm/index.ts";
import { openKernel } from "../../runtime/kernel/open.ts";
import { LpmTrieMap } from "../../runtime/maps/lpm.ts";
import type { Region } from "../../runtime/vm/region.ts";
import { describeKernel } from "../support/kernel.ts";
import { rng } from "../support/rng.ts";
import { mapDef, objectOf } from "./harness.ts";

/** Key bytes: u32 prefix length (host order) then `data`. */
function key(len: number, data: Uint8Array): Uint8Array {
  const k = new Uint8Array(4 + data.length);
  new DataView(k.buffer).setUint32(0, len, true);
  k.set(data, 4);
  return k;
}

const u32 = (v: number) => Uint8Array.of(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24);
const hex = (b: Uint8Array | null) => (b === null ? null : Buffer.from(b).toString("hex"));

/** The kernel's answer to an update or delete as the VM map returns it: 0 or -errno. */
function rc(fn: () => unknown): number {
  try {
    const r = fn();
    return r === false ? -Errno.ENOENT : 0;
  } catch (e) {
    const code = (e as { code?: string }).code as keyof typeof Errno | undefined;
    if (code === undefined || Errno[code] === undefined) throw e;
    return -Errno[code];
  }
}

describeKernel("LPM trie: VM map vs kernel map", () => {
  for (const dataSize of [1, 4, 8, 16]) {
    test(`${dataSize}-byte data: errnos, lookups and get_next_key order agree`, () => {
      const next = rng(dataSize * 104729);
      const rand = (n: number) => Math.floor(next() * n);
      const bits = dataSize * 8;
      const def = mapDef("p", MapType.LPM_TRIE, 4 + dataSize, 4, 40, BPF_F_NO_PREALLOC);
      const vm = new LpmTrieMap(def);
      const loaded = openKernel().load(objectOf({ prog: [mov64(0, 1), exit()] }, [def]));
      try {
        const km = loaded.map("p");
        // Few data patterns, so that prefixes nest and share paths; random bits past the prefix.
        const patterns = Array.from({ length: 6 }, () => Uint8Array.from({ length: dataSize }, () => rand(256)));
        const data = () => patterns[rand(patterns.length)]!.map((b) => (rand(4) === 0 ? rand(256) : b));
        const lengths = () => (rand(8) === 0 ? rand(bits + 3) : [0, 1, 3, 4, 5, bits >> 1, bits - 1, bits][rand(8)]!);
        let hits = 0;
        for (let step = 0; step < 1200; step++) {
          const op = rand(10);
          const k = key(lengths(), data());
          if (op < 4) {
            const flags = [0, 0, 1, 2, 4][rand(5)]!;
            const value = u32(step);
            expect(vm.update(k, value, flags), `update ${hex(k)} flags ${flags}`).toBe(rc(() => km.update(k, value, flags as 0 | 1 | 2)));
          } else if (op < 6) {
            expect(vm.delete(k), `delete ${hex(k)}`).toBe(rc(() => km.delete(k)));
          } else {
            const want = km.lookup(k);
            const got = vm.lookup(k) as Region | null;
            expect(hex(got === null ? null : got.bytes), `lookup ${hex(k)}`).toBe(hex(want));
            if (want !== null) hits++;
          }
          if (step % 50 === 49) {
            const kernelOrder = km.entries().map(([kk, v]) => `${hex(kk)}=${hex(v)}`);
            expect(vm.entries().map(([kk, v]) => `${hex(kk)}=${hex(v.bytes)}`)).toEqual(kernelOrder);
          }
        }
        expect(hits).toBeGreaterThan(100);
        expect(vm.size).toBe(km.keys().length);
      } finally {
        loaded.close();
      }
    });
  }
});
