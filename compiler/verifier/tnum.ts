/**
 * Tristate numbers ("tnums"): a 64-bit value where each bit is known 0, known 1 or unknown. `value` holds the known
 * one bits, `mask` the unknown bits (value & mask == 0). Same abstract domain as the kernel's tnum, written from its
 * definition: a tnum stands for every integer x with (x & ~mask) == value.
 */

/** 2^64 - 1. */
export const U64 = (1n << 64n) - 1n;
/** 2^32 - 1. */
export const U32 = (1n << 32n) - 1n;

/** A tristate number. */
export interface Tnum {
  readonly value: bigint;
  readonly mask: bigint;
}

/** The tnum of one known value. */
export const tconst = (v: bigint): Tnum => ({ value: BigInt.asUintN(64, v), mask: 0n });
/** Every bit unknown. */
export const TUNKNOWN: Tnum = { value: 0n, mask: U64 };

/** Number of significant bits of a value in [0, 2^64). */
export function bitLength(v: bigint): number {
  const hi = Number(v >> 32n);
  return hi ? 64 - Math.clz32(hi) : 32 - Math.clz32(Number(v & 0xffffffffn));
}

/** The smallest tnum containing every value in [min, max] (unsigned). */
export function trange(min: bigint, max: bigint): Tnum {
  const chi = min ^ max;
  if (chi === 0n) return tconst(min);
  const bits = bitLength(chi);
  if (bits >= 64) return TUNKNOWN;
  const delta = (1n << BigInt(bits)) - 1n;
  return { value: min & ~delta & U64, mask: delta };
}

/** True when exactly one value is represented. */
export const tisConst = (t: Tnum): boolean => t.mask === 0n;

/** Addition: carries may make every bit above the lowest unknown bit unknown. */
export function tadd(a: Tnum, b: Tnum): Tnum {
  const sm = (a.mask + b.mask) & U64;
  const sv = (a.value + b.value) & U64;
  const sigma = (sm + sv) & U64;
  const chi = sigma ^ sv;
  const mu = chi | a.mask | b.mask;
  return { value: sv & ~mu & U64, mask: mu };
}

/** Subtraction. */
export function tsub(a: Tnum, b: Tnum): Tnum {
  const dv = (a.value - b.value) & U64;
  const alpha = (dv + a.mask) & U64;
  const beta = (dv - b.mask) & U64;
  const chi = alpha ^ beta;
  const mu = chi | a.mask | b.mask;
  return { value: dv & ~mu & U64, mask: mu };
}

/** Bitwise and. */
export function tand(a: Tnum, b: Tnum): Tnum {
  const alpha = a.value | a.mask;
  const beta = b.value | b.mask;
  const v = a.value & b.value;
  return { value: v, mask: alpha & beta & ~v & U64 };
}

/** Bitwise or. */
export function tor(a: Tnum, b: Tnum): Tnum {
  const v = a.value | b.value;
  const mu = a.mask | b.mask;
  return { value: v, mask: mu & ~v & U64 };
}

/** Bitwise xor. */
export function txor(a: Tnum, b: Tnum): Tnum {
  const v = a.value ^ b.value;
  const mu = a.mask | b.mask;
  return { value: v & ~mu & U64, mask: mu };
}

/** Multiplication by shift-and-add over the bits of `a` (sound, not always tightest). */
export function tmul(a: Tnum, b: Tnum): Tnum {
  if (tisConst(a) && tisConst(b)) return tconst(a.value * b.value);
  let acc: Tnum = tconst(0n);
  let x = a;
  let y = b;
  for (let i = 0; i < 64 && (x.value | x.mask) !== 0n; i++) {
    if (x.value & 1n) acc = tadd(acc, y);
    else if (x.mask & 1n) acc = tadd(acc, { value: 0n, mask: (y.value | y.mask) & U64 });
    x = { value: x.value >> 1n, mask: x.mask >> 1n };
    y = { value: (y.value << 1n) & U64, mask: (y.mask << 1n) & U64 };
  }
  return acc;
}

/** Left shift by a known amount. */
export const tlsh = (a: Tnum, k: number): Tnum => ({ value: (a.value << BigInt(k)) & U64, mask: (a.mask << BigInt(k)) & U64 });
/** Logical right shift by a known amount. */
export const trsh = (a: Tnum, k: number): Tnum => ({ value: a.value >> BigInt(k), mask: a.mask >> BigInt(k) });

/** Arithmetic right shift of the low `bits` bits by a known amount, result kept in `bits` bits. */
export function tarsh(a: Tnum, k: number, bits: 32 | 64): Tnum {
  const v = BigInt.asIntN(bits, a.value) >> BigInt(k);
  const m = BigInt.asIntN(bits, a.mask) >> BigInt(k);
  return { value: BigInt.asUintN(bits, v), mask: BigInt.asUintN(bits, m) };
}

/** Intersection of two tnums (both facts hold); undefined when they contradict. */
export function tintersect(a: Tnum, b: Tnum): Tnum | undefined {
  // Fast paths (exact): an all-unknown side adds nothing; ssync intersects with such ranges on most calls.
  if (b.mask === U64 && b.value === 0n && (a.value & a.mask) === 0n) return a;
  if (a.mask === U64 && a.value === 0n && (b.value & b.mask) === 0n) return b;
  const known = ~a.mask & ~b.mask & U64;
  if ((a.value & known) !== (b.value & known)) return undefined;
  const v = a.value | b.value;
  const mu = a.mask & b.mask;
  return { value: v & ~mu & U64, mask: mu };
}

/** Keeps the low 32 bits (upper bits known zero). */
export const tsubreg = (a: Tnum): Tnum => ({ value: a.value & U32, mask: a.mask & U32 });

/** True when every value of `b` is a value of `a`. */
export function tincludes(a: Tnum, b: Tnum): boolean {
  if (b.mask & ~a.mask) return false;
  return (b.value & ~a.mask) === a.value;
}

/** True when `v` is represented by `t`. */
export const tcontains = (t: Tnum, v: bigint): boolean => (BigInt.asUintN(64, v) & ~t.mask & U64) === t.value;

/** `(0x..; 0x..)` as the kernel prints a tnum. */
export const tformat = (t: Tnum): string => `(0x${t.value.toString(16)}; 0x${t.mask.toString(16)})`;
