/**
 * Builds one IR function: blocks, virtual registers, stack slots, and the source location stamped on every
 * instruction. Unreachable blocks (code after `return`) are dropped and blocks renumbered at the end.
 */
import type { SourceLoc } from "../asm/instruction.ts";
import type { Block, Function, Inst, PtrKind, StackSlot, Terminator, VReg } from "../ir/ir.ts";

/** The BPF stack limit per program. */
export const STACK_LIMIT = 512;

/** Incremental builder of an IR function. */
export class FnBuilder {
  readonly blocks: (Block & { done: boolean })[] = [];
  readonly slots: StackSlot[] = [];
  readonly ptrKinds = new Map<VReg, PtrKind>();
  private vregs = 0;
  cur: Block & { done: boolean };
  /** Location stamped on emitted instructions. */
  loc: SourceLoc | undefined;
  /** Free temporary slots by "size/align", reused across statements to keep the frame small. */
  private freeTemps = new Map<string, number[]>();
  private liveTemps: { key: string; id: number }[] = [];

  constructor(readonly name: string, readonly isProgram: boolean) {
    this.cur = this.newBlock();
  }

  /** A fresh virtual register. */
  vreg(kind?: PtrKind): VReg {
    const v = this.vregs++;
    if (kind) this.ptrKinds.set(v, kind);
    return v;
  }

  /** A new, empty, unterminated block (not yet current). */
  newBlock(): Block & { done: boolean } {
    const b = { id: this.blocks.length, insts: [], term: { op: "ret", value: { kind: "imm", value: 0n } } as Terminator, done: false };
    this.blocks.push(b);
    return b;
  }

  /** Makes `b` the block that receives instructions. */
  setBlock(b: Block & { done: boolean }): void {
    this.cur = b;
  }

  /** Appends an instruction to the current block (stamped with the current location). */
  emit(inst: Inst): void {
    if (this.cur.done) this.cur = this.newBlock(); // dead code after a terminator: collected later
    this.cur.insts.push(this.loc ? { ...inst, loc: this.loc } : inst);
  }

  /** Ends the current block with `term`; later instructions go to a fresh (unreachable) block. */
  terminate(term: Terminator): void {
    if (this.cur.done) return;
    this.cur.term = this.loc ? { ...term, loc: this.loc } : term;
    this.cur.done = true;
  }

  /** `br` to `target` then continue in `target`. */
  jumpTo(target: Block & { done: boolean }): void {
    this.terminate({ op: "br", target: target.id });
    this.setBlock(target);
  }

  /** Called once, by the allocation that takes the frame past {@link STACK_LIMIT}, with the bytes then in use. */
  onStackOverflow: ((bytes: number) => void) | undefined;
  private overflowed = false;

  /** A stack slot for the whole function (a named local struct). */
  slot(size: number, align: 1 | 2 | 4 | 8, name?: string): number {
    const id = this.slots.length;
    this.slots.push({ id, size, align, ...(name ? { name } : {}) });
    if (!this.overflowed && this.stackBytes() > STACK_LIMIT) {
      this.overflowed = true;
      this.onStackOverflow?.(this.stackBytes());
    }
    return id;
  }

  /** A temporary slot, free again after `releaseTemps()` (end of the current statement). */
  tempSlot(size: number, align: 1 | 2 | 4 | 8): number {
    const key = `${size}/${align}`;
    const id = this.freeTemps.get(key)?.pop() ?? this.slot(size, align);
    this.liveTemps.push({ key, id });
    return id;
  }

  /** Returns the temporaries of the finished statement to the pool. */
  releaseTemps(): void {
    for (const t of this.liveTemps) {
      const list = this.freeTemps.get(t.key) ?? [];
      list.push(t.id);
      this.freeTemps.set(t.key, list);
    }
    this.liveTemps = [];
  }

  /** Bytes of stack the slots need, each at its alignment (the backend's layout may add spills). */
  stackBytes(): number {
    let total = 0;
    for (const s of this.slots) total = Math.ceil(total / s.align) * s.align + s.size;
    return total;
  }

  /** The finished function: unreachable blocks removed, ids renumbered (entry stays 0). */
  finish(params: VReg[], loc?: SourceLoc): Function {
    for (const b of this.blocks) if (!b.done) b.done = true; // falls off the end: keeps the default `ret 0`
    const reachable = new Set<number>();
    const stack = [0];
    while (stack.length) {
      const id = stack.pop()!;
      if (reachable.has(id)) continue;
      reachable.add(id);
      const t = this.blocks[id]!.term;
      if (t.op === "br") stack.push(t.target);
      else if (t.op === "cbr") stack.push(t.then, t.else);
    }
    const order = this.blocks.filter((b) => reachable.has(b.id));
    const renum = new Map(order.map((b, i) => [b.id, i]));
    const blocks: Block[] = order.map((b) => {
      const t = b.term;
      const term: Terminator =
        t.op === "br" ? { ...t, target: renum.get(t.target)! } : t.op === "cbr" ? { ...t, then: renum.get(t.then)!, else: renum.get(t.else)! } : t;
      return { id: renum.get(b.id)!, insts: b.insts, term };
    });
    return {
      name: this.name,
      isProgram: this.isProgram,
      params,
      blocks,
      slots: this.slots,
      vregCount: this.vregs,
      ptrKinds: this.ptrKinds,
      ...(loc ? { loc } : {}),
    };
  }
}
