/**
 * What the JIT can prove about registers and stack slots before each instruction, by its own forward data-flow
 * analysis over one BPF function (no trust in the verifier: the facts hold for any bytecode, hostile or not, so code
 * specialised on them faults exactly where the interpreter faults). A register is a known constant, a pointer into
 * ctx / this frame / a map value / a socket at a known offset, or a map handle; a stack slot may hold a known
 * constant. At a join, facts that differ are forgotten; loops iterate to a fixed point (facts only ever weaken, so
 * it terminates).
 *
 * Pointers from inline map lookups carry their object in a JS local of the generated code (`g<reg>`: the value
 * Region or the Socket), or are a constant region (a pinned ARRAY value looked up with a constant index); loads and
 * stores through them skip the region-table lookup and the bounds checks, which are decided here. An LPM trie value
 * (`slab`) is carried as its map's chunk of records (g<reg>) and the value's offset in it (x<reg>), without a Region of
 * its own: the facts bound each access to the value's bytes, so the rest of the chunk is never reached.
 */
import { AluOp, Class, JmpOp, LDDW, Mode, Pseudo, Source, Size, sizeBytes } from "../../compiler/asm/opcode.ts";
import { Helper } from "../../compiler/asm/helpers.ts";
import { CtxOff } from "../../compiler/abi/sk-lookup.ts";
import type { PreparedProgram } from "./program.ts";
import { refAlu, refCond } from "./interp.ts";
import { STACK_SIZE } from "./machine.ts";
import { OFF_BIAS, RegionKind, type Region, type RegionTable } from "./region.ts";
import type { VmMap } from "../maps/map.ts";
import { ArrayMap } from "../maps/array.ts";
import { SockMap } from "../maps/sockmap.ts";
import { LpmTrieMap } from "../maps/lpm.ts";

/** Kinds of register facts. */
export const enum FK {
  /** A scalar of known value. */
  Const = 1,
  /** ctx + off. */
  Ctx,
  /** This function's r10 + off. */
  Fp,
  /** A map handle. */
  Map,
  /** A map value pointer + off: the Region is in the local g<reg> (and is `region` when constant). */
  Val,
  /** A socket pointer (offset 0) whose Socket is in the local g<reg>. */
  Sock,
}

/** One register's fact; undefined = nothing known. */
export type Fact =
  | { readonly k: FK.Const; readonly v: bigint }
  | { readonly k: FK.Ctx; readonly off: number }
  | { readonly k: FK.Fp; readonly off: number }
  | { readonly k: FK.Map; readonly map: VmMap }
  | {
      readonly k: FK.Val;
      readonly off: number;
      /** Bytes in the value. */
      readonly size: number;
      readonly nonNull: boolean;
      /** The lookup this came from (registers with the same id are the same pointer), or -1. */
      readonly id: number;
      readonly region?: Region;
      /** The object is an LPM trie map's record slab, the value at offset x<reg> in it (see the file comment). */
      readonly slab?: true;
    }
  | { readonly k: FK.Sock; readonly nonNull: boolean; readonly id: number }
  | undefined;

/**
 * What a frame slot of `size` bytes at a byte offset holds: a constant (truncated to the size), or a spilled pointer
 * (8 bytes; an object-carrying one keeps its object in the local s<offset>).
 */
interface Slot {
  readonly size: number;
  readonly f: NonNullable<Fact>;
}

/** Facts before one instruction: r0..r10, the known stack slots (by byte offset in the frame), written bytes. */
export interface State {
  readonly regs: Fact[];
  readonly stack: Map<number, Slot>;
  /** Bit i set: frame byte i has been written on every path here (through a proven frame pointer). */
  init: bigint;
}

const M64 = 0xffffffffffffffffn;
const M32 = 0xffffffffn;

const konst = (v: bigint): NonNullable<Fact> => ({ k: FK.Const, v: v & M64 });
const ZERO = konst(0n);

/** The low and high int32 words of a 64-bit constant. */
export function words(v: bigint): { lo: number; hi: number } {
  return { lo: Number(v & M32) | 0, hi: Number((v >> 32n) & M32) | 0 };
}

/** How an inline map lookup on a known map with a key at a known place is done, or undefined (helper call). */
export interface LookupPlan {
  map: VmMap;
  /** Byte offset of the key: in the frame, or (`inValue`) in the map value r2 points into. */
  keyOff: number;
  /** The key is in a map value (r2 a proven non-NULL map value pointer, its Region in g2 or `keyRegion`). */
  inValue: boolean;
  /** The constant Region of that map value, when known. */
  keyRegion?: Region;
  /** That map value is an LPM trie value in its slab (g2, at x2). */
  keySlab?: boolean;
  /** The result is carried as its slab and offset (an LPM trie map, see the file comment). */
  slab?: boolean;
  /** The key as an index, when the key is a known constant and the map is indexed (ARRAY, SOCKMAP). */
  index?: number;
  /** The value, when it is certain to exist and to keep its region id for the object's life (pinned ARRAY value). */
  region?: Region;
  /** The result is never NULL. */
  nonNull: boolean;
  /** The result is always NULL (a constant index past the end). */
  isNull?: boolean;
}

/**
 * The inline-lookup plan for the helper call at a state, or undefined: r1 a known map, r2 a key the helper's checks
 * would accept (in this frame, or inside a non-NULL map value).
 */
export function lookupPlan(state: State, table: RegionTable): LookupPlan | undefined {
  const r1 = state.regs[1];
  const r2 = state.regs[2];
  if (r1?.k !== FK.Map || typeof r1.map.lookupAt !== "function") return undefined;
  const map = r1.map;
  const keySize = map.def.keySize;
  const slab = map instanceof LpmTrieMap;
  if (r2?.k === FK.Val && r2.nonNull && r2.off >= 0 && r2.off + keySize <= r2.size) {
    return { map, keyOff: r2.off, inValue: true, keyRegion: r2.region, keySlab: r2.slab === true, nonNull: false, slab };
  }
  if (r2?.k !== FK.Fp) return undefined;
  const keyOff = STACK_SIZE + r2.off;
  if (keyOff < 0 || keyOff + keySize > STACK_SIZE) return undefined;
  const indexed = map instanceof ArrayMap || (map instanceof SockMap && !map.isHash);
  const slot = state.stack.get(keyOff);
  const index = indexed && slot && slot.size >= 4 && slot.f.k === FK.Const ? Number(slot.f.v & M32) : undefined;
  if (index !== undefined && index >= map.def.maxEntries) return { map, keyOff, inValue: false, index, nonNull: false, isNull: true };
  if (index === undefined || !(map instanceof ArrayMap)) return { map, keyOff, inValue: false, index, nonNull: false, slab };
  const v = map.values[index];
  return { map, keyOff, inValue: false, index, region: v && table.pinned(v) ? v : undefined, nonNull: true };
}

/** A fresh state: nothing known but r10 (and what `init` says). */
export function topState(init: Fact[] = []): State {
  const regs: Fact[] = [];
  for (let r = 0; r <= 10; r++) regs.push(init[r]);
  regs[10] = { k: FK.Fp, off: 0 };
  return { regs, stack: new Map(), init: 0n };
}

const cloneState = (s: State): State => ({ regs: s.regs.slice(), stack: new Map(s.stack), init: s.init });

/** The bit mask of frame bytes [o, o + size). */
const bytesMask = (o: number, size: number): bigint => ((1n << BigInt(size)) - 1n) << BigInt(o);

function sameFact(a: Fact, b: Fact): boolean {
  if (a === b) return true;
  if (!a || !b || a.k !== b.k) return false;
  switch (a.k) {
    case FK.Const:
      return a.v === (b as typeof a).v;
    case FK.Ctx:
    case FK.Fp:
      return a.off === (b as typeof a).off;
    case FK.Map:
      return a.map === (b as typeof a).map;
    case FK.Val: {
      const o = b as typeof a;
      return a.off === o.off && a.size === o.size && a.nonNull === o.nonNull && a.id === o.id && a.region === o.region && a.slab === o.slab;
    }
    case FK.Sock: {
      const o = b as typeof a;
      return a.nonNull === o.nonNull && a.id === o.id;
    }
  }
}

/** The fact true on both sides of a join. */
function meetFact(a: Fact, b: Fact): Fact {
  if (sameFact(a, b)) return a;
  if (!a || !b || a.k !== b.k) return undefined;
  if (a.k === FK.Val) {
    // Both sides hold the object in g<reg> (or s<slot>), constant region or not: only the constant is lost.
    const o = b as typeof a;
    // A slab and a Region are different objects in g<reg>: no access code fits both.
    if (a.off !== o.off || a.size !== o.size || a.slab !== o.slab) return undefined;
    return { k: FK.Val, off: a.off, size: a.size, nonNull: a.nonNull && o.nonNull, id: a.id === o.id ? a.id : -1, region: a.region === o.region ? a.region : undefined, slab: a.slab };
  }
  if (a.k === FK.Sock) {
    const o = b as typeof a;
    return { k: FK.Sock, nonNull: a.nonNull && o.nonNull, id: a.id === o.id ? a.id : -1 };
  }
  return undefined;
}

/** Merges `from` into `into` (in place); true when `into` changed. */
function meetInto(into: State, from: State): boolean {
  let changed = false;
  for (let r = 0; r <= 10; r++) {
    const m = meetFact(into.regs[r], from.regs[r]);
    if (!sameFact(m, into.regs[r])) {
      into.regs[r] = m;
      changed = true;
    }
  }
  const init = into.init & from.init;
  if (init !== into.init) {
    into.init = init;
    changed = true;
  }
  for (const [o, s] of into.stack) {
    const t = from.stack.get(o);
    const m = t && t.size === s.size ? meetFact(s.f, t.f) : undefined;
    if (!m) {
      into.stack.delete(o);
      changed = true;
    } else if (!sameFact(m, s.f)) {
      into.stack.set(o, { size: s.size, f: m });
      changed = true;
    }
  }
  return changed;
}

/** Forgets the stack slots overlapping [o, o + size). */
function clobber(stack: Map<number, Slot>, o: number, size: number): void {
  for (const [so, s] of stack) if (so < o + size && o < so + s.size) stack.delete(so);
}

/** A new pointer gets lookup id `id`: registers and slots holding an older one with that id are no longer the same. */
function unlink(state: State, id: number): void {
  const regs = state.regs;
  for (let r = 0; r <= 10; r++) {
    const f = regs[r];
    if ((f?.k === FK.Val || f?.k === FK.Sock) && f.id === id) regs[r] = { ...f, id: -1 };
  }
  for (const [o, s] of state.stack) {
    const f = s.f;
    if ((f.k === FK.Val || f.k === FK.Sock) && f.id === id) state.stack.set(o, { size: s.size, f: { ...f, id: -1 } });
  }
}

/**
 * True for the facts whose pointer carries its object in a local (g<reg>, s<slot>): every map value and socket
 * pointer, a constant region's too, so that a join with a non-constant one keeps the fact.
 */
export function carriesObject(f: Fact): boolean {
  return f?.k === FK.Val || f?.k === FK.Sock;
}

/** The frame byte offset of a spill or reload of a pointer (an 8-byte MEM access through a frame pointer), or undefined. */
export function spillSlot(state: State, pc: number, p: PreparedProgram): number | undefined {
  const insn = p.insns[pc]!;
  const op = insn.opcode;
  const cls = op & 7;
  if ((cls !== Class.STX && cls !== Class.LDX) || (op & 0xe0) !== Mode.MEM || (op & 0x18) !== 0x18) return undefined;
  const base = state.regs[cls === Class.STX ? insn.dst : insn.src];
  if (base?.k !== FK.Fp) return undefined;
  const o = STACK_SIZE + base.off + insn.off;
  return o >= 0 && o + 8 <= STACK_SIZE ? o : undefined;
}

/** The constant a source operand has: the immediate, or a register's known constant. */
function srcConst(state: State, x: boolean, s: number, imm: number): bigint | undefined {
  if (!x) return BigInt(imm) & M64;
  const f = state.regs[s];
  return f?.k === FK.Const ? f.v : undefined;
}

/** Applies the (valid) non-jump instruction at `pc` to `state` (in place). */
export function step(p: PreparedProgram, pc: number, state: State, table: RegionTable): void {
  const insn = p.insns[pc]!;
  const op = insn.opcode;
  const cls = op & 7;
  const d = insn.dst;
  const s = insn.src;
  const x = (op & Source.X) !== 0;
  const regs = state.regs;
  switch (cls) {
    case Class.ALU:
    case Class.ALU64: {
      const aop = op & 0xf0;
      const w64 = cls === Class.ALU64;
      const f = regs[d];
      if (w64 && aop === AluOp.MOV && x && insn.off === 0) {
        regs[d] = regs[s];
        return;
      }
      if (w64 && !x && (aop === AluOp.ADD || aop === AluOp.SUB) && (f?.k === FK.Ctx || f?.k === FK.Fp || f?.k === FK.Val)) {
        // Pointer plus a constant: the same pointer at another offset (a NULL map value stays unknown).
        if (f.k === FK.Val && !f.nonNull) {
          regs[d] = undefined;
          return;
        }
        const delta = aop === AluOp.ADD ? insn.imm | 0 : -(insn.imm | 0);
        // The low word must neither carry into nor borrow from the high word (that would name another region), and
        // the region offset the machine derives from it ((lo - OFF_BIAS) | 0) must be this one, unwrapped.
        const base = f.k === FK.Fp ? OFF_BIAS + STACK_SIZE : OFF_BIAS;
        const lo = base + f.off + delta;
        regs[d] = lo >= 0 && lo < 2 ** 32 && lo - OFF_BIAS >= -(2 ** 31) && lo - OFF_BIAS < 2 ** 31 ? { ...f, off: f.off + delta } : undefined;
        return;
      }
      const b = srcConst(state, x, s, insn.imm);
      const a = aop === AluOp.MOV ? 0n : f?.k === FK.Const ? f.v : undefined;
      if (aop === AluOp.END || b === undefined || a === undefined) {
        regs[d] = undefined;
        return;
      }
      try {
        regs[d] = konst(w64 ? refAlu(aop, a, b, true, insn.off, pc) : refAlu(aop, a & M32, b & M32, false, insn.off, pc) & M32);
      } catch {
        regs[d] = undefined;
      }
      return;
    }
    case Class.LD: {
      const v = p.lddw.get(pc);
      if (!v || v.kind === "fault") return;
      if (v.kind === "const") {
        regs[d] = konst((BigInt(v.hi >>> 0) << 32n) | BigInt(v.lo >>> 0));
        return;
      }
      const r = v.region;
      if (r.kind === RegionKind.Map && v.offset === 0) regs[d] = { k: FK.Map, map: r.owner as VmMap };
      else if (r.kind === RegionKind.MapValue && table.pinned(r)) regs[d] = { k: FK.Val, off: v.offset, size: r.size, nonNull: true, id: -1, region: r };
      else regs[d] = undefined;
      return;
    }
    case Class.LDX: {
      const base = regs[s];
      const size = sizeBytes((op & 0x18) as Size);
      let out: Fact;
      if (base?.k === FK.Fp && (op & 0xe0) === Mode.MEM) {
        const slot = state.stack.get(STACK_SIZE + base.off + insn.off);
        if (slot && slot.size === size) out = slot.f;
      } else if (base?.k === FK.Ctx && size === 8 && base.off + insn.off === CtxOff.sk && (op & 0xe0) === Mode.MEM) {
        out = { k: FK.Sock, nonNull: false, id: pc };
        unlink(state, pc);
      }
      regs[d] = out;
      return;
    }
    case Class.ST:
    case Class.STX: {
      const base = regs[d];
      const size = sizeBytes((op & 0x18) as Size);
      const atomic = cls === Class.STX && (op & 0xe0) === Mode.ATOMIC;
      if (base?.k === FK.Fp) {
        const o = STACK_SIZE + base.off + insn.off;
        clobber(state.stack, o, size);
        if (o >= 0 && o + size <= STACK_SIZE) state.init |= bytesMask(o, size);
        const v = atomic ? undefined : cls === Class.ST ? BigInt(insn.imm) & M64 : srcConst(state, true, s, 0);
        const plain = (op & 0xe0) === Mode.MEM;
        if (v !== undefined && plain) state.stack.set(o, { size, f: konst(size === 8 ? v : v & ((1n << BigInt(size * 8)) - 1n)) });
        // A pointer spilled whole (what a reload gives back).
        else if (plain && cls === Class.STX && size === 8 && regs[s] && regs[s]!.k !== FK.Const) state.stack.set(o, { size, f: regs[s]! });
      } else if (base?.k !== FK.Val && base?.k !== FK.Ctx && base?.k !== FK.Sock) {
        // Through a pointer that might be into this frame: every slot may have changed.
        state.stack.clear();
      }
      if (atomic) {
        if (insn.imm === 0xf1) regs[0] = undefined;
        else if (insn.imm & 1) regs[s] = undefined;
      }
      return;
    }
    case Class.JMP: {
      if ((op & 0xf0) !== JmpOp.CALL) return;
      if (s === Pseudo.CALL) {
        // A BPF-to-BPF call: the callee may write this frame through a pointer it was given.
        state.stack.clear();
        regs[0] = undefined;
      } else {
        regs[0] = helperResult(state, insn.imm, pc, table);
      }
      for (let r = 1; r <= 5; r++) regs[r] = ZERO;
    }
  }
}

/** What r0 is after helper `id` (the result of an inline lookup; nothing known otherwise). */
function helperResult(state: State, id: number, pc: number, table: RegionTable): Fact {
  if (id !== Helper.map_lookup_elem) return undefined;
  const plan = lookupPlan(state, table);
  if (!plan) return undefined;
  unlink(state, pc);
  if (plan.isNull) return ZERO;
  if (plan.map.holdsSockets) return { k: FK.Sock, nonNull: false, id: pc };
  const f = { k: FK.Val, off: 0, size: plan.map.def.valueSize, nonNull: plan.nonNull, id: plan.region ? -1 : pc, region: plan.region } as const;
  return plan.slab ? { ...f, slab: true } : f;
}

/**
 * A conditional jump's outcome decided by the facts: true (always taken), false (never), or undefined. Decided: two
 * constants, and a 64-bit NULL test (== 0, != 0) of a map value or socket pointer known not to be NULL.
 */
export function decideJump(p: PreparedProgram, pc: number, state: State): boolean | undefined {
  const insn = p.insns[pc]!;
  const op = insn.opcode;
  const cls = op & 7;
  const jop = op & 0xf0;
  const x = (op & Source.X) !== 0;
  const f = state.regs[insn.dst];
  const b = srcConst(state, x, insn.src, insn.imm);
  if (f?.k === FK.Const && b !== undefined) {
    return cls === Class.JMP ? refCond(jop, f.v, b, true, pc) : refCond(jop, f.v & M32, b & M32, false, pc);
  }
  if (cls === Class.JMP && !x && insn.imm === 0 && (jop === JmpOp.JEQ || jop === JmpOp.JNE) && (f?.k === FK.Val || f?.k === FK.Sock) && f.nonNull) {
    return jop === JmpOp.JNE;
  }
  return undefined;
}

/** The state on the taken (`taken`) or fall-through edge of a conditional jump: NULL tests refine pointers. */
function refine(p: PreparedProgram, pc: number, state: State, taken: boolean): State {
  const insn = p.insns[pc]!;
  const op = insn.opcode;
  const jop = op & 0xf0;
  const f = state.regs[insn.dst];
  if ((op & 7) !== Class.JMP || (op & Source.X) !== 0 || insn.imm !== 0 || (jop !== JmpOp.JEQ && jop !== JmpOp.JNE)) return state;
  if (f?.k !== FK.Val && f?.k !== FK.Sock) return state;
  const isNull = (jop === JmpOp.JEQ) === taken;
  const out = cloneState(state);
  const regs = out.regs;
  for (let r = 0; r <= 10; r++) {
    const g = regs[r];
    if (g?.k !== FK.Val && g?.k !== FK.Sock) continue;
    if (r !== insn.dst && (f.id < 0 || g.id !== f.id)) continue;
    regs[r] = isNull ? ZERO : { ...g, nonNull: true };
  }
  if (f.id >= 0) {
    for (const [o, sl] of out.stack) {
      const g = sl.f;
      if ((g.k === FK.Val || g.k === FK.Sock) && g.id === f.id) out.stack.set(o, { size: 8, f: isNull ? ZERO : { ...g, nonNull: true } });
    }
  }
  return out;
}

/** Where execution can go after the instruction at `pc` (in [lo, hi)), with the state on each edge. */
function successors(p: PreparedProgram, pc: number, after: State, before: State, lo: number, hi: number): Array<[number, State]> {
  if (p.invalid[pc] !== undefined) return [];
  const insn = p.insns[pc]!;
  const op = insn.opcode;
  const cls = op & 7;
  const out: Array<[number, State]> = [];
  const add = (t: number, s: State): void => {
    if (t >= lo && t < hi) out.push([t, s]);
  };
  if (op === LDDW) {
    add(pc + 2, after);
    return out;
  }
  if (cls !== Class.JMP && cls !== Class.JMP32) {
    add(pc + 1, after);
    return out;
  }
  const jop = op & 0xf0;
  if (jop === JmpOp.EXIT) return out;
  if (jop === JmpOp.CALL) {
    add(pc + 1, after);
    return out;
  }
  const t = pc + 1 + (jop === JmpOp.JA && cls === Class.JMP32 ? insn.imm : insn.off);
  if (jop === JmpOp.JA) {
    add(t, after);
    return out;
  }
  const decided = decideJump(p, pc, before);
  if (decided !== false) add(t, refine(p, pc, before, true));
  if (decided !== true) add(pc + 1, refine(p, pc, before, false));
  return out;
}

/**
 * The state before every instruction of the BPF function [lo, hi) entered at `lo` with `entry`; undefined where no
 * path from the entry reaches (or the analysis is not run). Second halves of lddw get no state.
 */
export function analyse(p: PreparedProgram, lo: number, hi: number, entry: State, table: RegionTable): (State | undefined)[] {
  const states: (State | undefined)[] = new Array(p.insns.length);
  states[lo] = cloneState(entry);
  const work: number[] = [lo];
  const queued = new Uint8Array(p.insns.length);
  queued[lo] = 1;
  while (work.length) {
    // Lowest pc first: forward code is then visited once, in order.
    let best = 0;
    for (let i = 1; i < work.length; i++) if (work[i]! < work[best]!) best = i;
    const pc = work[best]!;
    work[best] = work[work.length - 1]!;
    work.pop();
    queued[pc] = 0;
    const before = states[pc]!;
    const after = cloneState(before);
    if (p.invalid[pc] === undefined) step(p, pc, after, table);
    for (const [t, s] of successors(p, pc, after, before, lo, hi)) {
      const cur = states[t];
      let changed: boolean;
      if (!cur) {
        states[t] = cloneState(s);
        changed = true;
      } else changed = meetInto(cur, s);
      if (changed && !queued[t]) {
        queued[t] = 1;
        work.push(t);
      }
    }
  }
  return states;
}

export { cloneState };

/**
 * The facts at a BPF function's entry from the states at its call sites: r1-r5 that are the same constant, ctx
 * pointer or map handle at every site (frame pointers name the caller's frame, and map value or socket objects stay
 * in the caller's locals, so those are not passed). No sites: nothing known.
 */
export function calleeEntry(sites: readonly State[]): State {
  const init: Fact[] = [];
  for (let r = 1; r <= 5 && sites.length; r++) {
    let f: Fact;
    sites.forEach((s, i) => {
      const g = s.regs[r];
      const passed = g?.k === FK.Const || g?.k === FK.Ctx || g?.k === FK.Map ? g : undefined;
      f = i === 0 ? passed : meetFact(f, passed);
    });
    init[r] = f;
  }
  return topState(init);
}

/**
 * True when some reachable instruction may read frame bytes not written earlier in the same run: a frame load or
 * helper argument (key, value, format) not covered by the written-bytes facts, or any read through a pointer the
 * facts do not place outside the frame. A program for which this is false never sees what an earlier run left on
 * the stack, so its run needs no zeroed frame (`states` undefined: unknown, true). `ownFrames`: every BPF function
 * of the program is checked this way, each for its own frame.
 */
export function readsUnwrittenStack(p: PreparedProgram, states: readonly (State | undefined)[] | undefined, lo: number, hi: number, ownFrames = false): boolean {
  if (!states) return true;
  const outside = (f: Fact): boolean => f?.k === FK.Ctx || f?.k === FK.Val || f?.k === FK.Sock || f?.k === FK.Map || f?.k === FK.Const;
  /** False when `size` bytes at the pointer in register `r` are written frame bytes or memory outside the frame. */
  const unwritten = (st: State, r: number, off: number, size: number): boolean => {
    const f = st.regs[r];
    if (f?.k === FK.Fp) {
      const o = STACK_SIZE + f.off + off;
      if (o < 0 || o + size > STACK_SIZE) return false; // faults before reading
      const m = bytesMask(o, size);
      return (st.init & m) !== m;
    }
    return !outside(f);
  };
  for (let pc = lo; pc < hi; pc++) {
    const st = states[pc];
    if (!st || p.invalid[pc] !== undefined) continue;
    const insn = p.insns[pc]!;
    const op = insn.opcode;
    const cls = op & 7;
    const size = sizeBytes((op & 0x18) as Size);
    if (cls === Class.LDX && unwritten(st, insn.src, insn.off, size)) return true;
    if (cls === Class.STX && (op & 0xe0) === Mode.ATOMIC && unwritten(st, insn.dst, insn.off, size)) return true;
    if (cls !== Class.JMP || (op & 0xf0) !== JmpOp.CALL) continue;
    // A BPF-to-BPF call reads nothing here; with `ownFrames` the callee is checked on its own (it cannot name this
    // frame through facts, since frame pointers are not passed, so any read of it goes through an unproven pointer).
    if (insn.src === Pseudo.CALL) {
      if (!ownFrames) return true;
      continue;
    }
    const map = st.regs[1]?.k === FK.Map ? (st.regs[1] as { map: VmMap }).map : undefined;
    switch (insn.imm) {
      case Helper.map_lookup_elem:
      case Helper.map_delete_elem:
        if (!map || unwritten(st, 2, 0, map.def.keySize)) return true;
        break;
      case Helper.map_update_elem:
        if (!map || unwritten(st, 2, 0, map.def.keySize) || (!map.holdsSockets && unwritten(st, 3, 0, map.def.valueSize))) return true;
        break;
      case Helper.trace_printk: {
        const len = st.regs[2];
        if (len?.k !== FK.Const || len.v > 4096n || unwritten(st, 1, 0, Number(len.v))) return true;
        break;
      }
      case Helper.ktime_get_ns:
      case Helper.get_prandom_u32:
      case Helper.get_smp_processor_id:
      case Helper.sk_assign:
      case Helper.sk_release:
        break;
      default:
        return true;
    }
  }
  return false;
}
