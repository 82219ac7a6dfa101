/**
 * A small builder for hand-written IR in backend tests: the IR is what a frontend would produce, written out
 * instruction by instruction so each test controls exactly what the backend receives.
 */
import type { BinOp, Block, CmpOp, Function, Inst, IrMap, Module, PtrKind, Value, VReg } from "../../compiler/ir/ir.ts";
import { MapType } from "../../compiler/abi/maps.ts";

/** Operand shorthands: `v(3)` is vreg 3, `k(7007)` an immediate. */
export const v = (id: VReg): Value => ({ kind: "vreg", id });
export const k = (n: number | bigint): Value => ({ kind: "imm", value: BigInt.asUintN(64, BigInt(n)) });

/** Builds one function block by block. Block ids are allocated in creation order (block 0 is the entry). */
export class FnBuilder {
  readonly fn: Function;
  private cur: Block;

  constructor(name: string, isProgram = true, params = 1) {
    this.fn = { name, isProgram, params: [], blocks: [], slots: [], vregCount: 0, ptrKinds: new Map() };
    for (let i = 0; i < params; i++) this.fn.params.push(this.fn.vregCount++);
    if (isProgram) this.fn.ptrKinds!.set(0, "ctx");
    this.cur = this.block();
  }

  /** The context vreg of a program. */
  get ctx(): VReg {
    return this.fn.params[0]!;
  }

  /** A new, empty block (terminated by `ret 0` until set). */
  block(): Block {
    const b: Block = { id: this.fn.blocks.length, insts: [], term: { op: "ret", value: k(0) } };
    this.fn.blocks.push(b);
    return b;
  }

  /** Continue emitting into `b`. */
  at(b: Block): this {
    this.cur = b;
    return this;
  }

  /** A fresh vreg, optionally with a pointer kind. */
  vreg(kind?: PtrKind): VReg {
    const id = this.fn.vregCount++;
    if (kind) this.fn.ptrKinds!.set(id, kind);
    return id;
  }

  /** A stack slot. */
  slot(size: number, align: 1 | 2 | 4 | 8, name?: string): number {
    const id = this.fn.slots.length;
    this.fn.slots.push({ id, size, align, name });
    return id;
  }

  emit(inst: Inst): this {
    this.cur.insts.push(inst);
    return this;
  }

  ctxLoad(offset: number, size: 1 | 2 | 4 | 8, kind?: PtrKind): VReg {
    const dst = this.vreg(kind);
    this.emit({ op: "ctx_load", dst, offset, size });
    return dst;
  }

  bin(kind: BinOp, a: Value, b: Value, width: 32 | 64 = 64): VReg {
    const dst = this.vreg();
    this.emit({ op: "bin", dst, kind, width, a, b });
    return dst;
  }

  mov(src: Value, dst = this.vreg()): VReg {
    this.emit({ op: "mov", dst, src });
    return dst;
  }

  setcc(cmp: CmpOp, a: Value, b: Value, width: 32 | 64 = 64): VReg {
    const dst = this.vreg();
    this.emit({ op: "setcc", dst, cmp, width, a, b });
    return dst;
  }

  /**
   * `d = (a cmp b) ? 1 : 0` the way the frontend lowers a boolean expression: a diamond of constant moves meeting in
   * a new block, where emission continues.
   */
  boolDiamond(cmp: CmpOp, a: Value, b: Value, width: 32 | 64 = 64): VReg {
    const d = this.vreg();
    const yes = this.block();
    const no = this.block();
    const join = this.block();
    this.cbr(cmp, a, b, yes, no, width);
    this.at(yes).mov(k(1), d);
    this.br(join);
    this.at(no).mov(k(0), d);
    this.br(join);
    this.at(join);
    return d;
  }

  mapRef(map: string): VReg {
    const dst = this.vreg("map");
    this.emit({ op: "map_ref", dst, map });
    return dst;
  }

  slotAddr(slot: number, offset = 0): VReg {
    const dst = this.vreg("stack");
    this.emit({ op: "slot_addr", dst, slot, offset });
    return dst;
  }

  slotStore(slot: number, offset: number, size: 1 | 2 | 4 | 8, value: Value): this {
    return this.emit({ op: "slot_store", slot, offset, size, value });
  }

  load(ptr: VReg, offset: number, size: 1 | 2 | 4 | 8): VReg {
    const dst = this.vreg();
    this.emit({ op: "load", dst, ptr, offset, size });
    return dst;
  }

  call(helper: number, args: Value[], resultKind?: PtrKind): VReg {
    const dst = this.vreg(resultKind);
    this.emit({ op: "call", dst, helper, args, resultKind });
    return dst;
  }

  callVoid(helper: number, args: Value[]): this {
    return this.emit({ op: "call", helper, args });
  }

  /** `map.lookup(key)` with a u32 key built in its own stack slot; returns the map_value_or_null vreg. */
  lookupU32(map: string, key: Value, kind: PtrKind = "map_value_or_null"): VReg {
    const s = this.slot(4, 4, "key");
    this.slotStore(s, 0, 4, key);
    const m = this.mapRef(map);
    const p = this.slotAddr(s);
    return this.call(1, [v(m), v(p)], kind);
  }

  br(target: Block): void {
    this.cur.term = { op: "br", target: target.id };
  }

  cbr(cmp: CmpOp, a: Value, b: Value, then: Block, els: Block, width: 32 | 64 = 64): void {
    this.cur.term = { op: "cbr", cmp, width, a, b, then: then.id, else: els.id };
  }

  ret(value: Value): void {
    this.cur.term = { op: "ret", value };
  }
}

/** A map definition for tests. */
export function map(name: string, type: MapType, keySize: number, valueSize: number, maxEntries: number, flags = 0): IrMap {
  return { name, type, keySize, valueSize, maxEntries, flags, pinning: 0 };
}

/** A module holding `functions` and `maps`. */
export function module(functions: Function[], maps: IrMap[]): Module {
  return { fileName: "test.ts", source: "", license: "GPL", functions, maps };
}
