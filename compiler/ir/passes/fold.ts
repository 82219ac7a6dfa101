/**
 * Compile-time evaluation of IR operations on immediates, with exactly the BPF semantics the generated code would
 * have at run time: 64-bit patterns, ALU32 results zero-extended, x/0 = 0 and x%0 = x, shift counts masked to the
 * width (the kernel rejects out-of-range constant shifts, so the backend masks them the same way).
 */
import type { BinOp, CmpOp } from "../ir.ts";

const M64 = (1n << 64n) - 1n;

/** Normalises a bigint to the unsigned 64-bit pattern. */
export const u64 = (v: bigint): bigint => BigInt.asUintN(64, v);

/** Evaluates `a kind b` at `width` bits; returns the 64-bit result pattern (unsigned). */
export function foldBin(kind: BinOp, width: 32 | 64, a: bigint, b: bigint): bigint {
  const bits = BigInt(width);
  const ua = BigInt.asUintN(width, a);
  const ub = BigInt.asUintN(width, b);
  const sa = BigInt.asIntN(width, a);
  const sb = BigInt.asIntN(width, b);
  const sh = ub & (bits - 1n);
  let r: bigint;
  switch (kind) {
    case "add":
      r = ua + ub;
      break;
    case "sub":
      r = ua - ub;
      break;
    case "mul":
      r = ua * ub;
      break;
    case "udiv":
      r = ub === 0n ? 0n : ua / ub;
      break;
    case "umod":
      r = ub === 0n ? ua : ua % ub;
      break;
    case "sdiv":
      r = sb === 0n ? 0n : sa / sb;
      break;
    case "smod":
      r = sb === 0n ? sa : sa % sb;
      break;
    case "and":
      r = ua & ub;
      break;
    case "or":
      r = ua | ub;
      break;
    case "xor":
      r = ua ^ ub;
      break;
    case "shl":
      r = ua << sh;
      break;
    case "lshr":
      r = ua >> sh;
      break;
    case "ashr":
      r = sa >> sh;
      break;
  }
  return BigInt.asUintN(width, r) & M64;
}

/** Evaluates a comparison at `width` bits. */
export function foldCmp(cmp: CmpOp, width: 32 | 64, a: bigint, b: bigint): boolean {
  const ua = BigInt.asUintN(width, a);
  const ub = BigInt.asUintN(width, b);
  const sa = BigInt.asIntN(width, a);
  const sb = BigInt.asIntN(width, b);
  switch (cmp) {
    case "eq":
      return ua === ub;
    case "ne":
      return ua !== ub;
    case "ult":
      return ua < ub;
    case "ule":
      return ua <= ub;
    case "ugt":
      return ua > ub;
    case "uge":
      return ua >= ub;
    case "slt":
      return sa < sb;
    case "sle":
      return sa <= sb;
    case "sgt":
      return sa > sb;
    case "sge":
      return sa >= sb;
    case "set":
      return (ua & ub) !== 0n;
  }
}

/** Truncates to `bits` and zero- or sign-extends back to a 64-bit pattern. */
export function foldExt(v: bigint, bits: 8 | 16 | 32, signed: boolean): bigint {
  return u64(signed ? BigInt.asIntN(bits, v) : BigInt.asUintN(bits, v));
}

/** Byte-swaps the low `bits` of `v`; the result is zero-extended (like BPF `be16`/`be32`/`be64` on little endian). */
export function foldBswap(v: bigint, bits: 16 | 32 | 64): bigint {
  let r = 0n;
  for (let i = 0n; i < BigInt(bits); i += 8n) r = (r << 8n) | ((v >> i) & 0xffn);
  return r;
}

/** The comparison that is true exactly when `cmp` is false (`set` has no single-instruction inverse). */
export function invertCmp(cmp: CmpOp): CmpOp | undefined {
  const inv: Record<CmpOp, CmpOp | undefined> = {
    eq: "ne",
    ne: "eq",
    ult: "uge",
    uge: "ult",
    ule: "ugt",
    ugt: "ule",
    slt: "sge",
    sge: "slt",
    sle: "sgt",
    sgt: "sle",
    set: undefined,
  };
  return inv[cmp];
}

/** The comparison with operands swapped: `a cmp b` ⇔ `b swapCmp(cmp) a`. */
export function swapCmp(cmp: CmpOp): CmpOp {
  const sw: Record<CmpOp, CmpOp> = {
    eq: "eq",
    ne: "ne",
    ult: "ugt",
    ugt: "ult",
    ule: "uge",
    uge: "ule",
    slt: "sgt",
    sgt: "slt",
    sle: "sge",
    sge: "sle",
    set: "set",
  };
  return sw[cmp];
}

/** True when `v` (a 64-bit pattern) equals the sign extension of its low 32 bits, i.e. fits a BPF imm32 operand. */
export function fitsImm32(v: bigint): boolean {
  const s = BigInt.asIntN(64, v);
  return s >= -(1n << 31n) && s < 1n << 31n;
}
