/**
 * The scalar domain: for each register that holds a number, signed and unsigned 64-bit bounds, signed and unsigned
 * bounds of its low 32 bits, and a tnum of known bits. Every transfer function over-approximates the set of values,
 * and is never more precise than the kernel's for the same operation (so we do not accept what Linux rejects).
 */
import { type Tnum, TUNKNOWN, U32, U64, tadd, tand, tarsh, tconst, tintersect, tisConst, tlsh, tmul, tor, trange, trsh, tsub, tsubreg, txor } from "./tnum.ts";

const S64MIN = -(1n << 63n);
const S64MAX = (1n << 63n) - 1n;
const S32MIN = -(1n << 31n);
const S32MAX = (1n << 31n) - 1n;

/** Abstract value of a scalar register. All fields are bigints; unsigned ones are in [0, 2^64). */
export interface Scalar {
  t: Tnum;
  umin: bigint;
  umax: bigint;
  smin: bigint;
  smax: bigint;
  u32min: bigint;
  u32max: bigint;
  s32min: bigint;
  s32max: bigint;
}

/** A fully unknown 64-bit value. */
export const sunknown = (): Scalar => ({
  t: TUNKNOWN,
  umin: 0n,
  umax: U64,
  smin: S64MIN,
  smax: S64MAX,
  u32min: 0n,
  u32max: U32,
  s32min: S32MIN,
  s32max: S32MAX,
});

/** One known value. */
export function sconst(v: bigint): Scalar {
  const u = BigInt.asUintN(64, v);
  const l = u & U32;
  return { t: tconst(u), umin: u, umax: u, smin: BigInt.asIntN(64, u), smax: BigInt.asIntN(64, u), u32min: l, u32max: l, s32min: BigInt.asIntN(32, l), s32max: BigInt.asIntN(32, l) };
}

/** A value known to lie in [0, max] (e.g. a zero-extending load of `bytes` bytes). */
export function srangeU(min: bigint, max: bigint): Scalar | undefined {
  return ssync({ ...sunknown(), umin: min, umax: max });
}

/** The constant value, if known. */
export const sconstValue = (s: Scalar): bigint | undefined => (tisConst(s.t) ? s.t.value : undefined);
/** True when the low 32 bits are known. */
export const sconst32 = (s: Scalar): boolean => (s.t.mask & U32) === 0n;

const max = (a: bigint, b: bigint): bigint => (a > b ? a : b);
const min = (a: bigint, b: bigint): bigint => (a < b ? a : b);

/**
 * Tightens all bounds against each other (tnum ↔ ranges, signed ↔ unsigned, 32 ↔ 64 bits); undefined when the
 * facts contradict each other (no value satisfies them: a dead branch).
 */
export function ssync(s: Scalar): Scalar | undefined {
  if (s.t.mask === 0n) {
    // Fast path: a known value either satisfies every bound or the facts contradict.
    const c = sconst(s.t.value);
    const ok = c.umin >= s.umin && c.umax <= s.umax && c.smin >= s.smin && c.smax <= s.smax &&
      c.u32min >= s.u32min && c.u32max <= s.u32max && c.s32min >= s.s32min && c.s32max <= s.s32max;
    return ok ? c : undefined;
  }
  let { t, umin, umax, smin, smax, u32min, u32max, s32min, s32max } = s;
  for (let round = 0; round < 3; round++) {
    const t0 = t, umin0 = umin, umax0 = umax, smin0 = smin, smax0 = smax;
    const u32min0 = u32min, u32max0 = u32max, s32min0 = s32min, s32max0 = s32max;
    // Bounds from known bits.
    umin = max(umin, t.value);
    umax = min(umax, t.value | t.mask);
    smin = max(smin, BigInt.asIntN(64, t.value | (t.mask & (1n << 63n))));
    smax = min(smax, BigInt.asIntN(64, t.value | (t.mask & S64MAX)));
    const t32 = tsubreg(t);
    u32min = max(u32min, t32.value);
    u32max = min(u32max, t32.value | t32.mask);
    s32min = max(s32min, BigInt.asIntN(32, t32.value | (t32.mask & (1n << 31n))));
    s32max = min(s32max, BigInt.asIntN(32, t32.value | (t32.mask & S32MAX)));
    // Signed <-> unsigned, 64 bits: only when the range does not cross the sign boundary.
    if (smin >= 0n || smax < 0n) {
      umin = max(umin, BigInt.asUintN(64, smin));
      umax = min(umax, BigInt.asUintN(64, smax));
    }
    if (umax <= S64MAX || umin > S64MAX) {
      smin = max(smin, BigInt.asIntN(64, umin));
      smax = min(smax, BigInt.asIntN(64, umax));
    }
    // 64 -> 32: when the upper halves agree the low halves are ordered like the whole.
    if (umin >> 32n === umax >> 32n) {
      u32min = max(u32min, umin & U32);
      u32max = min(u32max, umax & U32);
    }
    if (smin >> 32n === smax >> 32n) {
      u32min = max(u32min, BigInt.asUintN(64, smin) & U32);
      u32max = min(u32max, BigInt.asUintN(64, smax) & U32);
    }
    // Signed <-> unsigned, 32 bits.
    if (s32min >= 0n || s32max < 0n) {
      u32min = max(u32min, BigInt.asUintN(32, s32min));
      u32max = min(u32max, BigInt.asUintN(32, s32max));
    }
    if (u32max <= S32MAX || u32min > S32MAX) {
      s32min = max(s32min, BigInt.asIntN(32, u32min));
      s32max = min(s32max, BigInt.asIntN(32, u32max));
    }
    // 32 -> 64: when the upper half is known, the low bounds give the whole.
    if (t.mask >> 32n === 0n) {
      const hi = (t.value >> 32n) << 32n;
      umin = max(umin, hi | u32min);
      umax = min(umax, hi | u32max);
      smin = max(smin, BigInt.asIntN(64, hi | u32min));
      smax = min(smax, BigInt.asIntN(64, hi | u32max));
    }
    if (umin > umax || smin > smax || u32min > u32max || s32min > s32max) return undefined;
    // Known bits from bounds.
    const a = tintersect(t, trange(umin, umax));
    if (!a) return undefined;
    const r32 = trange(u32min, u32max);
    const b = tintersect(a, { value: r32.value, mask: (U64 & ~U32) | r32.mask });
    if (!b) return undefined;
    t = b;
    // Stop as soon as a round changes nothing (usually the first).
    if (
      t.value === t0.value && t.mask === t0.mask && umin === umin0 && umax === umax0 &&
      smin === smin0 && smax === smax0 && u32min === u32min0 && u32max === u32max0 && s32min === s32min0 && s32max === s32max0
    ) break;
  }
  if (umin > umax || smin > smax || u32min > u32max || s32min > s32max) return undefined;
  return { t, umin, umax, smin, smax, u32min, u32max, s32min, s32max };
}

/** A w-bit view of a scalar used by the ALU transfer functions. */
interface Range {
  t: Tnum;
  umin: bigint;
  umax: bigint;
  smin: bigint;
  smax: bigint;
}

const view = (s: Scalar, w: 32 | 64): Range =>
  w === 64 ? s : { t: tsubreg(s.t), umin: s.u32min, umax: s.u32max, smin: s.s32min, smax: s.s32max };

const fullRange = (w: 32 | 64): Range => ({
  t: w === 64 ? TUNKNOWN : { value: 0n, mask: U32 },
  umin: 0n,
  umax: w === 64 ? U64 : U32,
  smin: w === 64 ? S64MIN : S32MIN,
  smax: w === 64 ? S64MAX : S32MAX,
});

/** Scalar from a w-bit result; 32-bit results are zero-extended like BPF_ALU does. */
function fromRange(r: Range, w: 32 | 64): Scalar {
  const mask = w === 64 ? U64 : U32;
  const t = { value: r.t.value & mask, mask: r.t.mask & mask };
  if (w === 64) return ssync({ t, umin: r.umin, umax: r.umax, smin: r.smin, smax: r.smax, u32min: 0n, u32max: U32, s32min: S32MIN, s32max: S32MAX }) ?? sunknown();
  // Zero extension: the 64-bit value equals the unsigned 32-bit one.
  const s32ok = r.smin <= r.smax;
  return (
    ssync({
      t,
      umin: r.umin,
      umax: r.umax,
      smin: r.umin,
      smax: r.umax,
      u32min: r.umin,
      u32max: r.umax,
      s32min: s32ok ? r.smin : S32MIN,
      s32max: s32ok ? r.smax : S32MAX,
    }) ?? ssync({ ...sunknown(), t: { value: 0n, mask: U32 } })!
  );
}

/** ALU operations the transfer function knows; everything else yields an unknown value. */
export type AluKind = "add" | "sub" | "mul" | "div" | "mod" | "or" | "and" | "xor" | "lsh" | "rsh" | "arsh" | "neg";

/**
 * `dst op src` on `w` bits. Division, modulo and shifts by unknown or out-of-range amounts give a fully unknown
 * 64-bit value, as in the kernel (which does not compute their ranges).
 */
export function salu(op: AluKind, dst: Scalar, src: Scalar, w: 32 | 64): Scalar {
  const r = salu1(op, dst, src, w);
  // The low 32 bits of a 64-bit add/sub/mul/bitwise op (and of a left shift) depend only on the operands' low 32
  // bits, so the 32-bit operation bounds them too (the kernel tracks both widths the same way).
  if (w === 64 && (LOW_BITS_OPS.has(op) || (op === "lsh" && src.umax < 32n)) && !(dst.t.mask === 0n && src.t.mask === 0n)) {
    const r32 = salu1(op, dst, src, 32);
    return (
      ssync({
        ...r,
        u32min: max(r.u32min, r32.u32min),
        u32max: min(r.u32max, r32.u32max),
        s32min: max(r.s32min, r32.s32min),
        s32max: min(r.s32max, r32.s32max),
      }) ?? r
    );
  }
  return r;
}

const LOW_BITS_OPS: ReadonlySet<AluKind> = new Set(["add", "sub", "mul", "and", "or", "xor", "neg"]);

function salu1(op: AluKind, dst: Scalar, src: Scalar, w: 32 | 64): Scalar {
  const a = view(dst, w);
  const b = view(src, w);
  const W = w === 64 ? U64 : U32;
  const SMIN = w === 64 ? S64MIN : S32MIN;
  const SMAX = w === 64 ? S64MAX : S32MAX;
  const mask = (t: Tnum): Tnum => ({ value: t.value & W, mask: t.mask & W });
  const sfits = (...v: bigint[]): boolean => v.every((x) => x >= SMIN && x <= SMAX);
  const r = fullRange(w);
  if (a.t.mask === 0n && b.t.mask === 0n && op !== "div" && op !== "mod") {
    const x = a.t.value;
    const y = b.t.value;
    let v: bigint | undefined;
    if (op === "add") v = x + y;
    else if (op === "sub") v = x - y;
    else if (op === "mul") v = x * y;
    else if (op === "and") v = x & y;
    else if (op === "or") v = x | y;
    else if (op === "xor") v = x ^ y;
    else if (op === "neg") v = -x;
    else if (y < BigInt(w)) {
      if (op === "lsh") v = x << y;
      else if (op === "rsh") v = x >> y;
      else if (op === "arsh") v = BigInt.asIntN(w, x) >> y;
    }
    if (v !== undefined) return sconst(BigInt.asUintN(w, v));
  }
  switch (op) {
    case "neg":
      return salu("sub", sconst(0n), dst, w);
    case "add": {
      r.t = mask(tadd(a.t, b.t));
      if (a.umax + b.umax <= W) [r.umin, r.umax] = [a.umin + b.umin, a.umax + b.umax];
      if (sfits(a.smin + b.smin, a.smax + b.smax)) [r.smin, r.smax] = [a.smin + b.smin, a.smax + b.smax];
      break;
    }
    case "sub": {
      r.t = mask(tsub(a.t, b.t));
      if (a.umin >= b.umax) [r.umin, r.umax] = [a.umin - b.umax, a.umax - b.umin];
      if (sfits(a.smin - b.smax, a.smax - b.smin)) [r.smin, r.smax] = [a.smin - b.smax, a.smax - b.smin];
      break;
    }
    case "mul": {
      r.t = mask(tmul(a.t, b.t));
      if (a.umax * b.umax <= W) [r.umin, r.umax] = [a.umin * b.umin, a.umax * b.umax];
      const p = [a.smin * b.smin, a.smin * b.smax, a.smax * b.smin, a.smax * b.smax];
      if (sfits(...p)) [r.smin, r.smax] = [p.reduce(min), p.reduce(max)];
      break;
    }
    case "and": {
      r.t = mask(tand(a.t, b.t));
      r.umin = r.t.value;
      r.umax = min(a.umax, b.umax);
      if (a.smin >= 0n && b.smin >= 0n) [r.smin, r.smax] = [r.umin, r.umax];
      break;
    }
    case "or": {
      r.t = mask(tor(a.t, b.t));
      r.umin = max(a.umin, b.umin);
      r.umax = r.t.value | r.t.mask;
      if (a.smin >= 0n && b.smin >= 0n) [r.smin, r.smax] = [r.umin, r.umax];
      break;
    }
    case "xor": {
      r.t = mask(txor(a.t, b.t));
      r.umin = r.t.value;
      r.umax = r.t.value | r.t.mask;
      if (a.smin >= 0n && b.smin >= 0n) [r.smin, r.smax] = [r.umin, r.umax];
      break;
    }
    case "lsh":
    case "rsh":
    case "arsh": {
      const k = b.umin === b.umax ? b.umin : -1n;
      if (k < 0n || k >= BigInt(w)) return sunknown();
      const n = Number(k);
      if (op === "lsh") {
        r.t = mask(tlsh(a.t, n));
        if (a.umax << k <= W) [r.umin, r.umax] = [a.umin << k, a.umax << k];
      } else if (op === "rsh") {
        r.t = trsh(a.t, n);
        [r.umin, r.umax] = [a.umin >> k, a.umax >> k];
      } else {
        r.t = tarsh(a.t, n, w);
        [r.smin, r.smax] = [a.smin >> k, a.smax >> k];
      }
      break;
    }
    default:
      return sunknown();
  }
  return fromRange(r, w);
}

/** `w = w` (mov32): the low 32 bits, zero-extended. */
export const szext32 = (s: Scalar): Scalar => fromRange(view(s, 32), 32);

/** Sign extension of the low `bits` bits to 64 (movsx), or of a value already known. */
export function ssext(s: Scalar, bits: 8 | 16 | 32, w: 32 | 64): Scalar {
  const c = sconstValue(s);
  if (c !== undefined) {
    const v = BigInt.asIntN(bits, c);
    return w === 64 ? sconst(v) : sconst(BigInt.asUintN(32, v));
  }
  const lo = -(1n << BigInt(bits - 1));
  const hi = (1n << BigInt(bits - 1)) - 1n;
  if (w === 32) return ssync({ ...sunknown(), t: { value: 0n, mask: U32 } })!;
  return ssync({ ...sunknown(), smin: lo, smax: hi }) ?? sunknown();
}

/** Jump comparisons, named by their taken sense. */
export type CmpKind = "eq" | "ne" | "gt" | "ge" | "lt" | "le" | "sgt" | "sge" | "slt" | "sle" | "set";

/** The comparison that holds on the fall-through edge (undefined for `set`, whose negation is not a comparison). */
export const NEGATE: Record<CmpKind, CmpKind | undefined> = {
  eq: "ne", ne: "eq", gt: "le", ge: "lt", lt: "ge", le: "gt", sgt: "sle", sge: "slt", slt: "sge", sle: "sgt", set: undefined,
};

/** Whether `a op b` is always true, always false, or either (undefined), on 32 or 64 bits. */
export function sbranchTaken(op: CmpKind, sa: Scalar, sb: Scalar, w: 32 | 64): boolean | undefined {
  const a = view(sa, w);
  const b = view(sb, w);
  switch (op) {
    case "eq":
    case "ne": {
      let r: boolean | undefined;
      if (tisConst(a.t) && tisConst(b.t)) r = a.t.value === b.t.value;
      else if (a.umin > b.umax || a.umax < b.umin || a.smin > b.smax || a.smax < b.smin || !tintersect(a.t, b.t)) r = false;
      return r === undefined ? undefined : op === "eq" ? r : !r;
    }
    case "set":
      if ((a.t.value & b.t.value) !== 0n) return true;
      if (((a.t.value | a.t.mask) & (b.t.value | b.t.mask)) === 0n) return false;
      return undefined;
    case "gt":
      return a.umin > b.umax ? true : a.umax <= b.umin ? false : undefined;
    case "ge":
      return a.umin >= b.umax ? true : a.umax < b.umin ? false : undefined;
    case "lt":
      return a.umax < b.umin ? true : a.umin >= b.umax ? false : undefined;
    case "le":
      return a.umax <= b.umin ? true : a.umin > b.umax ? false : undefined;
    case "sgt":
      return a.smin > b.smax ? true : a.smax <= b.smin ? false : undefined;
    case "sge":
      return a.smin >= b.smax ? true : a.smax < b.smin ? false : undefined;
    case "slt":
      return a.smax < b.smin ? true : a.smin >= b.smax ? false : undefined;
    case "sle":
      return a.smax <= b.smin ? true : a.smin > b.smax ? false : undefined;
  }
}

type Bounds = { umin: bigint; umax: bigint; smin: bigint; smax: bigint; t: Tnum };

/** A private, writable w-bit view of `s` (srefine narrows it in place). */
const bounds = (s: Scalar, w: 32 | 64): Bounds =>
  w === 64 ? { umin: s.umin, umax: s.umax, smin: s.smin, smax: s.smax, t: s.t } : { umin: s.u32min, umax: s.u32max, smin: s.s32min, smax: s.s32max, t: tsubreg(s.t) };

/**
 * Refines both operands assuming `a op b` holds (`holds` false: it does not). Returns undefined when that is
 * impossible. Works on the 64-bit or the 32-bit bounds.
 */
export function srefine(op: CmpKind, sa: Scalar, sb: Scalar, holds: boolean, w: 32 | 64): [Scalar, Scalar] | undefined {
  const a = bounds(sa, w);
  const b = bounds(sb, w);
  let kind: CmpKind | undefined = holds ? op : NEGATE[op];
  if (op === "set") {
    const c = tisConst(b.t) ? b.t.value : undefined;
    if (c !== undefined) {
      if (holds && c !== 0n && (c & (c - 1n)) === 0n) a.t = tor(a.t, tconst(c));
      if (!holds) a.t = tand(a.t, { value: ~c & (w === 64 ? U64 : U32), mask: 0n });
    }
    kind = undefined;
  }
  switch (kind) {
    case "eq": {
      const t = tintersect(a.t, b.t);
      if (!t) return undefined;
      const u0 = max(a.umin, b.umin), u1 = min(a.umax, b.umax), s0 = max(a.smin, b.smin), s1 = min(a.smax, b.smax);
      Object.assign(a, { t, umin: u0, umax: u1, smin: s0, smax: s1 });
      Object.assign(b, { t, umin: u0, umax: u1, smin: s0, smax: s1 });
      break;
    }
    case "ne":
      for (const [x, y] of [[a, b], [b, a]] as const) {
        if (!tisConst(y.t)) continue;
        const c = y.t.value;
        if (x.umin === c) x.umin++;
        if (x.umax === c) x.umax--;
        const sc = BigInt.asIntN(w, c);
        if (x.smin === sc) x.smin++;
        if (x.smax === sc) x.smax--;
      }
      break;
    case "lt":
    case "le":
    case "gt":
    case "ge": {
      const [lo, hi] = kind === "lt" || kind === "le" ? [a, b] : [b, a];
      const strict = kind === "lt" || kind === "gt" ? 1n : 0n;
      lo.umax = min(lo.umax, hi.umax - strict);
      hi.umin = max(hi.umin, lo.umin + strict);
      break;
    }
    case "slt":
    case "sle":
    case "sgt":
    case "sge": {
      const [lo, hi] = kind === "slt" || kind === "sle" ? [a, b] : [b, a];
      const strict = kind === "slt" || kind === "sgt" ? 1n : 0n;
      lo.smax = min(lo.smax, hi.smax - strict);
      hi.smin = max(hi.smin, lo.smin + strict);
      break;
    }
  }
  const back = (s: Scalar, r: Bounds): Scalar | undefined => {
    if (r.umin > r.umax || r.smin > r.smax) return undefined;
    // Nothing learnt about this operand (the usual case for a constant one): it stays as it is, already in sync.
    if (w === 64) {
      if (r.umin === s.umin && r.umax === s.umax && r.smin === s.smin && r.smax === s.smax && r.t.value === s.t.value && r.t.mask === s.t.mask) return s;
    } else if (
      r.umin === s.u32min && r.umax === s.u32max && r.smin === s.s32min && r.smax === s.s32max &&
      r.t.value === (s.t.value & U32) && r.t.mask === (s.t.mask & U32)
    ) return s;
    if (w === 64) {
      const t = tintersect(s.t, r.t);
      return t && ssync({
        t, umin: max(s.umin, r.umin), umax: min(s.umax, r.umax), smin: max(s.smin, r.smin), smax: min(s.smax, r.smax),
        u32min: s.u32min, u32max: s.u32max, s32min: s.s32min, s32max: s.s32max,
      });
    }
    const t = tintersect(s.t, { value: r.t.value, mask: (U64 & ~U32) | r.t.mask });
    return t && ssync({
      t, umin: s.umin, umax: s.umax, smin: s.smin, smax: s.smax,
      u32min: max(s.u32min, r.umin), u32max: min(s.u32max, r.umax), s32min: max(s.s32min, r.smin), s32max: min(s.s32max, r.smax),
    });
  };
  const ra = back(sa, a);
  const rb = back(sb, b);
  return ra && rb ? [ra, rb] : undefined;
}

/** True when every value of `b` is a value of `a` (for state pruning). */
export function sincludes(a: Scalar, b: Scalar): boolean {
  // A known `a` includes only the same known value: one comparison usually decides (the checks below, reordered).
  if (a.t.mask === 0n && (b.t.mask !== 0n || b.t.value !== a.t.value)) return false;
  return (
    a.umin <= b.umin && a.umax >= b.umax && a.smin <= b.smin && a.smax >= b.smax &&
    a.u32min <= b.u32min && a.u32max >= b.u32max && a.s32min <= b.s32min && a.s32max >= b.s32max &&
    (b.t.mask & ~a.t.mask) === 0n && (b.t.value & ~a.t.mask) === a.t.value
  );
}

/** Exact equality of two abstract scalars. */
export const sequal = (a: Scalar, b: Scalar): boolean =>
  a.t.value === b.t.value && a.t.mask === b.t.mask && a.umin === b.umin && a.umax === b.umax && a.smin === b.smin &&
  a.smax === b.smax && a.u32min === b.u32min && a.u32max === b.u32max && a.s32min === b.s32min && a.s32max === b.s32max;

/** The kernel's way of printing a scalar: the constant, or the bounds that say something. */
export function sformat(s: Scalar): string {
  const c = sconstValue(s);
  if (c !== undefined) return BigInt.asIntN(64, c).toString();
  const parts: string[] = [];
  if (s.smin !== S64MIN) parts.push(`smin=${s.smin}`);
  if (s.smax !== S64MAX) parts.push(`smax=${s.smax}`);
  if (s.umin !== 0n) parts.push(`umin=${s.umin}`);
  if (s.umax !== U64) parts.push(`umax=${s.umax}`);
  if (s.smin !== BigInt.asIntN(64, s.umin) || s.smax !== BigInt.asIntN(64, s.umax)) {
    if (s.s32min !== S32MIN) parts.push(`smin32=${s.s32min}`);
    if (s.s32max !== S32MAX) parts.push(`smax32=${s.s32max}`);
    if (s.u32max !== U32) parts.push(`umax32=${s.u32max}`);
  }
  if (s.t.mask !== U64) parts.push(`var_off=(0x${s.t.value.toString(16)}; 0x${s.t.mask.toString(16)})`);
  return parts.length ? `scalar(${parts.join(",")})` : "scalar()";
}

/** Signed 64/32-bit limits, for callers that print or compare bounds. */
export { S64MIN, S64MAX, S32MIN, S32MAX };
