/**
 * The tsbpf IR: the contract between the frontend (TypeScript → IR) and the backend (IR → BPF).
 *
 * Shape: a module of functions; a function is a list of basic blocks; a block is straight-line instructions ending in
 * one terminator. Values live in virtual registers (`VReg`), 64 bits wide, which may be assigned more than once (not
 * SSA: locals are vregs and `mov` reassigns them). Memory is explicit: stack slots, the context, map values and
 * sockets are reached only through the instructions below, so the backend knows every pointer's kind when it picks
 * BPF loads, and the verifier's view of pointer types survives register allocation.
 *
 * Integer semantics: vregs hold 64-bit patterns. An instruction with `width: 32` operates on the low 32 bits and
 * zero-extends its result (BPF ALU32 semantics); the frontend inserts `ext` where a narrower TS type (u8/u16/i8/i16/i32)
 * must wrap or sign-extend. Comparisons state signedness explicitly.
 */

import type { SourceLoc } from "../asm/instruction.ts";
import type { MapDef } from "../abi/maps.ts";

/** A virtual register id, unique within a function. */
export type VReg = number;

/** An operand: a virtual register or a 64-bit immediate (the backend picks imm32 or lddw). */
export type Value = { kind: "vreg"; id: VReg } | { kind: "imm"; value: bigint };

/** Binary arithmetic and bit operations. `udiv`/`umod` follow BPF: x/0 = 0, x%0 = x. */
export type BinOp = "add" | "sub" | "mul" | "udiv" | "umod" | "sdiv" | "smod" | "and" | "or" | "xor" | "shl" | "lshr" | "ashr";

/** Comparison for branches and `setcc`. `u*` unsigned, `s*` signed, `set` = (a & b) != 0. */
export type CmpOp = "eq" | "ne" | "ult" | "ule" | "ugt" | "uge" | "slt" | "sle" | "sgt" | "sge" | "set";

/** A stack slot, placed in the BPF frame by the backend. Structs built as map keys/values live here. */
export interface StackSlot {
  id: number;
  size: number;
  align: 1 | 2 | 4 | 8;
  /** Debug name (the TS variable), for dumps. */
  name?: string;
}

/** What a pointer-typed vreg points at; the backend and dumps use it, the verifier re-derives it from bytecode. */
export type PtrKind = "stack" | "ctx" | "map_value" | "map_value_or_null" | "sock" | "sock_or_null" | "map";

/** Instructions. Every one may carry the TS source location it came from. */
export type Inst = (
  | { op: "mov"; dst: VReg; src: Value }
  | { op: "bin"; dst: VReg; kind: BinOp; width: 32 | 64; a: Value; b: Value }
  | { op: "neg"; dst: VReg; width: 32 | 64; src: Value }
  /** Truncate `src` to `bits` and zero- or sign-extend back to 64 bits. */
  | { op: "ext"; dst: VReg; src: Value; bits: 8 | 16 | 32; signed: boolean }
  /** Byte-swap the low `bits` (host ↔ network order). */
  | { op: "bswap"; dst: VReg; src: Value; bits: 16 | 32 | 64 }
  /** dst = (a cmp b) ? 1 : 0. */
  | { op: "setcc"; dst: VReg; cmp: CmpOp; width: 32 | 64; a: Value; b: Value }
  /** Load from the program's context (only loads the kernel accepts: see abi/sk-lookup.ts). */
  | { op: "ctx_load"; dst: VReg; offset: number; size: 1 | 2 | 4 | 8 }
  /** Address of a stack slot (+ byte offset). */
  | { op: "slot_addr"; dst: VReg; slot: number; offset: number }
  /** Load from a stack slot. */
  | { op: "slot_load"; dst: VReg; slot: number; offset: number; size: 1 | 2 | 4 | 8; signed?: boolean }
  /** Store into a stack slot. */
  | { op: "slot_store"; slot: number; offset: number; size: 1 | 2 | 4 | 8; value: Value }
  /** Load through a pointer vreg (map value, socket). */
  | { op: "load"; dst: VReg; ptr: VReg; offset: number; size: 1 | 2 | 4 | 8; signed?: boolean }
  /** Store through a pointer vreg (map value). */
  | { op: "store"; ptr: VReg; offset: number; size: 1 | 2 | 4 | 8; value: Value }
  /** Atomic add through a pointer (map value `increment`). */
  | { op: "atomic_add"; ptr: VReg; offset: number; size: 4 | 8; value: Value }
  /** dst = pointer to a map (lddw with a map relocation). */
  | { op: "map_ref"; dst: VReg; map: string }
  /**
   * Call a BPF helper. Arguments go to r1..r5 in order; the result (if `dst`) comes from r0. `resultKind` tells the
   * backend/dumps what r0 holds (e.g. `map_value_or_null` after map_lookup_elem, a socket reference after a SOCKMAP lookup).
   */
  | { op: "call"; dst?: VReg; helper: number; args: Value[]; resultKind?: PtrKind }
  /** Call a local IR function (BPF-to-BPF call or inlined by the backend). */
  | { op: "call_local"; dst?: VReg; callee: string; args: Value[] }
) & { loc?: SourceLoc };

/** Block terminators. */
export type Terminator = (
  | { op: "br"; target: number }
  | { op: "cbr"; cmp: CmpOp; width: 32 | 64; a: Value; b: Value; then: number; else: number }
  /**
   * Return `value`. With `abort`, the return ends the whole program even from inside a local function (the inliner
   * keeps it a return instead of jumping to the call's continuation): the NULL path of a `!` assertion.
   */
  | { op: "ret"; value: Value; abort?: boolean }
) & { loc?: SourceLoc };

/** A basic block. `id` indexes `Function.blocks`; block 0 is the entry. */
export interface Block {
  id: number;
  insts: Inst[];
  term: Terminator;
}

/** An IR function: a program (one ctx parameter) or a local helper. */
export interface Function {
  name: string;
  /** True for exported sk_lookup programs. */
  isProgram: boolean;
  /** Parameter vregs; for a program, params[0] is the ctx pointer. */
  params: VReg[];
  blocks: Block[];
  slots: StackSlot[];
  /** Number of vregs allocated (ids are 0..vregCount-1). */
  vregCount: number;
  /** Kind of pointer-valued vregs, where known. */
  ptrKinds?: Map<VReg, PtrKind>;
  loc?: SourceLoc;
}

/** A whole compilation unit: one TS file. */
export interface Module {
  fileName: string;
  /** Source text, for BTF line info and diagnostics. */
  source: string;
  license: string;
  functions: Function[];
  maps: IrMap[];
}

/** A map definition plus the C-layout types of its key and value, for BTF. */
export interface IrMap extends MapDef {
  keyType?: IrType;
  valueType?: IrType;
}

/** C-layout types for BTF and struct layout. */
export type IrType =
  | { kind: "int"; name: string; bytes: 1 | 2 | 4 | 8; signed: boolean }
  | { kind: "bool" }
  | { kind: "array"; elem: IrType; length: number }
  | { kind: "struct"; name: string; size: number; align: number; fields: { name: string; offset: number; type: IrType }[] };

/** Helpers to build operands. */
export const vreg = (id: VReg): Value => ({ kind: "vreg", id });
export const imm = (value: bigint | number): Value => ({ kind: "imm", value: BigInt(value) });
