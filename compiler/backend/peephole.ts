/**
 * Peepholes on the emitted instruction list (labels still symbolic), iterated to a fixed point:
 *
 * - jump threading: a jump to an unconditional `goto` goes straight to that goto's target;
 * - a `goto` (or conditional jump) to the very next instruction is dropped, its labels move on;
 * - `if c goto L1; goto L2; L1:` becomes `if !c goto L2; L1:`;
 * - unreachable instructions after `goto`/`exit` (up to the next label) are dropped;
 * - 64-bit moves of a register to itself are dropped (32-bit ones are not: they zero the upper half).
 */
import { AluOp, Class, JmpOp, Source, classOf, type Instruction } from "../asm/index.ts";

const JA = Class.JMP | JmpOp.JA;
const EXIT = Class.JMP | JmpOp.EXIT;

const INVERSE: Partial<Record<number, number>> = {
  [JmpOp.JEQ]: JmpOp.JNE,
  [JmpOp.JNE]: JmpOp.JEQ,
  [JmpOp.JGT]: JmpOp.JLE,
  [JmpOp.JLE]: JmpOp.JGT,
  [JmpOp.JGE]: JmpOp.JLT,
  [JmpOp.JLT]: JmpOp.JGE,
  [JmpOp.JSGT]: JmpOp.JSLE,
  [JmpOp.JSLE]: JmpOp.JSGT,
  [JmpOp.JSGE]: JmpOp.JSLT,
  [JmpOp.JSLT]: JmpOp.JSGE,
};

const isCondJump = (i: Instruction): boolean => {
  const c = classOf(i.opcode);
  const op = i.opcode & 0xf0;
  return (c === Class.JMP || c === Class.JMP32) && op !== JmpOp.JA && op !== JmpOp.CALL && op !== JmpOp.EXIT;
};

/** Applies the peepholes; returns a new list (instructions are copied where changed). */
export function peephole(input: readonly Instruction[]): Instruction[] {
  let insns: Instruction[] = input.map((i) => ({ ...i, labels: i.labels ? [...i.labels] : undefined }));
  for (let round = 0; round < 20; round++) {
    const before = insns.length;
    let changed = false;
    const at = new Map<string, number>();
    insns.forEach((insn, i) => insn.labels?.forEach((l) => at.set(l, i)));
    // Jump threading.
    for (const insn of insns) {
      if (insn.target === undefined || (insn.opcode & 0xf0) === JmpOp.CALL) continue;
      const seen = new Set<string>();
      let t = insn.target;
      for (;;) {
        const dest = insns[at.get(t)!];
        if (!dest || dest.opcode !== JA || dest.target === undefined || seen.has(t)) break;
        seen.add(t);
        t = dest.target;
      }
      if (t !== insn.target) {
        insn.target = t;
        changed = true;
      }
    }
    const referenced = new Set(insns.flatMap((i) => (i.target !== undefined ? [i.target] : [])));
    const out: Instruction[] = [];
    let carry: string[] = [];
    const labelsOfNext = (i: number): string[] => insns[i + 1]?.labels ?? [];
    for (let i = 0; i < insns.length; i++) {
      const insn = insns[i]!;
      if (carry.length) {
        insn.labels = [...carry, ...(insn.labels ?? [])];
        carry = [];
      }
      const prev = out[out.length - 1];
      // Unreachable: follows goto/exit and nobody jumps here.
      if (prev && (prev.opcode === JA || prev.opcode === EXIT) && !insn.labels?.some((l) => referenced.has(l))) {
        changed = true;
        continue;
      }
      // Jump to the next instruction.
      if (insn.target !== undefined && (insn.opcode === JA || isCondJump(insn)) && labelsOfNext(i).includes(insn.target)) {
        carry = insn.labels ?? [];
        changed = true;
        continue;
      }
      // if c goto L1; goto L2; L1:  →  if !c goto L2
      const nx = insns[i + 1];
      if (isCondJump(insn) && nx && nx.opcode === JA && !nx.labels?.some((l) => referenced.has(l)) && labelsOfNext(i + 1).includes(insn.target!)) {
        const inv = INVERSE[insn.opcode & 0xf0];
        if (inv !== undefined) {
          out.push({ ...insn, opcode: (insn.opcode & 0x0f) | inv, target: nx.target });
          i++;
          changed = true;
          continue;
        }
      }
      // r = r
      if (insn.opcode === (Class.ALU64 | AluOp.MOV | Source.X) && insn.dst === insn.src && insn.off === 0) {
        carry = insn.labels ?? [];
        changed = true;
        continue;
      }
      out.push(insn);
    }
    if (carry.length) throw new Error("peephole: labels dangling past the end of the program");
    insns = out;
    if (!changed && insns.length === before) break;
  }
  return insns;
}
