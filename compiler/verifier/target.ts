/**
 * What the verifier rejects on older kernels before it interprets anything: instruction encodings the target does
 * not know. Before cpu v4 (Linux 6.6) the kernel's first pass over the program (resolve_pseudo_ldimm64's sanity
 * loop, then check_alu_op / the jump checks) refuses sign-extending loads and moves, signed division, ALU64 bswap and
 * gotol; before Linux 5.12 an atomic with anything but a plain add in `imm` is "BPF_STX uses reserved fields".
 */
import { AluOp, Class, JmpOp, LDDW, Mode, Source, classOf, type Instruction } from "../asm/index.ts";
import type { KernelTarget } from "../target/index.ts";

/** The first instruction the target's verifier cannot decode, with its message; undefined when all are known. */
export function targetInsnError(insns: readonly Instruction[], target: KernelTarget): { pc: number; message: string } | undefined {
  for (let pc = 0; pc < insns.length; pc++) {
    const insn = insns[pc]!;
    const message = insnError(insn, target);
    if (message) return { pc, message };
    if (insn.opcode === LDDW) pc++; // its upper half is raw data
  }
  return undefined;
}

function insnError(i: Instruction, t: KernelTarget): string | undefined {
  const cls = classOf(i.opcode);
  const op = i.opcode & 0xf0;
  const hex = i.opcode.toString(16).padStart(2, "0");
  if (!t.isaV4) {
    if (cls === Class.LDX && (i.opcode & 0xe0) === Mode.MEMSX) return "BPF_LDX uses reserved fields";
    if (cls === Class.ALU64 && op === AluOp.END) return `unknown opcode ${hex}`;
    if (cls === Class.JMP32 && op === JmpOp.JA) return `unknown opcode ${hex}`;
    if ((cls === Class.ALU || cls === Class.ALU64) && i.off !== 0) {
      if (op === AluOp.MOV && (i.opcode & Source.X) !== 0) return "BPF_MOV uses reserved fields";
      if (op === AluOp.DIV || op === AluOp.MOD) return "BPF_ALU uses reserved fields";
    }
  }
  if (!t.atomicFetch && cls === Class.STX && (i.opcode & 0xe0) === Mode.ATOMIC && i.imm !== 0) return "BPF_STX uses reserved fields";
  return undefined;
}
