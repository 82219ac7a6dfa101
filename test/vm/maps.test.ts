/**
 * Map semantics with the kernel's errnos (kernel/bpf/arraymap.c, hashtab.c, lpm_trie.c, net/core/sock_map.c), through
 * the user-side API and through helpers called by programs on both tiers.
 */
import { describe, expect, test } from "vitest";
import { BPF_F_NO_PREALLOC, MapType } from "../../compiler/abi/maps.ts";
import { AluOp, Helper, JmpOp, Size, alu64, call, exit, jmp64, ldMap, ldx, mov64, reg, st, stx, withLabel } from "../../compiler/asm/index.ts";
import { Socket } from "../../runtime/net/socket.ts";
import { createMap } from "../../runtime/maps/index.ts";
import { MapError } from "../../runtime/maps/map.ts";
import type { Region } from "../../runtime/vm/region.ts";
import { TIERS, TCP4, mapDef, vmOf, updateAt } from "./harness.ts";

const E = { EINVAL: -22, EEXIST: -17, ENOENT: -2, E2BIG: -7, ENOSPC: -28, EOPNOTSUPP: -95 };
const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);
const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);
const listener = (name = "A"): Socket => new Socket({ name, family: "inet", protocol: "tcp", ip: "127.0.0.1", port: 1000 });

describe("array and percpu array", () => {
  for (const type of [MapType.ARRAY, MapType.PERCPU_ARRAY]) {
    test(`type ${type}: zeroed, no delete, E2BIG/EEXIST/EINVAL`, () => {
      const m = createMap(mapDef("a", type, 4, 8, 4));
      expect((m.lookup(u32(3)) as { bytes: Uint8Array }).bytes).toEqual(new Uint8Array(8));
      expect(m.lookup(u32(4))).toBeNull();
      expect(m.update(u32(4), new Uint8Array(8), 0)).toBe(E.E2BIG);
      expect(m.update(u32(1), new Uint8Array(8), 1)).toBe(E.EEXIST);
      expect(m.update(u32(1), new Uint8Array(8).fill(1), 2)).toBe(0);
      expect(m.update(u32(1), new Uint8Array(8), 3)).toBe(E.EINVAL);
      expect(m.update(u32(1), new Uint8Array(8), 4)).toBe(E.EINVAL); // BPF_F_LOCK without a spin lock
      expect(m.delete(u32(1))).toBe(E.EINVAL);
      expect((m.lookup(u32(1)) as { bytes: Uint8Array }).bytes[7]).toBe(1);
    });
  }
  test("bad definitions are MapErrors", () => {
    expect(() => createMap(mapDef("a", MapType.ARRAY, 8, 8, 4))).toThrow(MapError);
    // Unsupported types load (so the rest of the object works) but any use fails clearly.
    const ring = createMap(mapDef("r", MapType.RINGBUF, 0, 0, 4096));
    expect(() => ring.lookup(new Uint8Array(0))).toThrow(/map r of type ringbuf is not supported by the VM/);
  });
});

describe("hash and LRU hash", () => {
  test("hash: NOEXIST/EXIST/ENOENT/E2BIG", () => {
    const m = createMap(mapDef("h", MapType.HASH, 2, 4, 2));
    expect(m.update(bytes(1, 0), u32(10), 2)).toBe(E.ENOENT);
    expect(m.update(bytes(1, 0), u32(10), 1)).toBe(0);
    expect(m.update(bytes(1, 0), u32(11), 1)).toBe(E.EEXIST);
    expect(m.update(bytes(1, 0), u32(12), 2)).toBe(0);
    expect(m.update(bytes(2, 0), u32(20), 0)).toBe(0);
    expect(m.update(bytes(3, 0), u32(30), 0)).toBe(E.E2BIG);
    expect(m.update(bytes(2, 0), u32(21), 0)).toBe(0); // replacing works when full
    expect(m.update(bytes(2, 0), u32(21), 7)).toBe(E.EINVAL);
    expect(m.delete(bytes(3, 0))).toBe(E.ENOENT);
    expect(m.delete(bytes(1, 0))).toBe(0);
    expect(m.lookup(bytes(1, 0))).toBeNull();
    expect(m.entries().map(([k]) => k[0])).toEqual([2]);
  });
  test("LRU evicts the least recently used entry instead of E2BIG", () => {
    const m = createMap(mapDef("l", MapType.LRU_HASH, 1, 1, 2));
    m.update(bytes(1), bytes(1), 0);
    m.update(bytes(2), bytes(2), 0);
    m.lookup(bytes(1)); // 2 is now the oldest
    expect(m.update(bytes(3), bytes(3), 0)).toBe(0);
    expect(m.lookup(bytes(2))).toBeNull();
    expect(m.lookup(bytes(1))).not.toBeNull();
    expect(m.update(bytes(9), bytes(9), 2)).toBe(E.ENOENT);
  });
  test("a value's fault label names its key, also once a program's delete and insert reuse the element for another key", () => {
    // Labels are made when first read (Region.labelBytes): a stale one would name the element's first key.
    const m = createMap(mapDef("h", MapType.HASH, 2, 4, 4));
    const run = { afterRun: () => undefined };
    expect(m.update(bytes(1, 0), u32(10), 0, run)).toBe(0);
    const first = m.lookup(bytes(1, 0)) as Region;
    expect(first.label).toBe("value of h{0100}");
    expect(m.delete(bytes(1, 0), run)).toBe(0);
    expect(m.update(bytes(2, 0xab), u32(20), 0, run)).toBe(0);
    expect(m.lookup(bytes(2, 0xab))).toBe(first);
    expect(first.label).toBe("value of h{02ab}");
    // A run's update of an existing key links another element in, under the same key.
    expect(m.update(bytes(2, 0xab), u32(21), 0, run)).toBe(0);
    const second = m.lookup(bytes(2, 0xab)) as Region;
    expect(second).not.toBe(first);
    expect(second.label).toBe("value of h{02ab}");
  });
});

describe("LPM trie", () => {
  const key = (plen: number, ...data: number[]): Uint8Array => Uint8Array.from([...u32(plen), ...data]);
  const def = mapDef("p", MapType.LPM_TRIE, 8, 4, 3, BPF_F_NO_PREALLOC);
  test("longest prefix wins; key prefix length limits the match", () => {
    const m = createMap(def);
    expect(m.update(key(8, 10, 0, 0, 0), u32(8), 0)).toBe(0);
    expect(m.update(key(24, 10, 1, 2, 0), u32(24), 0)).toBe(0);
    expect(m.update(key(0, 0, 0, 0, 0), u32(0), 0)).toBe(0);
    const val = (k: Uint8Array): number | null => {
      const r = m.lookup(k) as { bytes: Uint8Array } | null;
      return r ? new DataView(r.bytes.buffer, r.bytes.byteOffset).getUint32(0, true) : null;
    };
    expect(val(key(32, 10, 1, 2, 3))).toBe(24);
    expect(val(key(32, 10, 1, 3, 3))).toBe(8);
    expect(val(key(32, 11, 0, 0, 0))).toBe(0);
    expect(val(key(16, 10, 1, 2, 3))).toBe(8); // a /24 entry cannot match a /16 query
    // Bits beyond the prefix do not make a different entry.
    expect(m.update(key(24, 10, 1, 2, 99), u32(25), 1)).toBe(E.EEXIST);
    expect(m.update(key(16, 10, 1, 0, 0), u32(16), 0)).toBe(E.ENOSPC);
    expect(m.update(key(33, 0, 0, 0, 0), u32(1), 0)).toBe(E.EINVAL);
    expect(m.update(key(16, 10, 1, 0, 0), u32(16), 2)).toBe(E.ENOENT);
    expect(m.update(key(8, 10, 0, 0, 0), u32(1), 3)).toBe(E.EINVAL);
    expect(m.delete(key(16, 10, 1, 0, 0))).toBe(E.ENOENT);
    expect(m.delete(key(24, 10, 1, 2, 0))).toBe(0);
    expect(val(key(32, 10, 1, 2, 3))).toBe(8);
  });
  test("prefixes that end inside a byte", () => {
    const m = createMap(def);
    expect(m.update(key(12, 10, 16, 0, 0), u32(12), 0)).toBe(0); // 10.16.0.0/12
    expect(m.update(key(1, 128, 0, 0, 0), u32(1), 0)).toBe(0); // 128.0.0.0/1
    const val = (k: Uint8Array): number | null => {
      const r = m.lookup(k) as { bytes: Uint8Array } | null;
      return r ? new DataView(r.bytes.buffer, r.bytes.byteOffset).getUint32(0, true) : null;
    };
    expect(val(key(32, 10, 31, 255, 255))).toBe(12);
    expect(val(key(32, 10, 32, 0, 0))).toBeNull();
    expect(val(key(32, 10, 15, 255, 255))).toBeNull();
    expect(val(key(32, 200, 1, 1, 1))).toBe(1);
    expect(val(key(32, 127, 1, 1, 1))).toBeNull();
    expect(m.update(key(12, 10, 17, 99, 0), u32(0), 1)).toBe(E.EEXIST); // same /12 after masking
    expect(m.delete(key(12, 10, 31, 0, 0))).toBe(0);
    expect(val(key(32, 10, 20, 0, 0))).toBeNull();
  });
  test("IPv6 keys (16 data bytes)", () => {
    const m = createMap(mapDef("p6", MapType.LPM_TRIE, 20, 4, 8, BPF_F_NO_PREALLOC));
    const k6 = (plen: number, first: number[]): Uint8Array => {
      const k = new Uint8Array(20);
      k.set(u32(plen));
      k.set(first, 4);
      return k;
    };
    expect(m.update(k6(64, [0xfd, 0, 0, 1]), u32(1), 0)).toBe(0);
    expect(m.lookup(k6(128, [0xfd, 0, 0, 1, 0, 0, 0, 0, 0xaa]))).not.toBeNull();
    expect(m.lookup(k6(128, [0xfd, 0, 0, 2]))).toBeNull();
  });
  test("needs BPF_F_NO_PREALLOC", () => {
    expect(() => createMap(mapDef("p", MapType.LPM_TRIE, 8, 4, 3, 0))).toThrow(/BPF_F_NO_PREALLOC/);
  });
});

describe("SOCKMAP and SOCKHASH", () => {
  test("SOCKMAP errnos", () => {
    const m = createMap(mapDef("s", MapType.SOCKMAP, 4, 8, 2));
    const a = listener();
    expect(m.update(u32(2), a, 0)).toBe(E.E2BIG);
    expect(m.update(u32(0), a, 3)).toBe(E.EINVAL);
    expect(m.update(u32(0), a, 2)).toBe(E.ENOENT);
    expect(m.update(u32(0), a, 1)).toBe(0);
    expect(m.update(u32(0), a, 1)).toBe(E.EEXIST);
    expect(m.delete(u32(1))).toBe(E.EINVAL); // empty slot
    expect(m.delete(u32(5))).toBe(E.EINVAL);
    const closed = new Socket({ name: "C", family: "inet", protocol: "tcp", state: "close" });
    expect(m.update(u32(1), closed, 0)).toBe(E.EOPNOTSUPP);
    const established = new Socket({ name: "E", family: "inet", protocol: "tcp", state: "established" });
    expect(m.update(u32(1), established, 0)).toBe(0);
    expect(m.delete(u32(0))).toBe(0);
    expect(m.lookup(u32(0))).toBeNull();
  });
  test("SOCKHASH errnos", () => {
    const m = createMap(mapDef("h", MapType.SOCKHASH, 4, 8, 1));
    expect(m.delete(u32(7))).toBe(E.ENOENT);
    expect(m.update(u32(7), listener(), 0)).toBe(0);
    expect(m.update(u32(8), listener("B"), 0)).toBe(E.E2BIG);
    expect((m.lookup(u32(7)) as Socket).name).toBe("A");
  });
});

test("a program using an unsupported map faults when it loads the map", () => {
  const obj = vmOf([ldMap(1, "r"), mov64(0, 1), exit()], [mapDef("r", MapType.RINGBUF, 0, 0, 4096)]);
  for (const tier of TIERS) expect(() => obj.run("prog", TCP4, { tier })).toThrow(/pc 0 .*map r of type ringbuf is not supported by the VM/);
});

describe("map helpers from programs (both tiers)", () => {
  const HASH = mapDef("h", MapType.HASH, 4, 8, 1);
  // key 5 → update(flags from r9) → r0 = result; then lookup and add 1 through the value pointer.
  const prog = (flags: number) => [
    st(Size.W, 10, -4, 5),
    st(Size.DW, 10, -16, 41),
    ...updateAt("h", -4, -16, flags),
    mov64(6, reg(0)),
    ldMap(1, "h"),
    mov64(2, reg(10)),
    alu64(AluOp.ADD, 2, -4),
    call(Helper.map_lookup_elem),
    jmp64(JmpOp.JEQ, 0, 0, "out"),
    ldx(Size.DW, 1, 0, 0),
    alu64(AluOp.ADD, 1, 1),
    stx(Size.DW, 0, 0, 1),
    withLabel(mov64(0, reg(6)), "out"),
    exit(),
  ];
  for (const tier of TIERS) {
    test(`update/lookup through a live value pointer [${tier}]`, () => {
      const obj = vmOf(prog(0), [HASH]);
      expect(obj.program("prog").exec(TCP4, { tier })).toBe(0n);
      expect(obj.map("h").get(5)).toBe(42n);
      // BPF_NOEXIST now fails with -EEXIST (sign-extended to 64 bits) and the value is incremented again.
      const p2 = vmOf(prog(1), [HASH]);
      expect(p2.program("prog").exec(TCP4, { tier })).toBe(0n);
      expect(p2.program("prog").exec(TCP4, { tier })).toBe(BigInt.asUintN(64, -17n));
      expect(p2.map("h").get(5)).toBe(43n);
    });
    test(`a value pointer cannot reach past the value [${tier}]`, () => {
      const insns = [st(Size.W, 10, -4, 0), ldMap(1, "a"), mov64(2, reg(10)), alu64(AluOp.ADD, 2, -4), call(Helper.map_lookup_elem), ldx(Size.DW, 0, 0, 8), exit()];
      const obj = vmOf(insns, [mapDef("a", MapType.ARRAY, 4, 8, 1)]);
      expect(() => obj.program("prog").exec(TCP4, { tier })).toThrow(/pc 6 .*offset 8 of value of a\[0\] \(size 8\) is out of bounds/);
    });
    test(`a map pointer is opaque [${tier}]`, () => {
      const obj = vmOf([ldMap(1, "a"), ldx(Size.W, 0, 1, 0), exit()], [mapDef("a", MapType.ARRAY, 4, 8, 1)]);
      expect(() => obj.program("prog").exec(TCP4, { tier })).toThrow(/map pointers are opaque/);
    });
  }
});
