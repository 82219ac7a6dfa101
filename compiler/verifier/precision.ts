/**
 * Precision tracking, after the kernel's mark_chain_precision: scalars start imprecise, and state pruning ignores the
 * value of an imprecise scalar (state.ts). When a safety decision depends on a scalar's value (a branch decided by
 * its range, pointer arithmetic, a helper's size argument, the return value), the instructions that computed it are
 * walked backwards through the path's history, checkpoint by checkpoint, and every register or stack slot it came
 * from is marked precise in the checkpoint states, so that later states are compared on those values.
 *
 * Each path keeps the instructions it processed since its last checkpoint in `VState.hist`, two numbers per
 * instruction: `code` (slot, frame depth, and the stack slot the instruction spilled to or filled from) and the mask
 * of registers linked to a conditional jump's operands (they are refined together, so they need precision together).
 * When in doubt (a history the walk does not understand) every scalar of the path is marked precise: that only costs
 * pruning, never soundness.
 */
import { AluOp, Class, JmpOp, LDDW, Pseudo, Source, classOf, type Instruction } from "../asm/index.ts";
import { Byte, type Checkpoint, type Frame, type Reg, type VState, STACK_SIZE, histEnd, ownStack, withPrecise } from "./state.ts";

/** Frames a history entry can name (MAX_CALL_FRAMES). */
const FRAMES = 8;
/** Slot numbers below this; the rest of a history code holds the frame depth and the stack slot. */
const PC_SPAN = 1 << 20;
/** A linked-register mask with this bit set: the link reaches another frame (the walk then gives up). */
export const LINK_OTHER_FRAME = 1 << 11;

/** The history code of the instruction at `pc` run in frame `depth`, touching stack slot `stack` (0 = none). */
export const histCode = (pc: number, depth: number, stack: number): number => pc + PC_SPAN * (depth + FRAMES * stack);

/** The stack-slot part of a history code: 1 + frame * 64 + slot, or 0 when no spill or fill happened. */
export const stackRef = (frame: number, slot: number): number => 1 + frame * 64 + slot;

/** Registers and stack slots still to be made precise, per frame (the kernel's backtrack_state). */
class Wanted {
  readonly regs = new Uint16Array(FRAMES);
  /** Two 32-bit words per frame: slots 0-31 and 32-63. */
  readonly slots = new Uint32Array(2 * FRAMES);
  empty(): boolean {
    for (let f = 0; f < FRAMES; f++) if (this.regs[f] || this.slots[2 * f] || this.slots[2 * f + 1]) return false;
    return true;
  }
  hasReg(f: number, r: number): boolean {
    return (this.regs[f]! & (1 << r)) !== 0;
  }
  setReg(f: number, r: number): void {
    this.regs[f]! |= 1 << r;
  }
  clearReg(f: number, r: number): void {
    this.regs[f]! &= ~(1 << r);
  }
  hasSlot(f: number, s: number): boolean {
    return ((this.slots[2 * f + (s >> 5)]! >>> (s & 31)) & 1) !== 0;
  }
  setSlot(f: number, s: number): void {
    this.slots[2 * f + (s >> 5)]! |= 1 << (s & 31);
  }
  clearSlot(f: number, s: number): void {
    this.slots[2 * f + (s >> 5)]! &= ~(1 << (s & 31));
  }
  clearFrame(f: number): void {
    this.regs[f] = 0;
    this.slots[2 * f] = this.slots[2 * f + 1] = 0;
  }
}

/** The walk met something it does not model: fall back to marking everything. */
class GiveUp extends Error {}

const isSpillSlot = (f: Frame, slot: number): boolean => {
  const base = STACK_SIZE - 8 * (slot + 1);
  return f.bytes[base] === Byte.SPILL || f.bytes[base + 7] === Byte.SPILL;
};

/**
 * Marks the wanted registers and slots precise in `st`. In a checkpoint (`stopAtPrecise`) a value already precise was
 * propagated further back when it was marked, so it is dropped from the walk; so are values that are not scalars.
 */
function markIn(st: VState, w: Wanted, stopAtPrecise: boolean): void {
  for (let fi = 0; fi < st.frames.length; fi++) {
    const f = st.frames[fi]!;
    let regs = w.regs[fi]!;
    for (let r = 0; regs; r++, regs >>= 1) {
      if (!(regs & 1)) continue;
      const reg = f.regs[r]!;
      if (reg.kind !== "scalar") w.clearReg(fi, r);
      else if (reg.precise) {
        if (stopAtPrecise) w.clearReg(fi, r);
      } else f.regs[r] = withPrecise(reg, true);
    }
    if (!w.slots[2 * fi] && !w.slots[2 * fi + 1]) continue;
    for (let slot = 0; slot < 64; slot++) {
      if (!w.hasSlot(fi, slot)) continue;
      const sp = f.spills[slot];
      if (!sp || sp.kind !== "scalar" || !isSpillSlot(f, slot)) w.clearSlot(fi, slot);
      else if (sp.precise) {
        if (stopAtPrecise) w.clearSlot(fi, slot);
      } else {
        ownStack(f);
        f.spills[slot] = withPrecise(sp, true);
      }
    }
  }
  for (let fi = st.frames.length; fi < FRAMES; fi++) w.clearFrame(fi);
}

/** Every scalar of `st` (registers and spills) becomes precise. */
function markAllIn(st: VState): void {
  for (const f of st.frames) {
    for (let r = 0; r < f.regs.length; r++) {
      const reg = f.regs[r]!;
      if (reg.kind === "scalar" && !reg.precise) f.regs[r] = withPrecise(reg, true);
    }
    for (let slot = 0; slot < 64; slot++) {
      const sp = f.spills[slot];
      if (sp && sp.kind === "scalar" && !sp.precise) {
        ownStack(f);
        f.spills[slot] = withPrecise(sp, true);
      }
    }
  }
}

/** The kernel's mark_all_scalars_precise: the fallback when a history cannot be walked. */
function markAllPrecise(st: VState): void {
  markAllIn(st);
  for (let cp: Checkpoint | null = st.parent; cp; cp = cp.parent) markAllIn(cp.state);
}

/**
 * Steps `w` back over one instruction (the kernel's backtrack_insn): what had to be precise after it becomes what
 * has to be precise before it. `frame` is the frame the instruction ran in; returns the frame before it.
 */
function backOver(insns: readonly Instruction[], code: number, linked: number, w: Wanted, frame: number): number {
  // Integer arithmetic only (codes pass 2^31, so no bit operations on the whole code): `rest` is small.
  const pc = code % PC_SPAN;
  const rest = (code - pc) / PC_SPAN;
  const depth = rest & (FRAMES - 1);
  const stack = rest >>> 3;
  const insn = insns[pc]!;
  const cls = classOf(insn.opcode);
  const op = insn.opcode & 0xf0;
  if (depth !== frame) {
    // A frame boundary between this instruction and the next one of the path.
    if (cls === Class.JMP && op === JmpOp.EXIT && depth === frame + 1) {
      // Return from a subprogram: the caller's R0 came from the callee's R0; R1-R5 were cleared.
      const wantR0 = w.hasReg(frame, 0);
      for (let r = 0; r <= 5; r++) w.clearReg(frame, r);
      if (wantR0) w.setReg(depth, 0);
      return depth;
    }
    if (cls === Class.JMP && op === JmpOp.CALL && insn.src === Pseudo.CALL && depth === frame - 1) {
      // Into the caller: the callee's R1-R5 were the caller's; nothing else of the callee existed before the call.
      const args = w.regs[frame]! & 0b111110;
      if ((w.regs[frame]! & ~0b111110) || w.slots[2 * frame] || w.slots[2 * frame + 1]) throw new GiveUp();
      w.clearFrame(frame);
      w.regs[depth]! |= args;
      return depth;
    }
    throw new GiveUp();
  }
  const d = insn.dst;
  const s = insn.src;
  switch (cls) {
    case Class.ALU:
    case Class.ALU64: {
      if (!w.hasReg(frame, d)) return frame;
      if (op === AluOp.MOV) {
        if (insn.opcode & Source.X) {
          w.clearReg(frame, d);
          w.setReg(frame, s);
        } else w.clearReg(frame, d);
      } else if (op !== AluOp.NEG && op !== AluOp.END && insn.opcode & Source.X) w.setReg(frame, s);
      return frame;
    }
    case Class.LD:
      if (insn.opcode === LDDW) w.clearReg(frame, d);
      return frame;
    case Class.LDX:
      if (!w.hasReg(frame, d)) return frame;
      w.clearReg(frame, d);
      if (stack) w.setSlot(Math.floor((stack - 1) / 64), (stack - 1) % 64);
      return frame;
    case Class.ST:
    case Class.STX: {
      if ((insn.opcode & 0xe0) === 0xc0) {
        // Atomics: the memory and the fetched register get values that do not depend on the old ones here.
        if (stack) w.clearSlot(Math.floor((stack - 1) / 64), (stack - 1) % 64);
        if (insn.imm & 1) w.clearReg(frame, insn.imm === 0xf1 ? 0 : s);
        return frame;
      }
      if (!stack) return frame;
      const sf = Math.floor((stack - 1) / 64);
      const slot = (stack - 1) % 64;
      if (!w.hasSlot(sf, slot)) return frame;
      w.clearSlot(sf, slot);
      if (cls === Class.STX) w.setReg(frame, s);
      return frame;
    }
    case Class.JMP:
    case Class.JMP32: {
      if (op === JmpOp.CALL) {
        // A helper or a global function: R0 is its result, R1-R5 are cleared.
        for (let r = 0; r <= 5; r++) w.clearReg(frame, r);
        return frame;
      }
      if (op === JmpOp.EXIT || op === JmpOp.JA) return frame;
      const x = (insn.opcode & Source.X) !== 0;
      if (linked & LINK_OTHER_FRAME && (w.regs[frame]! & linked)) throw new GiveUp();
      if (w.regs[frame]! & linked) w.regs[frame]! |= linked & 0x7ff;
      if (x && (w.hasReg(frame, d) || w.hasReg(frame, s))) {
        w.setReg(frame, d);
        w.setReg(frame, s);
        if (w.regs[frame]! & linked) w.regs[frame]! |= linked & 0x7ff;
      }
      return frame;
    }
  }
  throw new GiveUp();
}

/** Walks `w` back through `st`'s history and its checkpoints, marking what it reaches precise. */
function walk(insns: readonly Instruction[], st: VState, w: Wanted, skipLast: boolean): void {
  try {
    markIn(st, w, false);
    let frame = st.frames.length - 1;
    let hist = st.hist;
    let end = histEnd(st) - (skipLast ? 2 : 0);
    let cp = st.parent;
    for (;;) {
      for (let i = end - 2; i >= 0; i -= 2) {
        frame = backOver(insns, hist[i]!, hist[i + 1]!, w, frame);
        if (w.empty()) return;
      }
      if (!cp) return;
      if (frame !== cp.state.frames.length - 1) throw new GiveUp();
      markIn(cp.state, w, true);
      if (w.empty()) return;
      hist = cp.hist;
      end = hist.length;
      cp = cp.parent;
    }
  } catch (err) {
    if (!(err instanceof GiveUp)) throw err;
    markAllPrecise(st);
  }
}

const WANTED = new Wanted();

/**
 * The value of register `regs` (a mask of registers of the innermost frame) decides something at the instruction
 * being processed: mark it, and everything it was computed from, precise.
 */
export function markPrecise(insns: readonly Instruction[], st: VState, regs: number): void {
  const w = WANTED;
  w.regs.fill(0);
  w.slots.fill(0);
  const top = st.frames.length - 1;
  w.regs[top] = regs;
  walk(insns, st, w, true);
}

/** Same as {@link markPrecise} for a spilled scalar: stack slot `slot` of frame `frame`. */
export function markSlotPrecise(insns: readonly Instruction[], st: VState, frame: number, slot: number): void {
  const w = WANTED;
  w.regs.fill(0);
  w.slots.fill(0);
  w.setSlot(frame, slot);
  walk(insns, st, w, true);
}

/**
 * `cur` was pruned by the fully explored `old`: what was precise in `old` is what made the match safe, so it must be
 * precise along `cur`'s path too (the kernel's propagate_precision). `live` masks the innermost frame's registers
 * that the comparison looked at.
 */
export function propagatePrecision(insns: readonly Instruction[], old: VState, cur: VState, live: number): void {
  const w = WANTED;
  w.regs.fill(0);
  w.slots.fill(0);
  const top = old.frames.length - 1;
  old.frames.forEach((f, fi) => {
    for (let r = 0; r < 11; r++) {
      const reg = f.regs[r]!;
      if (reg.kind === "scalar" && reg.precise && (fi !== top || live & (1 << r))) w.setReg(fi, r);
    }
    for (let slot = 0; slot < 64; slot++) {
      const sp = f.spills[slot];
      if (sp && sp.kind === "scalar" && sp.precise && isSpillSlot(f, slot)) w.setSlot(fi, slot);
    }
  });
  if (!w.empty()) walk(insns, cur, w, false);
}

/**
 * Before a checkpoint copies `st`, the path forgets its precision marks (the kernel's mark_all_scalars_imprecise): the
 * checkpoint gets marks only through backtracking from what its descendants' decisions need.
 */
export function forgetPrecision(st: VState): void {
  for (const f of st.frames) {
    for (let r = 0; r < f.regs.length; r++) {
      const reg = f.regs[r]!;
      if (reg.precise) f.regs[r] = withPrecise(reg, false);
    }
    // Slots below the deepest byte touched were never written.
    for (let slot = 0, n = Math.min(64, (f.depth + 7) >> 3); slot < n; slot++) {
      const sp = f.spills[slot];
      if (sp?.precise) {
        ownStack(f);
        f.spills[slot] = withPrecise(sp, false);
      }
    }
  }
}

/**
 * The registers of the innermost frame that share a scalar link id with the jump operands `a` or `b` (the operands
 * themselves included), plus LINK_OTHER_FRAME when a register of another frame shares one.
 */
export function linkedMask(st: VState, a: Reg, b: Reg | undefined): number {
  let mask = 0;
  const top = st.frames.length - 1;
  for (const id of [a.kind === "scalar" ? a.id : 0, b?.kind === "scalar" ? b.id : 0]) {
    if (!id) continue;
    st.frames.forEach((f, fi) => {
      f.regs.forEach((r, i) => {
        if (r.kind === "scalar" && r.id === id) mask |= fi === top ? 1 << i : LINK_OTHER_FRAME;
      });
    });
  }
  return mask;
}
