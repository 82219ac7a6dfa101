/**
 * Pointers whose region id the JIT may leave unregistered. A map value or socket a run hands out gets a run id in
 * the object's region table (RegionTable.idOf) because its pointer's high word names it; registering costs a few
 * table writes per pointer and per reset. The specialised code (jit-special.ts) reaches those objects through their
 * locals (g<reg>, s<slot>), never through the words, so when no instruction of the program can observe such a
 * pointer's words (store them outside a frame spill, compare them other than with NULL, do arithmetic beyond a
 * constant offset, return them, pass them to a helper that reads them, read the spill slot's bytes another way),
 * no run can tell which id they would have had: the JIT writes the high word LAZY_HI instead and registers nothing.
 * Everything this file cannot prove keeps the registration (so ids, table size and faults stay the interpreter's).
 */
import { AluOp, Class, JmpOp, LDDW, Mode, Pseudo, Source, Size, sizeBytes } from "../../compiler/asm/opcode.ts";
import { Helper } from "../../compiler/asm/helpers.ts";
import { CtxOff } from "../../compiler/abi/sk-lookup.ts";
import { HELPER_ARGC } from "../helpers/index.ts";
import { STACK_SIZE } from "./machine.ts";
import type { PreparedProgram } from "./program.ts";
import { ID_MASK, PTR_TAG, type RegionTable } from "./region.ts";
import { FK, decideJump, lookupPlan, type State } from "./jit-facts.ts";

/** The high word of an unregistered pointer: non-zero (NULL tests hold) and not a pointer tag (never dereferenced). */
export const LAZY_HI = 0x1eadbeef;
if (((LAZY_HI & ~ID_MASK) | 0) === (PTR_TAG | 0)) throw new Error("LAZY_HI must not look like a pointer");

/** Marks the high-word expression of a registering site in generated code: resolveLazy picks one form. */
export const lazyWord = (real: string): string => `\u0001${real}\u0002`;

/** `code` with every marked high word written as LAZY_HI (`lazy`) or as its registering expression. */
export function resolveLazy(code: string, lazy: boolean): string {
  return code.replace(/\u0001([^\u0002]*)\u0002/g, (_x, real: string) => (lazy ? String(LAZY_HI) : real));
}


/** May-hold-an-unregistered-pointer facts: a register bit mask and the 8-byte frame slots holding one. */
interface Lazy {
  regs: number;
  slots: Set<number>;
}

/**
 * True when no run of the straight-line, call-free program over [lo, hi) can observe the words of a pointer whose
 * registration the JIT would skip. `states`: the facts (jit-facts analyse); `special`: the slots whose code
 * jit-special emitted (the generic code of every other slot reads its operands' words).
 */
export function lazyPointersSafe(p: PreparedProgram, states: readonly (State | undefined)[], lo: number, hi: number, special: ReadonlySet<number>, table: RegionTable): boolean {
  const at: (Lazy | undefined)[] = new Array(p.insns.length);
  at[lo] = { regs: 0, slots: new Set() };
  const work = [lo];
  while (work.length) {
    const pc = work.pop()!;
    const st = states[pc];
    const before = at[pc]!;
    if (!st || p.invalid[pc] !== undefined) continue;
    const after: Lazy = { regs: before.regs, slots: new Set(before.slots) };
    if (!stepLazy(p, pc, st, after, special.has(pc), table)) return false;
    for (const t of targets(p, pc, st, lo, hi)) {
      const cur = at[t];
      if (!cur) {
        at[t] = { regs: after.regs, slots: new Set(after.slots) };
        work.push(t);
        continue;
      }
      const regs = cur.regs | after.regs;
      const grow = [...after.slots].some((o) => !cur.slots.has(o));
      if (regs !== cur.regs || grow) {
        cur.regs = regs;
        for (const o of after.slots) cur.slots.add(o);
        work.push(t);
      }
    }
  }
  return true;
}

/** The slots execution may reach after `pc` (decided jumps pruned as the facts prune them). */
function targets(p: PreparedProgram, pc: number, st: State, lo: number, hi: number): number[] {
  const insn = p.insns[pc]!;
  const op = insn.opcode;
  const cls = op & 7;
  const out: number[] = [];
  const add = (t: number): void => {
    if (t >= lo && t < hi) out.push(t);
  };
  if (op === LDDW) add(pc + 2);
  else if (cls !== Class.JMP && cls !== Class.JMP32) add(pc + 1);
  else {
    const jop = op & 0xf0;
    if (jop === JmpOp.EXIT) return out;
    if (jop === JmpOp.CALL) add(pc + 1);
    else if (jop === JmpOp.JA) add(pc + 1 + (cls === Class.JMP32 ? insn.imm : insn.off));
    else {
      const decided = decideJump(p, pc, st);
      if (decided !== false) add(pc + 1 + insn.off);
      if (decided !== true) add(pc + 1);
    }
  }
  return out;
}

/** Frame byte offset of `size` bytes at register `r` + off when the facts place it in the frame, else undefined. */
function frameAt(st: State, r: number, off: number, size: number): number | undefined {
  const f = st.regs[r];
  if (f?.k !== FK.Fp) return undefined;
  const o = STACK_SIZE + f.off + off;
  return o >= 0 && o + size <= STACK_SIZE ? o : undefined;
}

/** True when the facts place register r's pointer outside the frame (or it faults before any access). */
function notFrame(st: State, r: number): boolean {
  const k = st.regs[r]?.k;
  return k === FK.Ctx || k === FK.Val || k === FK.Sock || k === FK.Map || k === FK.Const;
}

/** Applies `pc` to the lazy facts; false when it may observe an unregistered pointer's words. */
function stepLazy(p: PreparedProgram, pc: number, st: State, lz: Lazy, special: boolean, table: RegionTable): boolean {
  const insn = p.insns[pc]!;
  const op = insn.opcode;
  const cls = op & 7;
  const d = insn.dst;
  const s = insn.src;
  const x = (op & Source.X) !== 0;
  const lazy = (r: number): boolean => ((lz.regs >> r) & 1) !== 0;
  const set = (r: number, v: boolean): void => {
    lz.regs = v ? lz.regs | (1 << r) : lz.regs & ~(1 << r);
  };
  /** Frame bytes [o, o + size) overlap a lazy slot. */
  const overlaps = (o: number, size: number): boolean => [...lz.slots].some((so) => so < o + size && o < so + 8);
  /** A read of `size` bytes at register r + off sees no lazy slot. */
  const readOk = (r: number, off: number, size: number): boolean => {
    const o = frameAt(st, r, off, size);
    if (o !== undefined) return !overlaps(o, size);
    return notFrame(st, r) || lz.slots.size === 0;
  };
  switch (cls) {
    case Class.ALU:
    case Class.ALU64: {
      const aop = op & 0xf0;
      if (cls === Class.ALU64 && aop === AluOp.MOV && x && insn.off === 0) {
        set(d, lazy(s));
        return true;
      }
      // A constant offset keeps the pointer a pointer (its high word untouched but for a carry, see the file).
      if (cls === Class.ALU64 && !x && (aop === AluOp.ADD || aop === AluOp.SUB) && insn.off === 0) return true;
      if (!special && (lazy(d) || (x && lazy(s)))) return false;
      set(d, false);
      return true;
    }
    case Class.LD:
      set(d, false);
      return true;
    case Class.LDX: {
      const size = sizeBytes((op & 0x18) as Size);
      const base = st.regs[s];
      if (!special && lazy(s)) return false;
      // The sk pointer read through a proven ctx pointer is one of the lazy sites.
      if (special && base?.k === FK.Ctx && size === 8 && base.off + insn.off === CtxOff.sk) {
        set(d, true);
        return true;
      }
      // Only an exact reload of a lazy spill may read its bytes.
      const o = frameAt(st, s, insn.off, size);
      if (o !== undefined && lz.slots.has(o) && size === 8 && (op & 0xe0) === Mode.MEM) {
        set(d, true);
        return true;
      }
      if (!readOk(s, insn.off, size)) return false;
      // A generic 8-byte load may register the sk pointer (Machine.ld): a registration this program cannot skip.
      if (!special && size === 8) return false;
      set(d, false);
      return true;
    }
    case Class.ST:
    case Class.STX: {
      const size = sizeBytes((op & 0x18) as Size);
      const atomic = cls === Class.STX && (op & 0xe0) === Mode.ATOMIC;
      if (!special && lazy(d)) return false;
      const o = frameAt(st, d, insn.off, size);
      if (atomic) {
        if (lazy(s) || !readOk(d, insn.off, size)) return false;
        if (insn.imm === 0xf1) set(0, false);
        else if (insn.imm & 1) set(s, false);
        return true;
      }
      const srcLazy = cls === Class.STX && lazy(s);
      if (o !== undefined && size === 8 && (op & 0xe0) === Mode.MEM) {
        // A whole spill slot: replaced by this store (a lazy pointer spilled, or anything else).
        for (const so of [...lz.slots]) if (so < o + 8 && o < so + 8 && so === o) lz.slots.delete(so);
        if (srcLazy) lz.slots.add(o);
        return true;
      }
      // Anything else keeps whatever lazy bytes it leaves (a partial overwrite still leaves pointer bytes).
      return !srcLazy;
    }
    case Class.JMP:
    case Class.JMP32: {
      const jop = op & 0xf0;
      if (jop === JmpOp.EXIT) return !lazy(0);
      if (jop === JmpOp.JA) return true;
      if (jop === JmpOp.CALL) return callLazy(p, pc, st, lz, special, table, lazy, set, readOk);
      // A NULL test reads the words, and a lazy pointer's are as non-NULL as the real ones.
      if (cls === Class.JMP && !x && insn.imm === 0 && (jop === JmpOp.JEQ || jop === JmpOp.JNE)) return true;
      return !lazy(d) && !(x && lazy(s));
    }
  }
  return false;
}

/** A helper or BPF-to-BPF call (see stepLazy). */
function callLazy(
  p: PreparedProgram,
  pc: number,
  st: State,
  lz: Lazy,
  special: boolean,
  table: RegionTable,
  lazy: (r: number) => boolean,
  set: (r: number, v: boolean) => void,
  readOk: (r: number, off: number, size: number) => boolean,
): boolean {
  const insn = p.insns[pc]!;
  if (insn.src === Pseudo.CALL) return false;
  const id = insn.imm;
  const argc = HELPER_ARGC.get(id) ?? 0;
  // Specialised sk_assign / sk_release take their socket as an object, an inline lookup its key's map value;
  // everything else reads argument words.
  const byObject = !special ? 0 : id === Helper.sk_assign ? 2 : id === Helper.sk_release ? 1 : id === Helper.map_lookup_elem ? 2 : 0;
  for (let r = 1; r <= argc; r++) if (r !== byObject && lazy(r)) return false;
  const map = st.regs[1]?.k === FK.Map ? st.regs[1].map : undefined;
  switch (id) {
    case Helper.map_lookup_elem:
      // A lookup through the generic helper registers its result: not skippable.
      if (!special || !map || !readOk(2, 0, map.def.keySize)) return false;
      break;
    case Helper.map_delete_elem:
      if (!map || !readOk(2, 0, map.def.keySize)) return false;
      break;
    case Helper.map_update_elem:
      if (!map || !readOk(2, 0, map.def.keySize) || (!map.holdsSockets && !readOk(3, 0, map.def.valueSize))) return false;
      break;
    case Helper.trace_printk: {
      const len = st.regs[2];
      if (len?.k !== FK.Const || len.v > 4096n || !readOk(1, 0, Number(len.v))) return false;
      break;
    }
  }
  for (let r = 1; r <= 5; r++) set(r, false);
  const plan = id === Helper.map_lookup_elem ? lookupPlan(st, table) : undefined;
  set(0, plan !== undefined && !plan.region && !plan.isNull);
  return true;
}
