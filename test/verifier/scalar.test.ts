/**
 * Soundness of the scalar domain, checked on concrete values: for random sets of 64-bit values, the abstraction of
 * the set must contain every concrete result of each ALU operation (BPF semantics), a branch outcome claimed certain
 * must hold for every pair, and refinement must keep every pair that satisfies the condition.
 */
import { describe, expect, test } from "vitest";
import {
  type AluKind, type CmpKind, type Scalar, salu, sbranchTaken, sconst, sformat, srefine, ssync, sunknown,
} from "../../compiler/verifier/scalar.ts";
import { tcontains } from "../../compiler/verifier/tnum.ts";

const U64 = (1n << 64n) - 1n;

/** Deterministic xorshift so failures reproduce. */
function rng(seed: number): () => bigint {
  let x = BigInt(seed) | 1n;
  return () => {
    x ^= (x << 13n) & U64;
    x ^= x >> 7n;
    x ^= (x << 17n) & U64;
    return x & U64;
  };
}

const SPECIAL = [0n, 1n, 2n, 7n, 0x7fn, 0xffn, 0xffffn, 0x7fffffffn, 0x80000000n, 0xffffffffn, 1n << 32n, (1n << 63n) - 1n, 1n << 63n, U64, U64 - 1n];

/** A random small set of values of a random "shape" (constants, small ranges, 32-bit, negative, anything). */
function randomSet(next: () => bigint): bigint[] {
  const shape = Number(next() % 5n);
  const n = 1 + Number(next() % 4n);
  const out: bigint[] = [];
  for (let i = 0; i < n; i++) {
    const r = next();
    if (shape === 0) out.push(SPECIAL[Number(r % BigInt(SPECIAL.length))]!);
    else if (shape === 1) out.push(r % 64n);
    else if (shape === 2) out.push(r & 0xffffffffn);
    else if (shape === 3) out.push(BigInt.asUintN(64, -(r % 100n)));
    else out.push(r);
  }
  return out;
}

/** The abstraction of a finite set: its tnum and its signed/unsigned ranges. */
function abstract(values: bigint[]): Scalar {
  const and = values.reduce((a, v) => a & v, U64);
  const or = values.reduce((a, v) => a | v, 0n);
  const signed = values.map((v) => BigInt.asIntN(64, v));
  const s = ssync({
    ...sunknown(),
    t: { value: and, mask: or ^ and },
    umin: values.reduce((a, v) => (v < a ? v : a)),
    umax: values.reduce((a, v) => (v > a ? v : a)),
    smin: signed.reduce((a, v) => (v < a ? v : a)),
    smax: signed.reduce((a, v) => (v > a ? v : a)),
  });
  if (!s) throw new Error(`abstraction of ${values} is empty`);
  return s;
}

/** True when concrete `v` is one of the values `s` stands for. */
function contains(s: Scalar, v: bigint): boolean {
  const u = BigInt.asUintN(64, v);
  const lo = u & 0xffffffffn;
  return (
    tcontains(s.t, u) && s.umin <= u && u <= s.umax && s.smin <= BigInt.asIntN(64, u) && BigInt.asIntN(64, u) <= s.smax &&
    s.u32min <= lo && lo <= s.u32max && s.s32min <= BigInt.asIntN(32, lo) && BigInt.asIntN(32, lo) <= s.s32max
  );
}

/** BPF semantics of `a op b` on w bits (32-bit results zero-extended; x/0 = 0, x%0 = x). */
function concrete(op: AluKind, a: bigint, b: bigint, w: 32 | 64): bigint | undefined {
  const m = w === 64 ? U64 : 0xffffffffn;
  const x = a & m;
  const y = b & m;
  switch (op) {
    case "add": return (x + y) & m;
    case "sub": return (x - y) & m;
    case "mul": return (x * y) & m;
    case "div": return y === 0n ? 0n : x / y;
    case "mod": return y === 0n ? x : x % y;
    case "and": return x & y;
    case "or": return x | y;
    case "xor": return x ^ y;
    case "neg": return (-x) & m;
    case "lsh": return y < BigInt(w) ? (x << y) & m : undefined;
    case "rsh": return y < BigInt(w) ? x >> y : undefined;
    case "arsh": return y < BigInt(w) ? BigInt.asUintN(w, BigInt.asIntN(w, x) >> y) : undefined;
  }
}

function holds(op: CmpKind, a: bigint, b: bigint, w: 32 | 64): boolean {
  const m = w === 64 ? U64 : 0xffffffffn;
  const x = a & m, y = b & m;
  const sx = BigInt.asIntN(w, x), sy = BigInt.asIntN(w, y);
  switch (op) {
    case "eq": return x === y;
    case "ne": return x !== y;
    case "gt": return x > y;
    case "ge": return x >= y;
    case "lt": return x < y;
    case "le": return x <= y;
    case "sgt": return sx > sy;
    case "sge": return sx >= sy;
    case "slt": return sx < sy;
    case "sle": return sx <= sy;
    case "set": return (x & y) !== 0n;
  }
}

const OPS: AluKind[] = ["add", "sub", "mul", "div", "mod", "and", "or", "xor", "neg", "lsh", "rsh", "arsh"];
const CMPS: CmpKind[] = ["eq", "ne", "gt", "ge", "lt", "le", "sgt", "sge", "slt", "sle", "set"];

describe("scalar domain soundness", () => {
  test("abstraction of a set contains the set", () => {
    const next = rng(1);
    for (let i = 0; i < 300; i++) {
      const set = randomSet(next);
      const s = abstract(set);
      for (const v of set) expect(contains(s, v), `${v} in ${sformat(s)}`).toBe(true);
    }
  });

  test.each(OPS)("ALU %s contains every concrete result (64 and 32 bits)", (op) => {
    const next = rng(op.length * 7919 + op.charCodeAt(0));
    for (let i = 0; i < 150; i++) {
      const as = randomSet(next);
      // Shift amounts are mostly in range, as the kernel only computes those.
      const bs = op === "lsh" || op === "rsh" || op === "arsh" ? randomSet(next).map((v) => v % 40n) : randomSet(next);
      const A = abstract(as);
      const B = abstract(bs);
      for (const w of [64, 32] as const) {
        const R = salu(op, A, B, w);
        for (const a of as) for (const b of bs) {
          const c = concrete(op, a, b, w);
          if (c === undefined) continue;
          expect(contains(R, c), `${a} ${op} ${b} (w${w}) = ${c} not in ${sformat(R)}`).toBe(true);
        }
      }
    }
  });

  test.each(CMPS)("branch %s: certain outcomes hold and refinement keeps satisfying pairs", (op) => {
    const next = rng(op.length * 104729 + op.charCodeAt(1));
    for (let i = 0; i < 150; i++) {
      const as = randomSet(next);
      const bs = next() % 3n === 0n ? [SPECIAL[Number(next() % 15n)]!] : randomSet(next);
      const A = abstract(as);
      const B = abstract(bs);
      for (const w of [64, 32] as const) {
        const taken = sbranchTaken(op, A, B, w);
        for (const sense of [true, false]) {
          const r = srefine(op, A, B, sense, w);
          for (const a of as) for (const b of bs) {
            const h = holds(op, a, b, w);
            if (taken !== undefined) expect(h, `${a} ${op} ${b} w${w} claimed ${taken}`).toBe(taken);
            if (h !== sense) continue;
            expect(r, `${a} ${op} ${b} w${w} sense ${sense}: refinement says impossible`).toBeDefined();
            expect(contains(r![0], a) && contains(r![1], b), `${a} ${op} ${b} w${w} sense ${sense}`).toBe(true);
          }
        }
      }
    }
  });

  test("constants print bare, ranges with their bounds", () => {
    expect(sformat(sconst(5n))).toBe("5");
    expect(sformat(sconst(-1n))).toBe("-1");
    expect(sformat(salu("and", sunknown(), sconst(0xffn), 64))).toBe("scalar(smin=0,smax=255,umax=255,var_off=(0x0; 0xff))");
  });
});
