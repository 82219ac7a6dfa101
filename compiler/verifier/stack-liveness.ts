/**
 * Stack slot liveness of the main program's frame, as the kernel's verifier uses it since 6.18 (dead slots are not
 * compared when pruning): a slot matters at an instruction only if some instruction reachable from it reads it.
 *
 * Reads are those exploration has seen (loads, helper memory arguments, at each instruction, through any pointer into
 * frame 0); a BPF-to-BPF call counts as reading every slot. That is sound for pruning against fully explored states:
 * every instruction the old state's paths reach has been visited and its reads recorded, and a path that the old
 * state covers reaches no other instruction. Writes are not treated as kills, which only keeps more slots live.
 */
import { Class, JmpOp, Pseudo, type Instruction } from "../asm/index.ts";
import { successors } from "./cfg.ts";

/** Slots read (or live) per instruction: two 32-bit words for slots 0-31 and 32-63 (slot i: fp-8(i+1) .. fp-8i-1). */
export class StackLiveness {
  private reads: Uint32Array;
  private live: Uint32Array;
  private succ: Int32Array;
  private dirty = false;

  constructor(insns: readonly Instruction[], lddwTail: readonly boolean[]) {
    const n = insns.length;
    this.reads = new Uint32Array(2 * n);
    this.live = new Uint32Array(2 * n);
    this.succ = successors(insns, lddwTail);
    for (let pc = 0; pc < n; pc++) {
      const i = insns[pc]!;
      // A subprogram may read the caller's stack through a pointer argument.
      if (!lddwTail[pc] && i.opcode === (Class.JMP | JmpOp.CALL) && i.src === Pseudo.CALL) this.reads[2 * pc] = this.reads[2 * pc + 1] = 0xffffffff;
    }
    this.dirty = true;
  }

  /** A copy with the reads this one has seen so far (and the same successors, which never change). */
  fresh(): StackLiveness {
    const s = Object.create(StackLiveness.prototype) as StackLiveness;
    s.reads = this.reads.slice();
    s.live = new Uint32Array(this.live.length);
    s.succ = this.succ;
    s.dirty = true;
    return s;
  }

  /** Instruction `pc` read frame 0's stack bytes [lo, hi) (offsets from fp, negative). */
  note(pc: number, lo: number, hi: number): void {
    const first = Math.max(0, (-hi) >> 3);
    const last = Math.min(63, (-lo - 1) >> 3);
    for (let s = first; s <= last; s++) {
      const w = 2 * pc + (s >> 5);
      const bit = 1 << (s & 31);
      if (this.reads[w]! & bit) continue;
      this.reads[w]! |= bit;
      this.dirty = true;
    }
  }

  /** True when slot `slot` of frame 0 may be read on some path from `pc`. */
  isLive(pc: number, slot: number): boolean {
    if (this.dirty) this.solve();
    return ((this.live[2 * pc + (slot >> 5)]! >>> (slot & 31)) & 1) !== 0;
  }

  /** Backward fixpoint: live(pc) = reads(pc) ∪ live of its successors. */
  private solve(): void {
    const n = this.live.length >> 1;
    for (let changed = true; changed; ) {
      changed = false;
      for (let pc = n - 1; pc >= 0; pc--) {
        for (let w = 0; w < 2; w++) {
          const a = this.succ[2 * pc]!;
          const b = this.succ[2 * pc + 1]!;
          const v = (this.reads[2 * pc + w]! | (a >= 0 ? this.live[2 * a + w]! : 0) | (b >= 0 ? this.live[2 * b + w]! : 0)) >>> 0;
          if (v !== this.live[2 * pc + w]) {
            this.live[2 * pc + w] = v;
            changed = true;
          }
        }
      }
    }
    this.dirty = false;
  }
}
