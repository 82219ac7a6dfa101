/**
 * A reference interpreter for IR functions, for differential tests against the kernel. It implements the IR
 * contract directly (64-bit patterns, ALU32 zero-extension, BPF division rules) on a context buffer, stack slots and
 * ARRAY maps. Helpers: map_lookup_elem (1) on ARRAY maps, get_prandom_u32 (7) and ktime_get_ns (5), whose results
 * must not influence what is checked.
 */
import type { Function, Inst, Value, VReg } from "../../compiler/ir/ir.ts";
import { foldBin, foldBswap, foldCmp, foldExt } from "../../compiler/ir/passes/fold.ts";

/** ARRAY map contents by name: one byte buffer per index. */
export type ArrayMaps = Map<string, Uint8Array[]>;

type Ptr = { kind: "slot"; slot: number; off: number } | { kind: "map"; map: string; index: number; off: number } | { kind: "mapref"; map: string };

/** Runs `fn` on `ctx` (72 bytes); returns its return value. Stores through map values land in `maps`. */
export function interpret(fn: Function, ctx: Uint8Array, maps: ArrayMaps, stepLimit = 100_000): bigint {
  const regs = new Map<VReg, bigint>();
  const ptrs = new Map<VReg, Ptr>();
  const slots = new Map(fn.slots.map((s) => [s.id, new Uint8Array(s.size)]));
  const val = (v: Value): bigint => {
    if (v.kind === "imm") return BigInt.asUintN(64, v.value);
    if (ptrs.has(v.id)) return 1n; // a non-null pointer compares unequal to 0
    const x = regs.get(v.id);
    if (x === undefined) throw new Error(`v${v.id} read before assignment`);
    return x;
  };
  const set = (d: VReg, x: bigint) => {
    regs.set(d, BigInt.asUintN(64, x));
    ptrs.delete(d);
  };
  const read = (buf: Uint8Array, off: number, size: number): bigint => {
    let r = 0n;
    for (let i = size - 1; i >= 0; i--) r = (r << 8n) | BigInt(buf[off + i]!);
    return r;
  };
  const write = (buf: Uint8Array, off: number, size: number, x: bigint) => {
    for (let i = 0; i < size; i++) buf[off + i] = Number((x >> BigInt(8 * i)) & 0xffn);
  };
  const mem = (p: Ptr, extra: number): [Uint8Array, number] => {
    if (p.kind === "slot") return [slots.get(p.slot)!, p.off + extra];
    if (p.kind === "map") return [maps.get(p.map)![p.index]!, p.off + extra];
    throw new Error("dereference of a map pointer");
  };
  const step = (inst: Inst) => {
    switch (inst.op) {
      case "mov":
        if (inst.src.kind === "vreg" && ptrs.has(inst.src.id)) ptrs.set(inst.dst, ptrs.get(inst.src.id)!);
        else set(inst.dst, val(inst.src));
        return;
      case "bin":
        return set(inst.dst, foldBin(inst.kind, inst.width, val(inst.a), val(inst.b)));
      case "neg":
        return set(inst.dst, foldBin("sub", inst.width, 0n, val(inst.src)));
      case "ext":
        return set(inst.dst, foldExt(val(inst.src), inst.bits, inst.signed));
      case "bswap":
        return set(inst.dst, foldBswap(val(inst.src), inst.bits));
      case "setcc":
        return set(inst.dst, foldCmp(inst.cmp, inst.width, val(inst.a), val(inst.b)) ? 1n : 0n);
      case "ctx_load":
        return set(inst.dst, read(ctx, inst.offset, inst.size));
      case "slot_addr":
        ptrs.set(inst.dst, { kind: "slot", slot: inst.slot, off: inst.offset });
        return;
      case "slot_load": {
        const x = read(slots.get(inst.slot)!, inst.offset, inst.size);
        return set(inst.dst, inst.signed ? foldExt(x, (inst.size * 8) as 8 | 16 | 32, true) : x);
      }
      case "slot_store":
        return write(slots.get(inst.slot)!, inst.offset, inst.size, val(inst.value));
      case "load": {
        const [buf, off] = mem(ptrs.get(inst.ptr)!, inst.offset);
        return set(inst.dst, read(buf, off, inst.size));
      }
      case "store": {
        const [buf, off] = mem(ptrs.get(inst.ptr)!, inst.offset);
        return write(buf, off, inst.size, val(inst.value));
      }
      case "atomic_add": {
        const [buf, off] = mem(ptrs.get(inst.ptr)!, inst.offset);
        return write(buf, off, inst.size, read(buf, off, inst.size) + val(inst.value));
      }
      case "map_ref":
        ptrs.set(inst.dst, { kind: "mapref", map: inst.map });
        return;
      case "call": {
        if (inst.helper === 1) {
          const m = ptrs.get((inst.args[0] as { id: VReg }).id) as { map: string };
          const [buf, off] = mem(ptrs.get((inst.args[1] as { id: VReg }).id)!, 0);
          const index = Number(read(buf, off, 4));
          const values = maps.get(m.map)!;
          if (inst.dst === undefined) return;
          if (index < values.length) ptrs.set(inst.dst, { kind: "map", map: m.map, index, off: 0 });
          else set(inst.dst, 0n);
          return;
        }
        if (inst.helper === 5 || inst.helper === 7) {
          if (inst.dst !== undefined) set(inst.dst, 12345n);
          return;
        }
        throw new Error(`helper ${inst.helper} is not interpreted`);
      }
      case "call_local":
        throw new Error("call_local is not interpreted (inline first)");
    }
  };
  let block = fn.blocks[0]!;
  for (let steps = 0; steps < stepLimit; steps++) {
    for (const inst of block.insts) step(inst);
    const t = block.term;
    if (t.op === "ret") return val(t.value);
    if (t.op === "br") block = fn.blocks[t.target]!;
    else block = fn.blocks[foldCmp(t.cmp, t.width, val(t.a), val(t.b)) ? t.then : t.else]!;
  }
  throw new Error("step limit exceeded");
}
