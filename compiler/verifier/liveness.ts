/**
 * Register liveness: for each instruction, the registers that may be read before being written on some path from it
 * (within its function). State pruning ignores dead registers, as the kernel's liveness marks let it do: a value
 * that is never read cannot make a path unsafe.
 */
import { AluOp, Class, JmpOp, LDDW, Mode, Source, classOf, type Instruction } from "../asm/index.ts";
import { successors } from "./cfg.ts";

const ARGS = 0b111110; // r1-r5
const CLOBBERED = 0b111111; // r0-r5

/** Registers read (`use`) and written (`def`) by one instruction, as bit masks. */
function useDef(i: Instruction): { use: number; def: number } {
  const cls = classOf(i.opcode);
  const b = (r: number): number => 1 << r;
  switch (cls) {
    case Class.ALU:
    case Class.ALU64: {
      const op = i.opcode & 0xf0;
      const src = (i.opcode & Source.X) !== 0 && op !== AluOp.NEG && op !== AluOp.END ? b(i.src) : 0;
      return { use: src | (op === AluOp.MOV ? 0 : b(i.dst)), def: b(i.dst) };
    }
    case Class.LDX:
      return { use: b(i.src), def: b(i.dst) };
    case Class.ST:
      return { use: b(i.dst), def: 0 };
    case Class.STX: {
      if ((i.opcode & 0xe0) !== Mode.ATOMIC) return { use: b(i.dst) | b(i.src), def: 0 };
      const cmpxchg = i.imm === 0xf1;
      return { use: b(i.dst) | b(i.src) | (cmpxchg ? 1 : 0), def: i.imm & 1 ? (cmpxchg ? 1 : b(i.src)) : 0 };
    }
    case Class.LD:
      // lddw writes dst; legacy packet loads (rejected anyway) read r6 and write r0.
      return i.opcode === LDDW ? { use: 0, def: b(i.dst) } : { use: 0x7fe, def: 1 };
    case Class.JMP:
    case Class.JMP32: {
      const op = i.opcode & 0xf0;
      if (op === JmpOp.EXIT) return { use: 1, def: 0 };
      if (op === JmpOp.CALL) return { use: ARGS, def: CLOBBERED };
      if (op === JmpOp.JA) return { use: 0, def: 0 };
      return { use: b(i.dst) | ((i.opcode & Source.X) !== 0 ? b(i.src) : 0), def: 0 };
    }
  }
  // Unknown instructions are rejected when reached; treat them as reading everything.
  return { use: 0x7ff, def: 0 };
}

/** Live-in register mask of every slot (bit r set: register r may be read later). */
export function liveRegisters(insns: readonly Instruction[], lddwTail: readonly boolean[]): Uint16Array {
  const n = insns.length;
  const live = new Uint16Array(n);
  // Flat typed arrays (at most two successors per slot, -1 = none): this runs once per verification, so its
  // allocations show up next to the exploration of small programs.
  const use = new Uint16Array(n);
  const kill = new Uint16Array(n);
  const succ = successors(insns, lddwTail);
  for (let pc = 0; pc < n; pc++) {
    if (lddwTail[pc]) continue;
    const ud = useDef(insns[pc]!);
    use[pc] = ud.use;
    kill[pc] = ud.def;
  }
  // Backward fixpoint; callee-saved r6-r9 flow through calls, r0-r5 are redefined by them.
  for (let changed = true; changed; ) {
    changed = false;
    for (let pc = n - 1; pc >= 0; pc--) {
      const a = succ[2 * pc]!;
      const b = succ[2 * pc + 1]!;
      const out = (a >= 0 ? live[a]! : 0) | (b >= 0 ? live[b]! : 0);
      const v = (use[pc]! | (out & ~kill[pc]!)) & 0x7ff;
      if (v !== live[pc]) {
        live[pc] = v;
        changed = true;
      }
    }
  }
  return live;
}
