/**
 * Values during lowering and the operations on them that do not depend on syntax: conversions between integer
 * widths (C wrapping rules), byte-order handling for network-order context fields, arithmetic and comparisons.
 *
 * Invariant for integers narrower than 64 bits: the low 32 bits of the vreg hold the value (zero-extended for
 * unsigned types, sign-extended to 32 for i8/i16); the upper 32 bits may be anything, so such values are combined
 * and compared with 32-bit operations. 64-bit values are exact.
 */
import type { BinOp, CmpOp, Value, VReg } from "../ir/ir.ts";
import { imm, vreg } from "../ir/ir.ts";
import { FnBuilder } from "./builder.ts";
import { wrap, type ConstVal, type MapInfo } from "./module.ts";
import { I32, I64, U64, type IntTy, type Ty } from "./types.ts";

/** Where a struct (or field) lives: a stack slot, or memory behind a pointer (a map value). */
export interface Place {
  base: { slot: number } | { ptr: VReg };
  offset: number;
  ty: Ty;
  /** The integer stored here is in network byte order (LPM key data fields). */
  net?: boolean;
}

/** A lowered expression. */
export type V =
  /** An integer; `lit` marks an untyped literal that adapts to the other operand. */
  | { k: "int"; ty: IntTy; v: Value; lit?: boolean }
  /** A network-order integer as loaded (`raw`); its value is bswap(raw). Compared against swapped constants. */
  | { k: "net"; ty: IntTy; bits: 16 | 32 | 64; raw: Value }
  | { k: "bool"; v: Value }
  /** An IPv6 address as four words, each what a 4-byte load of that word returns. */
  | { k: "ip6"; words: Value[] }
  /** A socket; `ref` when it came from a SOCKMAP/SOCKHASH lookup. */
  | { k: "sock"; v: VReg; undef?: boolean }
  /** `null`, or `undefined` (`undef`): the same 0 at run time, told apart by `===`. */
  | { k: "null"; undef?: boolean }
  /**
   * A nullable pointer to a map value of type `ty`; with `off`, the field at that offset of the value or socket `v`
   * points at (`m.lookup(k)?.hits`, `ctx.sk?.state`): null when `v` is. `undef`: an optional parameter (`x?: u32`),
   * whose absence is `undefined`, never `null`.
   */
  | { k: "ptr"; ty: Ty; v: VReg; off?: number; undef?: boolean }
  | { k: "place"; place: Place }
  | { k: "ctx"; v: VReg }
  | { k: "map"; map: MapInfo }
  | { k: "const"; c: ConstVal }
  | { k: "void" };

/** A lowering failure inside a construct (reported by the caller at the node). */
export class LowerError extends Error {}

/** Load-order word i of a 16-byte network-order address (little-endian host: what `*(u32 *)&bytes[4i]` gives). */
export function loadWord(bytes: Uint8Array, i: number): bigint {
  return BigInt(bytes[4 * i]! | (bytes[4 * i + 1]! << 8) | (bytes[4 * i + 2]! << 16)) + (BigInt(bytes[4 * i + 3]!) << 24n);
}

/** Byte-swaps the low `bits` of `v`. */
export function bswapConst(v: bigint, bits: 16 | 32 | 64): bigint {
  let out = 0n;
  for (let i = 0; i < bits / 8; i++) out = (out << 8n) | ((v >> BigInt(8 * i)) & 0xffn);
  return out;
}

/** Turns a compile-time constant into a value (tuples, cidrs and strings stay constants). */
export function constValue(c: ConstVal): V {
  switch (c.k) {
    case "int": return { k: "int", ty: c.ty, v: imm(c.value), ...(c.lit ? { lit: true } : {}) };
    case "bool": return { k: "bool", v: imm(c.value ? 1 : 0) };
    case "ip6": return { k: "ip6", words: [0, 1, 2, 3].map((i) => imm(loadWord(c.bytes, i))) };
    case "null": return { k: "null" };
    default: return { k: "const", c };
  }
}

/** C's integer promotion: narrower than 32 bits becomes i32. */
export function promote(t: IntTy): IntTy {
  return t.bits < 32 ? I32 : t;
}

/** The common type of a binary operation (C's usual arithmetic conversions; literals adopt the other side's type). */
export function commonType(a: V & { k: "int" }, b: V & { k: "int" }): IntTy {
  if (a.lit && !b.lit) return promote(b.ty);
  if (b.lit && !a.lit) return promote(a.ty);
  const x = promote(a.ty);
  const y = promote(b.ty);
  if (x.bits !== y.bits) return x.bits > y.bits ? x : y;
  return { kind: "int", bits: x.bits, signed: x.signed && y.signed };
}

/** Operations shared by expression and statement lowering. */
export class ValueOps {
  constructor(readonly b: FnBuilder) {}

  /** Emits `dst = a op b` at `width` (folded when both are immediates). */
  bin(kind: BinOp, width: 32 | 64, a: Value, c: Value, ty: IntTy): Value {
    if (a.kind === "imm" && c.kind === "imm") {
      const x = wrap(a.value, ty);
      const y = wrap(c.value, ty);
      const r = foldBin(kind, x, y, width);
      if (r !== undefined) return imm(wrap(r, ty));
    }
    const dst = this.b.vreg();
    this.b.emit({ op: "bin", dst, kind, width, a, b: c });
    return vreg(dst);
  }

  /** The integer a value stands for (materializing network-order values, booleans and map-value pointers). */
  toInt(x: V): V & { k: "int" } {
    switch (x.k) {
      case "int": return x;
      case "bool": return { k: "int", ty: I32, v: x.v };
      case "net": {
        if (x.raw.kind === "imm") return { k: "int", ty: x.ty, v: imm(wrap(bswapConst(x.raw.value, x.bits), x.ty)) };
        const dst = this.b.vreg();
        this.b.emit({ op: "bswap", dst, src: x.raw, bits: x.bits });
        return { k: "int", ty: x.ty, v: vreg(dst) };
      }
      case "ptr":
        if (x.ty.kind === "int" || x.ty.kind === "bool") {
          const ty = x.ty.kind === "int" ? x.ty : I32;
          return this.loadInt({ base: { ptr: x.v }, offset: x.off ?? 0, ty: x.ty }, ty);
        }
        break;
      case "place":
        if (x.place.ty.kind === "int" || x.place.ty.kind === "bool") return this.toInt(this.readPlace(x.place));
        break;
    }
    throw new LowerError(`expected an integer, got ${describe(x)}`);
  }

  /** Converts to integer type `to`, wrapping as C does. */
  convert(x: V, to: IntTy): V & { k: "int" } {
    const i = this.toInt(x);
    const from = i.ty;
    if (i.v.kind === "imm") return { k: "int", ty: to, v: imm(wrap(i.v.value, to)) };
    if (to.bits === 64) {
      if (from.bits === 64) return { ...i, ty: to, lit: undefined } as V & { k: "int" };
      return { k: "int", ty: to, v: this.ext(i.v, 32, from.signed) };
    }
    if (to.bits === 32) return { k: "int", ty: to, v: i.v };
    // to is 8 or 16 bits: already in range when the source is narrower with compatible signedness.
    if (from.bits < to.bits && (!from.signed || to.signed)) return { k: "int", ty: to, v: i.v };
    if (from.bits === to.bits && from.signed === to.signed) return { k: "int", ty: to, v: i.v };
    return { k: "int", ty: to, v: this.ext(i.v, to.bits, to.signed) };
  }

  /** Emits an `ext`. */
  ext(src: Value, bits: 8 | 16 | 32, signed: boolean): Value {
    const dst = this.b.vreg();
    this.b.emit({ op: "ext", dst, src, bits, signed });
    return vreg(dst);
  }

  /** The value with all 64 bits meaningful (for helper arguments). */
  full64(x: V): Value {
    const i = this.toInt(x);
    return i.ty.bits === 64 || i.v.kind === "imm" ? (i.v.kind === "imm" ? imm(wrap(i.v.value, i.ty.bits === 64 ? i.ty : { ...i.ty, bits: 64 })) : i.v) : this.ext(i.v, 32, i.ty.signed);
  }

  /** Loads an integer field from a place. */
  loadInt(p: Place, ty: IntTy): V & { k: "int" } {
    const size = (p.ty.kind === "int" ? p.ty.bits / 8 : 1) as 1 | 2 | 4 | 8;
    const signed = p.ty.kind === "int" && p.ty.signed && size < 4;
    const dst = this.b.vreg();
    if ("slot" in p.base) this.b.emit({ op: "slot_load", dst, slot: p.base.slot, offset: p.offset, size, ...(signed ? { signed } : {}) });
    else this.b.emit({ op: "load", dst, ptr: p.base.ptr, offset: p.offset, size, ...(signed ? { signed } : {}) });
    return { k: "int", ty, v: vreg(dst) };
  }

  /** Reads a place as a value: integers load, network-order integers stay raw, structs stay places. */
  readPlace(p: Place): V {
    const t = p.ty;
    if (t.kind === "int") {
      if (p.net && t.bits > 8) {
        const raw = this.loadInt({ ...p, ty: { ...t, signed: false } }, { ...t, signed: false });
        return { k: "net", ty: t, bits: t.bits as 16 | 32 | 64, raw: raw.v };
      }
      return this.loadInt(p, t);
    }
    if (t.kind === "bool") return { k: "bool", v: this.loadInt({ ...p, ty: { kind: "int", bits: 8, signed: false } }, I32).v };
    if (t.kind === "ip6") {
      return { k: "ip6", words: [0, 1, 2, 3].map((i) => this.loadInt({ ...p, offset: p.offset + 4 * i, ty: { kind: "int", bits: 32, signed: false } }, I32).v) };
    }
    return { k: "place", place: p };
  }

  /** Stores a raw `size`-byte value at a place. */
  storeRaw(p: Place, offset: number, size: 1 | 2 | 4 | 8, value: Value): void {
    if ("slot" in p.base) this.b.emit({ op: "slot_store", slot: p.base.slot, offset: p.offset + offset, size, value });
    else this.b.emit({ op: "store", ptr: p.base.ptr, offset: p.offset + offset, size, value });
  }

  /** Stores an integer into a place of integer type, in network order when the place says so. */
  storeInt(p: Place, x: V): void {
    const t = p.ty as IntTy;
    const size = (t.bits / 8) as 1 | 2 | 4 | 8;
    if (p.net && t.bits > 8) {
      const bits = t.bits as 16 | 32 | 64;
      if (x.k === "net" && x.bits === bits) return this.storeRaw(p, 0, size, x.raw);
      // bswap truncates to its width, so a wider integer needs no explicit wrap first.
      const wide = x.k === "int" && x.v.kind === "vreg" && x.ty.bits >= t.bits && t.bits <= 32 && x.ty.bits <= 32;
      const v = wide ? (x as V & { k: "int" }) : this.convert(x, t);
      if (v.v.kind === "imm") return this.storeRaw(p, 0, size, imm(bswapConst(BigInt.asUintN(bits, v.v.value), bits)));
      const dst = this.b.vreg();
      this.b.emit({ op: "bswap", dst, src: v.v, bits });
      return this.storeRaw(p, 0, size, vreg(dst));
    }
    const v = this.convert(x, t);
    this.storeRaw(p, 0, size, v.v.kind === "imm" ? imm(BigInt.asUintN(t.bits, v.v.value)) : v.v);
  }

  /** A 64-bit comparison-ready pair for `a op b` on integers: their common type and converted operands. */
  intOperands(a: V, c: V): { ty: IntTy; a: Value; b: Value } {
    const x = this.toInt(a);
    const y = this.toInt(c);
    let ty = commonType(x, y);
    // C would compare a negative i32 with a u32 as unsigned (-1 > 0xc0000201); TypeScript compares the numbers.
    // Both fit in i64, where the comparison is exact.
    if (ty.bits === 32 && !ty.signed && (mixedSign(x, y) || mixedSign(y, x))) ty = I64;
    return { ty, a: this.convert(x, ty).v, b: this.convert(y, ty).v };
  }
}

/**
 * A comparison of two integers by their values, as TypeScript compares numbers and bigints: `cmp` one compare in a
 * type that holds both; `const` when a constant lies beyond every value of the other side (`u64 > -1n`); `mixed`
 * for an unsigned and a signed 64-bit value (no type holds both): when `signed` is negative the answer is
 * `whenNegative`, else the unsigned compare of `a` and `b` gives it.
 */
export type IntCompare =
  | { kind: "cmp"; cmp: CmpOp; width: 32 | 64; a: Value; b: Value }
  | { kind: "const"; value: boolean }
  | { kind: "mixed"; cmp: CmpOp; a: Value; b: Value; signed: Value; whenNegative: boolean };

/** Compares `a cmp b` exactly; `la`/`lc`: the TypeScript values of constant operands ({@link ModuleInfo.exactValue}). */
export function compareInts(ops: ValueOps, a: V, c: V, ucmp: CmpOp, scmp: CmpOp, la?: bigint, lc?: bigint): IntCompare {
  const x = ops.toInt(a);
  const y = ops.toInt(c);
  if (la !== undefined && lc !== undefined) return { kind: "const", value: foldCmpConst(ucmp, la, lc) };
  const fits = (t: IntTy, v: bigint) => wrap(v, t) === v;
  if (la !== undefined || lc !== undefined) {
    const [k, other, constLeft] = la !== undefined ? [la, y, true] : [lc!, x, false];
    const t = promote(other.ty);
    const ty = fits(t, k) ? t : t.bits < 64 && fits(I64, k) ? I64 : undefined;
    if (!ty) {
      // Beyond the other side's range: every value of it compares as its nearest bound does.
      const bound = k < 0n ? (t.signed ? -(1n << BigInt(t.bits - 1)) : 0n) : t.signed ? (1n << BigInt(t.bits - 1)) - 1n : (1n << BigInt(t.bits)) - 1n;
      return { kind: "const", value: constLeft ? foldCmpConst(ucmp, k, bound) : foldCmpConst(ucmp, bound, k) };
    }
    const v = ops.convert(other, ty).v;
    return { kind: "cmp", cmp: ty.signed ? scmp : ucmp, width: ty.bits === 64 ? 64 : 32, a: constLeft ? imm(k) : v, b: constLeft ? v : imm(k) };
  }
  const tx = promote(x.ty), ty = promote(y.ty);
  const unsigned64 = (t: IntTy, lit?: boolean) => !lit && !t.signed && t.bits === 64;
  const signedVar = (t: IntTy, lit?: boolean) => !lit && t.signed;
  if ((unsigned64(tx, x.lit) && signedVar(ty, y.lit)) || (signedVar(tx, x.lit) && unsigned64(ty, y.lit))) {
    // u64 against a signed value: a negative one is below every u64; otherwise both are u64 values.
    const signedLeft = tx.signed;
    const av = ops.convert(x, signedLeft ? I64 : U64).v, bv = ops.convert(y, signedLeft ? U64 : I64).v;
    return { kind: "mixed", cmp: ucmp, a: av, b: bv, signed: signedLeft ? av : bv, whenNegative: signedLeft ? foldCmpConst(ucmp, -1n, 0n) : foldCmpConst(ucmp, 0n, -1n) };
  }
  const r = ops.intOperands(x, y);
  return { kind: "cmp", cmp: r.ty.signed ? scmp : ucmp, width: r.ty.bits === 64 ? 64 : 32, a: r.a, b: r.b };
}

/** `s` is signed (or a negative literal) while `u` is an unsigned 32-bit value: C and TypeScript would disagree. */
export function mixedSign(s: V & { k: "int" }, u: V & { k: "int" }): boolean {
  const negativeLit = s.lit && s.v.kind === "imm" && BigInt.asIntN(32, s.v.value) < 0n;
  const signedVar = !s.lit && promote(s.ty).signed && promote(s.ty).bits === 32;
  return !u.lit && !u.ty.signed && u.ty.bits === 32 && (negativeLit || signedVar);
}

/** Folds a BPF binary operation on constants (BPF's x/0 = 0, x%0 = x). */
export function foldBin(kind: BinOp, a: bigint, b: bigint, width: 32 | 64): bigint | undefined {
  const m = BigInt(width - 1);
  switch (kind) {
    case "add": return a + b;
    case "sub": return a - b;
    case "mul": return a * b;
    case "udiv": case "sdiv": return b === 0n ? 0n : a / b;
    case "umod": case "smod": return b === 0n ? a : a % b;
    case "and": return a & b;
    case "or": return a | b;
    case "xor": return a ^ b;
    case "shl": return a << (b & m);
    case "lshr": return BigInt.asUintN(width, a) >> (b & m);
    case "ashr": return BigInt.asIntN(width, a) >> (b & m);
  }
  return undefined;
}

/** Evaluates a comparison on constants. */
export function foldCmpConst(cmp: CmpOp, a: bigint, b: bigint): boolean {
  switch (cmp) {
    case "eq": return a === b;
    case "ne": return a !== b;
    case "ult": case "slt": return a < b;
    case "ule": case "sle": return a <= b;
    case "ugt": case "sgt": return a > b;
    case "uge": case "sge": return a >= b;
    case "set": return (a & b) !== 0n;
  }
}

/** Short description of a value's kind, for messages. */
export function describe(x: V): string {
  switch (x.k) {
    case "int": return `an integer (${x.ty.signed ? "i" : "u"}${x.ty.bits})`;
    case "net": return "an integer";
    case "ptr": return "a map value";
    case "place": return "a struct";
    case "const": return `a constant ${x.c.k}`;
    default: return `a ${x.k}`;
  }
}

