/**
 * ALU transfer: scalar arithmetic (scalar.ts) and the kernel's pointer-arithmetic rules — which pointer types may be
 * moved by which operations, how far, and what a 32-bit operation on a pointer means.
 */
import { AluOp, Class, Source, classOf, type Instruction } from "../asm/index.ts";
import { type Env, def, reject, top, use } from "./env.ts";
import { MAX_VAR_OFF } from "./memory.ts";
import { markPrecise } from "./precision.ts";
import { type AluKind, S64MIN, salu, sconst, sconstValue, ssext, szext32 } from "./scalar.ts";
import { type Reg, type VState, UNKNOWN, isOrNull, isPointer, makeReg, scalarReg, withId, withScalar } from "./state.ts";

const KIND: Record<number, AluKind | undefined> = {
  [AluOp.ADD]: "add",
  [AluOp.SUB]: "sub",
  [AluOp.MUL]: "mul",
  [AluOp.DIV]: "div",
  [AluOp.MOD]: "mod",
  [AluOp.OR]: "or",
  [AluOp.AND]: "and",
  [AluOp.XOR]: "xor",
  [AluOp.LSH]: "lsh",
  [AluOp.RSH]: "rsh",
  [AluOp.ARSH]: "arsh",
};

const OP_TEXT: Record<number, string> = {
  [AluOp.ADD]: "+=", [AluOp.SUB]: "-=", [AluOp.MUL]: "*=", [AluOp.DIV]: "/=", [AluOp.OR]: "|=", [AluOp.AND]: "&=",
  [AluOp.LSH]: "<<=", [AluOp.RSH]: ">>=", [AluOp.MOD]: "%=", [AluOp.XOR]: "^=", [AluOp.ARSH]: "s>>=",
};

/** The pointer after `ptr op= off` (op ADD or SUB), with the kernel's sanity limits. */
function movePointer(env: Env, ptr: Reg, regno: number, op: number, off: Reg, is32: boolean): Reg {
  if (is32) reject(`R${regno} 32-bit pointer arithmetic prohibited`);
  if (isOrNull(ptr)) reject(`R${regno} pointer arithmetic on ${ptr.kind} prohibited, null-check it first`);
  const known = sconstValue(off.s);
  if (ptr.kind === "map_ptr" && !(known === 0n && op === AluOp.ADD)) reject(`R${regno} pointer arithmetic on map_ptr prohibited`);
  if (ptr.kind === "sock") reject(`R${regno} pointer arithmetic on sock prohibited`);
  if (op !== AluOp.ADD && op !== AluOp.SUB) {
    if (op === AluOp.AND || op === AluOp.OR || op === AluOp.XOR) reject(`R${regno} bitwise operator ${OP_TEXT[op]} on pointer prohibited`);
    reject(`R${regno} pointer arithmetic with ${OP_TEXT[op] ?? "?"} operator prohibited`);
  }
  if (op === AluOp.SUB && ptr.kind === "fp") reject(`R${regno} subtraction from stack pointer prohibited`);
  const kname = ptr.kind === "fp" ? "fp" : ptr.kind;
  if (known !== undefined) {
    const v = BigInt.asIntN(64, known);
    if (v >= BigInt(MAX_VAR_OFF) || v <= -BigInt(MAX_VAR_OFF)) reject(`math between ${kname} pointer and ${v} is not allowed`);
    const noff = ptr.off + (op === AluOp.ADD ? Number(v) : -Number(v));
    if (noff >= MAX_VAR_OFF || noff <= -MAX_VAR_OFF) reject(`value ${noff} makes ${kname} pointer be out of bounds`);
    return makeReg(ptr.kind, ptr.s, noff, ptr.id, ptr.ref, ptr.map, ptr.frame, ptr.precise);
  }
  if (off.s.smin === S64MIN) reject(`math between ${kname} pointer and register with unbounded min value is not allowed`);
  if (off.s.smin >= BigInt(MAX_VAR_OFF) || off.s.smin <= -BigInt(MAX_VAR_OFF)) reject(`value ${off.s.smin} makes ${kname} pointer be out of bounds`);
  const s = salu(op === AluOp.ADD ? "add" : "sub", ptr.s, off.s, 64);
  if (s.smin === S64MIN) reject(`math between ${kname} pointer and register with unbounded min value is not allowed`);
  return withScalar(ptr, s);
}

/** Applies one ALU or ALU64 instruction to the state. */
export function aluInsn(env: Env, st: VState, insn: Instruction): void {
  const is32 = classOf(insn.opcode) === Class.ALU;
  const w = is32 ? 32 : 64;
  const op = insn.opcode & 0xf0;
  const isX = (insn.opcode & Source.X) !== 0;
  const regs = top(st).regs;
  const d = insn.dst;
  if (op === AluOp.END) {
    use(st, d);
    const bits = insn.imm;
    if (bits !== 16 && bits !== 32 && bits !== 64) reject(`BPF_END uses reserved fields`);
    // The kernel does not track byte swaps: the result is an unknown 64-bit value, even for be16.
    def(st, d, UNKNOWN);
    return;
  }
  if (op === AluOp.NEG) {
    // Treated as unknown, never more precise than the kernel's tracking of negation.
    use(st, d);
    def(st, d, UNKNOWN);
    return;
  }
  if (op === AluOp.MOV) {
    if (isX) {
      const src = use(st, insn.src);
      if (insn.off === 8 || insn.off === 16 || insn.off === 32) {
        def(st, d, src.kind === "scalar" ? scalarReg(ssext(src.s, insn.off, w), 0, src.precise) : UNKNOWN);
        return;
      }
      if (!is32) {
        if (src.kind === "scalar" && src.id === 0 && insn.src !== d) {
          // Copies share an id so that a comparison on one refines the other (the kernel's linked scalars).
          const linked = withId(src, env.nextId());
          regs[insn.src] = linked;
          def(st, d, linked);
        } else {
          def(st, d, src);
        }
        return;
      }
      def(st, d, src.kind === "scalar" ? scalarReg(szext32(src.s), 0, src.precise) : scalarReg(szext32(UNKNOWN.s)));
      return;
    }
    const v = is32 ? BigInt(insn.imm >>> 0) : BigInt(insn.imm);
    def(st, d, scalarReg(sconst(v)));
    return;
  }
  const kind = KIND[op];
  if (kind === undefined) reject(`invalid BPF_ALU opcode ${insn.opcode.toString(16)}`);
  const dst = use(st, d);
  let src: Reg;
  if (isX) {
    src = use(st, insn.src);
  } else {
    if ((kind === "div" || kind === "mod") && insn.imm === 0) reject("div by zero");
    if ((kind === "lsh" || kind === "rsh" || kind === "arsh") && (insn.imm < 0 || insn.imm >= w)) reject(`invalid shift ${insn.imm}`);
    src = scalarReg(sconst(is32 ? BigInt(insn.imm >>> 0) : BigInt(insn.imm)));
  }
  if (d === 10) reject("frame pointer is read only");
  if (isPointer(dst) && isPointer(src)) {
    if (op === AluOp.SUB && !is32) {
      def(st, d, UNKNOWN);
      return;
    }
    reject(`R${d} pointer ${OP_TEXT[op]} pointer prohibited`);
  }
  if (isPointer(dst)) {
    // The pointer's new offset depends on the scalar's exact range (the kernel marks it precise here).
    if (isX) markPrecise(env.insns, st, 1 << insn.src);
    def(st, d, movePointer(env, dst, d, op, src, is32));
    return;
  }
  if (isPointer(src)) {
    if (op === AluOp.SUB && !is32) reject(`R${d} tried to subtract pointer from scalar`);
    markPrecise(env.insns, st, 1 << d);
    def(st, d, movePointer(env, src, d, op, dst, is32));
    return;
  }
  // A precise destination stays precise (its mark is kept), so what flows into it must be precise too: otherwise a
  // later demand on it would stop at this mark and miss the source (the kernel's adjust_reg_min_max_vals does this).
  if (isX && dst.precise && !src.precise) markPrecise(env.insns, st, 1 << insn.src);
  def(st, d, scalarReg(salu(kind, dst.s, src.s, w), 0, dst.precise));
}
