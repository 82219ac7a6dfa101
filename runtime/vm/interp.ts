/**
 * The reference interpreter: one instruction at a time, registers as unsigned 64-bit BigInts, semantics written to
 * mirror the kernel's interpreter (kernel/bpf/core.c ___bpf_prog_run) including the v4 additions (sdiv/smod,
 * movsx, ldx memsx, bswap, gotol) and BPF's rules for division by zero (x/0 = 0, x%0 = x). It favours obviousness
 * over speed; the JIT tier (jit.ts) must agree with it on every case.
 */
import { AluOp, Class, JmpOp, Mode, Pseudo, SIZE_MASK, Size, Source, sizeBytes } from "../../compiler/asm/opcode.ts";
import { helperFor } from "../helpers/index.ts";
import { Machine, STACK_SIZE } from "./machine.ts";
import { lddwWords, type PreparedProgram } from "./program.ts";
import { OFF_BIAS, VmFault } from "./region.ts";

const M64 = 0xffffffffffffffffn;
const M32 = 0xffffffffn;
const u64 = (x: bigint): bigint => x & M64;
const s64 = (x: bigint): bigint => BigInt.asIntN(64, x);
const s32 = (x: bigint): bigint => BigInt.asIntN(32, x);
const lo = (x: bigint): number => Number(x & M32) | 0;
const hi = (x: bigint): number => Number((x >> 32n) & M32) | 0;
const big = (l: number, h: number): bigint => (BigInt(h >>> 0) << 32n) | BigInt(l >>> 0);

function bswap(x: bigint, bits: number): bigint {
  let out = 0n;
  for (let i = 0; i < bits / 8; i++) out = (out << 8n) | ((x >> BigInt(8 * i)) & 0xffn);
  return out;
}

/** 64- or 32-bit ALU operation (the result is masked to the width; the caller zero-extends 32-bit results). */
function alu(op: number, a: bigint, b: bigint, w64: boolean, off: number, pc: number): bigint {
  const mask = w64 ? M64 : M32;
  const sx = w64 ? s64 : s32;
  const bits = w64 ? 64n : 32n;
  switch (op) {
    case AluOp.ADD:
      return (a + b) & mask;
    case AluOp.SUB:
      return (a - b) & mask;
    case AluOp.MUL:
      return (a * b) & mask;
    case AluOp.DIV:
      if (b === 0n) return 0n;
      if (off === 1) return sx(sx(a) / sx(b)) & mask;
      return a / b;
    case AluOp.MOD:
      if (b === 0n) return a;
      if (off === 1) return (sx(a) % sx(b)) & mask;
      return a % b;
    case AluOp.OR:
      return a | b;
    case AluOp.AND:
      return a & b;
    case AluOp.XOR:
      return a ^ b;
    case AluOp.LSH:
      return (a << (b & (bits - 1n))) & mask;
    case AluOp.RSH:
      return a >> (b & (bits - 1n));
    case AluOp.ARSH:
      return (sx(a) >> (b & (bits - 1n))) & mask;
    case AluOp.NEG:
      return -a & mask;
    case AluOp.MOV:
      if (off === 0) return b;
      if (off === 8 || off === 16 || (off === 32 && w64)) return BigInt.asIntN(off, b) & mask;
      throw new VmFault(`invalid movsx width ${off}`, pc);
  }
  throw new VmFault(`invalid ALU operation 0x${op.toString(16)}`, pc);
}

/** Evaluates a conditional jump. */
function cond(op: number, a: bigint, b: bigint, w64: boolean, pc: number): boolean {
  const sx = w64 ? s64 : s32;
  switch (op) {
    case JmpOp.JEQ:
      return a === b;
    case JmpOp.JNE:
      return a !== b;
    case JmpOp.JGT:
      return a > b;
    case JmpOp.JGE:
      return a >= b;
    case JmpOp.JLT:
      return a < b;
    case JmpOp.JLE:
      return a <= b;
    case JmpOp.JSET:
      return (a & b) !== 0n;
    case JmpOp.JSGT:
      return sx(a) > sx(b);
    case JmpOp.JSGE:
      return sx(a) >= sx(b);
    case JmpOp.JSLT:
      return sx(a) < sx(b);
    case JmpOp.JSLE:
      return sx(a) <= sx(b);
  }
  throw new VmFault(`invalid jump operation 0x${op.toString(16)}`, pc);
}

interface Frame {
  ret: number;
  saved: bigint[];
}

/** Runs `p` on machine `m` (already reset) and returns r0. Faults throw VmFault (pc set; the caller adds the text). */
export function interpret(p: PreparedProgram, m: Machine): bigint {
  const r: bigint[] = new Array(11).fill(0n);
  r[1] = big(OFF_BIAS, m.hiOf(m.ctx));
  r[10] = big(Machine.FP_LO, m.frameHi(0, 0));
  return run(p, m, 0, r);
}

/**
 * The JIT's way out of a block whose length overruns the budget: runs from the block's first slot `pc` with the JIT's
 * registers (`words` = r0 lo, r0 hi, ..., r10 hi) and m.n as counted before the block, until the budget runs out inside
 * the block or an earlier instruction faults. Either way it throws what the interpreter would have thrown, at the
 * same pc and after the same side effects. (Blocks end at BPF-to-BPF calls and exits, so it never needs the JIT's
 * call frames.)
 */
export function finishInInterpreter(p: PreparedProgram, m: Machine, pc: number, words: readonly number[]): never {
  const r = Array.from({ length: 11 }, (_, i) => big(words[2 * i]!, words[2 * i + 1]!));
  run(p, m, pc, r);
  throw new Error(`internal error: the interpreter finished a block that ran over the budget (pc ${pc})`);
}

function run(p: PreparedProgram, m: Machine, start: number, r: bigint[]): bigint {
  const insns = p.insns;
  const n = insns.length;
  const frames: Frame[] = [];
  let pc = start;
  for (;;) {
    if (pc < 0 || pc >= n) throw new VmFault(pc === n ? "fell off the end of the program" : `jump outside the program`, pc);
    if (++m.n > m.budget) m.overBudget(pc);
    const bad = p.invalid[pc];
    if (bad !== undefined) throw new VmFault(bad, pc);
    const insn = insns[pc]!;
    const op = insn.opcode;
    const cls = op & 7;
    const d = insn.dst;
    const s = insn.src;
    switch (cls) {
      case Class.ALU:
      case Class.ALU64: {
        const w64 = cls === Class.ALU64;
        const aop = op & 0xf0;
        if (aop === AluOp.END) {
          const bits = insn.imm;
          const v = r[d]!;
          const mask = (1n << BigInt(bits)) - 1n;
          // On a little-endian machine "to le" only truncates; "to be" and v4 bswap reverse the bytes.
          r[d] = !w64 && !(op & Source.X) ? v & mask : bswap(v, bits);
          break;
        }
        const src = op & Source.X ? r[s]! : u64(BigInt(insn.imm));
        if (w64) r[d] = alu(aop, r[d]!, src, true, insn.off, pc);
        else r[d] = alu(aop, r[d]! & M32, src & M32, false, insn.off, pc) & M32;
        break;
      }
      case Class.JMP:
      case Class.JMP32: {
        const jop = op & 0xf0;
        if (jop === JmpOp.JA) {
          pc += (cls === Class.JMP32 ? insn.imm : insn.off) + 1;
          continue;
        }
        if (jop === JmpOp.CALL && cls === Class.JMP) {
          if (s === Pseudo.CALL) {
            if (frames.length + 1 >= 8) throw new VmFault("call depth exceeds 8 frames", pc);
            const target = pc + insn.imm + 1;
            frames.push({ ret: pc + 1, saved: [r[6]!, r[7]!, r[8]!, r[9]!, r[10]!] });
            r[10] = big(Machine.FP_LO, m.frameHi(frames.length, pc));
            pc = target;
            continue;
          }
          const [, r1, r2, r3, r4, r5] = r as [bigint, bigint, bigint, bigint, bigint, bigint];
          const l = helperFor(insn.imm)(m, pc, lo(r1), hi(r1), lo(r2), hi(r2), lo(r3), hi(r3), lo(r4), hi(r4), lo(r5), hi(r5));
          r[0] = big(l, m.h);
          // r1-r5 are dead after a call (the verifier forbids reading them); both tiers scratch them to 0.
          r[1] = r[2] = r[3] = r[4] = r[5] = 0n;
          break;
        }
        if (jop === JmpOp.EXIT && cls === Class.JMP) {
          const f = frames.pop();
          if (!f) return r[0]!;
          [r[6], r[7], r[8], r[9], r[10]] = f.saved as [bigint, bigint, bigint, bigint, bigint];
          r[1] = r[2] = r[3] = r[4] = r[5] = 0n;
          pc = f.ret;
          continue;
        }
        const w64 = cls === Class.JMP;
        const b = op & Source.X ? r[s]! : u64(BigInt(insn.imm));
        const taken = w64 ? cond(jop, r[d]!, b, true, pc) : cond(jop, r[d]! & M32, b & M32, false, pc);
        if (taken) {
          pc += insn.off + 1;
          continue;
        }
        break;
      }
      case Class.LD: {
        const v = p.lddw.get(pc)!;
        if (v.kind === "fault") throw new VmFault(v.reason, pc);
        const w = lddwWords(v, m.table);
        r[d] = big(w.lo, w.hi);
        pc += 2;
        continue;
      }
      case Class.LDX: {
        const mode = op & 0xe0;
        const size = sizeBytes((op & SIZE_MASK) as Size);
        const a = r[s]!;
        const l = m.ld(lo(a), hi(a), insn.off, size, pc);
        let v = big(l, m.h);
        if (mode === Mode.MEMSX) v = u64(BigInt.asIntN(size * 8, v));
        r[d] = v;
        break;
      }
      case Class.ST:
      case Class.STX: {
        const mode = op & 0xe0;
        const size = sizeBytes((op & SIZE_MASK) as Size);
        const a = r[d]!;
        if (cls === Class.STX && mode === Mode.ATOMIC) {
          const sv = r[s]!;
          const old = m.atomic(insn.imm, lo(a), hi(a), insn.off, size, lo(sv), hi(sv), lo(r[0]!), hi(r[0]!), pc);
          const ov = big(old, m.h);
          if (insn.imm === 0xf1) r[0] = ov;
          else if (insn.imm & 1) r[s] = ov;
          break;
        }
        const v = cls === Class.STX ? r[s]! : u64(BigInt(insn.imm));
        m.st(lo(a), hi(a), insn.off, size, lo(v), hi(v), pc);
        break;
      }
    }
    pc++;
  }
}

/** Exported for the JIT's rare-operation fallbacks and for tests: the interpreter's ALU on BigInts. */
export const refAlu = alu;
/** The interpreter's jump condition. */
export const refCond = cond;
export { STACK_SIZE };
