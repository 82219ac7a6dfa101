/**
 * Instruction well-formedness, checked over the whole program before interpretation: the opcode must exist and
 * every field the opcode does not use must be zero ("BPF_ALU uses reserved fields" and friends). The kernel makes
 * most of these checks on explored paths only; making them everywhere can only reject more, never less.
 */
import { AluOp, Class, JmpOp, LDDW, Mode, Pseudo, Source, classOf, type Instruction } from "../asm/index.ts";

const op = (i: Instruction): number => i.opcode & 0xf0;
const isX = (i: Instruction): boolean => (i.opcode & Source.X) !== 0;

/** The kernel's message for a malformed instruction, or undefined when it is well formed. */
export function fieldError(i: Instruction): string | undefined {
  const cls = classOf(i.opcode);
  // Built only when returned: this runs for every slot of every program.
  const unknown = (): string => `unknown opcode ${i.opcode.toString(16).padStart(2, "0")}`;
  if (i.dst > 10) return `R${i.dst} is invalid`;
  switch (cls) {
    case Class.ALU:
    case Class.ALU64: {
      const o = op(i);
      if (o > AluOp.END) return unknown();
      if (o === AluOp.NEG) {
        if (isX(i)) return unknown();
        return i.src || i.off || i.imm ? "BPF_NEG uses reserved fields" : undefined;
      }
      if (o === AluOp.END) {
        if (cls === Class.ALU64 && isX(i)) return unknown();
        return i.src || i.off || ![16, 32, 64].includes(i.imm) ? "BPF_END uses reserved fields" : undefined;
      }
      if (o === AluOp.MOV) {
        if (isX(i)) {
          if (i.src > 10) return `R${i.src} is invalid`;
          const offs = cls === Class.ALU ? [0, 8, 16] : [0, 8, 16, 32];
          return !offs.includes(i.off) || i.imm ? "BPF_MOV uses reserved fields" : undefined;
        }
        return i.src || i.off ? "BPF_MOV uses reserved fields" : undefined;
      }
      if (isX(i) && i.src > 10) return `R${i.src} is invalid`;
      const badOff = (i.off !== 0 && i.off !== 1) || (i.off === 1 && o !== AluOp.DIV && o !== AluOp.MOD);
      if (isX(i) ? i.imm !== 0 || badOff : i.src !== 0 || badOff) return "BPF_ALU uses reserved fields";
      return undefined;
    }
    case Class.LDX: {
      const mode = i.opcode & 0xe0;
      const size = i.opcode & 0x18;
      if (mode !== Mode.MEM && !(mode === Mode.MEMSX && size !== 0x18)) return mode === Mode.MEMSX ? unknown() : "BPF_LDX uses reserved fields";
      if (i.imm !== 0) return "BPF_LDX uses reserved fields";
      return i.src > 10 ? `R${i.src} is invalid` : undefined;
    }
    case Class.ST:
      if ((i.opcode & 0xe0) !== Mode.MEM) return unknown();
      return i.src !== 0 ? "BPF_ST uses reserved fields" : undefined;
    case Class.STX: {
      const mode = i.opcode & 0xe0;
      if (i.src > 10) return `R${i.src} is invalid`;
      if (mode === Mode.ATOMIC) return undefined; // checked with its operation (atomic())
      if (mode !== Mode.MEM) return unknown();
      return i.imm !== 0 ? "BPF_STX uses reserved fields" : undefined;
    }
    case Class.LD: {
      if (i.opcode === LDDW) return i.off !== 0 || i.src > Pseudo.MAP_VALUE ? "BPF_LD_IMM64 uses reserved fields" : undefined;
      const mode = i.opcode & 0xe0;
      if ((mode === Mode.ABS || mode === Mode.IND) && (i.opcode & 0x18) !== 0x18) return undefined; // rejected later for sk_lookup
      return unknown();
    }
    case Class.JMP:
    case Class.JMP32: {
      const o = op(i);
      const j32 = cls === Class.JMP32;
      if (o === JmpOp.CALL) {
        if (j32 || isX(i)) return unknown();
        if ((i.src !== Pseudo.KFUNC_CALL && i.off !== 0) || i.src > Pseudo.KFUNC_CALL || i.dst !== 0) return "BPF_CALL uses reserved fields";
        return undefined;
      }
      if (o === JmpOp.EXIT) {
        if (j32 || isX(i)) return unknown();
        return i.imm || i.src || i.dst ? "BPF_EXIT uses reserved fields" : undefined;
      }
      if (o === JmpOp.JA) {
        if (isX(i)) return unknown();
        return i.src || i.dst || (!j32 && i.imm) || (j32 && i.off) ? "BPF_JA uses reserved fields" : undefined;
      }
      if (o > JmpOp.JSLE) return unknown();
      if (isX(i)) {
        if (i.src > 10) return `R${i.src} is invalid`;
        return i.imm !== 0 ? "BPF_JMP/JMP32 uses reserved fields" : undefined;
      }
      return i.src !== 0 ? "BPF_JMP/JMP32 uses reserved fields" : undefined;
    }
  }
  return unknown();
}
