import { describe, expect, it } from "vitest";
import { BtfKind, type BtfType, decodeBtf, decodeBtfExt, encodeBtf, encodeBtfExt, StringTable, type BtfExt } from "../../compiler/btf/index.ts";

/** A small seeded PRNG (LCG) so a failing case can be replayed from its seed. */
function prng(seed: number) {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  return {
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
    name: () => (next() < 0.2 ? "" : `n${Math.floor(next() * 1000)}_${"xyz".slice(0, Math.floor(next() * 4))}`),
  };
}

/** A random, well-formed list of types: every reference names an existing id (or 0 where void is allowed). */
function randomTypes(seed: number): BtfType[] {
  const r = prng(seed);
  const n = 1 + r.int(40);
  const ref = () => 1 + r.int(n);
  const types: BtfType[] = [];
  for (let i = 0; i < n; i++) {
    const kind = r.pick([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19] as const);
    const name = r.name();
    switch (kind) {
      case BtfKind.INT:
        types.push({ kind, name, size: r.pick([1, 2, 4, 8, 16]), bits: r.int(129), offset: r.int(256), encoding: r.pick([0, 1, 2, 4]) });
        break;
      case BtfKind.ARRAY:
        types.push({ kind, name, type: ref(), indexType: ref(), nelems: r.int(2 ** 32) });
        break;
      case BtfKind.STRUCT:
      case BtfKind.UNION: {
        const kindFlag = r.int(2) === 1;
        const members = Array.from({ length: r.int(6) }, () =>
          kindFlag ? { name: r.name(), type: ref(), bitOffset: r.int(1 << 24), bitfieldSize: r.int(256) } : { name: r.name(), type: ref(), bitOffset: r.int(2 ** 32) },
        );
        types.push({ kind, name, size: r.int(4096), members, kindFlag });
        break;
      }
      case BtfKind.ENUM: {
        const signed = r.int(2) === 1;
        types.push({ kind, name, size: 4, signed, values: Array.from({ length: r.int(5) }, () => ({ name: r.name(), value: r.int(2 ** 32) | 0 })) });
        break;
      }
      case BtfKind.ENUM64: {
        const signed = r.int(2) === 1;
        const big = () => (BigInt(r.int(2 ** 32)) << 32n) | BigInt(r.int(2 ** 32));
        types.push({ kind, name, size: 8, signed, values: Array.from({ length: r.int(5) }, () => ({ name: r.name(), value: signed ? BigInt.asIntN(64, big()) : big() })) });
        break;
      }
      case BtfKind.FWD:
        types.push({ kind, name, union: r.int(2) === 1 });
        break;
      case BtfKind.FUNC:
        types.push({ kind, name, type: ref(), linkage: r.int(3) });
        break;
      case BtfKind.FUNC_PROTO:
        types.push({ kind, name, returnType: r.int(n + 1), params: Array.from({ length: r.int(5) }, () => ({ name: r.name(), type: r.int(n + 1) })) });
        break;
      case BtfKind.VAR:
        types.push({ kind, name, type: ref(), linkage: r.int(3) });
        break;
      case BtfKind.DATASEC:
        types.push({ kind, name, size: r.int(1 << 20), vars: Array.from({ length: r.int(4) }, () => ({ type: ref(), offset: r.int(1 << 20), size: r.int(1 << 10) })) });
        break;
      case BtfKind.FLOAT:
        types.push({ kind, name, size: r.pick([2, 4, 8, 12, 16]) });
        break;
      case BtfKind.DECL_TAG:
        types.push({ kind, name, type: ref(), componentIdx: r.int(10) - 1 });
        break;
      default:
        types.push({ kind, name, type: r.int(n + 1) });
    }
  }
  return types;
}

describe("BTF properties", () => {
  it("decode(encode(types)) = types for 500 random well-formed type lists", () => {
    for (let seed = 1; seed <= 500; seed++) {
      const types = randomTypes(seed);
      expect(decodeBtf(encodeBtf(types)).types.slice(1), `seed ${seed}`).toEqual(types);
    }
  });

  it("decodeBtfExt(encodeBtfExt(ext)) = ext for random func/line info", () => {
    for (let seed = 1; seed <= 200; seed++) {
      const r = prng(seed);
      const sections = (make: () => unknown) =>
        Array.from({ length: r.int(3) }, () => ({ section: `sec${r.int(5)}`, records: Array.from({ length: 1 + r.int(6), }, make) }));
      const ext = {
        funcInfo: sections(() => ({ insnOff: r.int(1 << 20) * 8, typeId: r.int(1000) })),
        lineInfo: sections(() => ({ insnOff: r.int(1 << 20) * 8, file: `${r.name()}.ts`, text: `  line ${r.name()} é`, line: r.int(1 << 22), column: r.int(1 << 10) })),
      } as BtfExt;
      const strings = new StringTable();
      const bytes = encodeBtfExt(ext, strings);
      expect(decodeBtfExt(bytes, strings.bytes()), `seed ${seed}`).toEqual(ext);
    }
  });
});
