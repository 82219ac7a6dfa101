/**
 * Instruction selection and emission: IR (after allocation) → emitted-form BPF instructions with labels.
 *
 * Each IR instruction expands to a short fixed sequence on physical registers. Spilled vregs are read into the
 * scratch registers just before use and written back right after definition. Every emitted instruction carries the
 * IR instruction's source location (for BTF line info) and, in dumps, the IR text as a comment.
 */
import {
  AluOp,
  AtomicOp,
  FP,
  JmpOp,
  Mode,
  Size,
  alu32,
  alu64,
  atomic,
  call,
  endian,
  exit,
  callLocal,
  ja,
  jmp32,
  jmp64,
  ldMap,
  ldx,
  lddw,
  mov32,
  mov64,
  reg,
  sizeOfBytes,
  st,
  stx,
  type Instruction,
  type SourceLoc,
} from "../asm/index.ts";
import { REMOTE_PORT_PADDING, U16_BACKED_FIELDS, ctxLoadField } from "../abi/sk-lookup.ts";
import type { BinOp, CmpOp, Function, Inst, Module, Terminator, Value, VReg } from "../ir/ir.ts";
import { fitsImm32, invertCmp } from "../ir/passes/fold.ts";
import { printInst, printTerminator } from "../ir/print.ts";
import { BackendError } from "./errors.ts";
import type { Frame } from "./frame.ts";
import { COMMUTATIVE } from "./prepare.ts";
import type { Allocation } from "./regalloc.ts";
import type { CodegenFeatures } from "./index.ts";

const ALU: Record<BinOp, AluOp> = {
  add: AluOp.ADD,
  sub: AluOp.SUB,
  mul: AluOp.MUL,
  udiv: AluOp.DIV,
  sdiv: AluOp.DIV,
  umod: AluOp.MOD,
  smod: AluOp.MOD,
  and: AluOp.AND,
  or: AluOp.OR,
  xor: AluOp.XOR,
  shl: AluOp.LSH,
  lshr: AluOp.RSH,
  ashr: AluOp.ARSH,
};

const JMP: Record<CmpOp, JmpOp> = {
  eq: JmpOp.JEQ,
  ne: JmpOp.JNE,
  ugt: JmpOp.JGT,
  uge: JmpOp.JGE,
  ult: JmpOp.JLT,
  ule: JmpOp.JLE,
  sgt: JmpOp.JSGT,
  sge: JmpOp.JSGE,
  slt: JmpOp.JSLT,
  sle: JmpOp.JSLE,
  set: JmpOp.JSET,
};

/** Label of a block's first instruction. */
/**
 * A `setcc` the selector can compute without a branch when its result may take the left operand's register: a
 * 32-bit equality test against an immediate. The register allocator reads its operand early (not "late") for that.
 */
export const branchFreeSetcc = (inst: Inst): boolean =>
  inst.op === "setcc" && (inst.cmp === "eq" || inst.cmp === "ne") && inst.width === 32 && inst.a.kind === "vreg" && inst.b.kind === "imm";

export const blockLabel = (fnName: string, id: number): string => `${fnName}.LBB${id}`;

/** Everything selection needs besides the function itself. */
export interface SelectInput {
  fn: Function;
  module: Module;
  order: readonly number[];
  alloc: Allocation;
  frame: Frame;
  /** The context vreg (programs only). */
  ctx?: VReg;
  /** Attach IR text as instruction comments (for dumps). */
  comments?: boolean;
  /** Newer instruction forms the target accepts (default: Linux 5.10's). */
  features?: CodegenFeatures;
}

/** Emits the function's instructions in block order. Jumps use labels; map loads use `mapRef`. */
export function select(input: SelectInput): Instruction[] {
  return new Selector(input).run();
}

class Selector {
  private out: Instruction[] = [];
  private pendingLabels: string[] = [];
  private loc: SourceLoc | undefined;
  private comment: string | undefined;
  private localLabels = 0;
  private readonly s0: number;
  private readonly s1: number;
  private readonly maps: Set<string>;

  constructor(private readonly input: SelectInput) {
    this.s0 = input.alloc.scratch[0] ?? -1;
    this.s1 = input.alloc.scratch[1] ?? -1;
    this.maps = new Set(input.module.maps.map((m) => m.name));
  }

  run(): Instruction[] {
    const { fn, order, ctx, alloc } = this.input;
    this.loc = fn.loc;
    // Parameters (a program's context, a subprogram's integers) arrive in r1..r5: spilled ones are stored first,
    // then the others move, as one parallel move, to where the allocator put them.
    const moves: { dst: number; src: number }[] = [];
    fn.params.forEach((p, i) => {
      if (!alloc.loc.has(p)) return;
      const l = alloc.loc.get(p)!;
      if ("reg" in l) {
        if (l.reg !== i + 1) moves.push({ dst: l.reg, src: i + 1 });
      } else this.emit(stx(Size.DW, FP, this.spillOff(p), i + 1));
    });
    // Any register that no move touches breaks a cycle: nothing else is live yet.
    const busy = new Set(moves.flatMap((m) => [m.dst, m.src]));
    this.parallelMove(moves, [0, 6, 7, 8, 9, 1, 2, 3, 4, 5].find((r) => !busy.has(r)));
    order.forEach((id, i) => {
      const b = fn.blocks[id]!;
      this.pendingLabels.push(blockLabel(fn.name, id));
      for (const inst of b.insts) {
        this.loc = inst.loc;
        this.comment = this.input.comments ? printInst(inst, fn.ptrKinds) : undefined;
        this.inst(inst);
      }
      this.loc = b.term.loc;
      this.comment = this.input.comments ? printTerminator(b.term) : undefined;
      this.term(b.term, order[i + 1]);
    });
    if (this.pendingLabels.length) throw new BackendError(`${fn.name}: control falls off the end of the function`, fn.loc);
    return this.out;
  }

  // ---- emission helpers ----

  private emit(insn: Instruction): void {
    if (this.pendingLabels.length) {
      insn.labels = [...(insn.labels ?? []), ...this.pendingLabels];
      this.pendingLabels = [];
    }
    if (this.loc) insn.loc = this.loc;
    if (this.comment) {
      insn.comment = this.comment;
      this.comment = undefined;
    }
    this.out.push(insn);
  }

  private fail(msg: string): never {
    throw new BackendError(`${this.input.fn.name}: ${msg}`, this.loc);
  }

  private location(v: VReg) {
    const l = this.input.alloc.loc.get(v);
    if (!l) this.fail(`v${v} is used but never defined`);
    return l;
  }

  private spillOff(v: VReg): number {
    const l = this.location(v);
    if (!("spill" in l)) this.fail(`v${v} is not spilled`);
    return this.input.frame.spillOffset[l.spill]!;
  }

  /** Register holding vreg `v` for reading; a spilled vreg is loaded into `scratch`. */
  private use(v: VReg, scratch: number): number {
    const l = this.location(v);
    if ("reg" in l) return l.reg;
    this.emit(ldx(Size.DW, scratch, FP, this.input.frame.spillOffset[l.spill]!));
    return scratch;
  }

  /** Register to compute vreg `v` into (its own, or `scratch` when spilled; then call `defined`). */
  private defReg(v: VReg, scratch: number): number {
    const l = this.location(v);
    return "reg" in l ? l.reg : scratch;
  }

  /** Writes a spilled vreg back after it was computed in `r`. */
  private defined(v: VReg, r: number): void {
    const l = this.location(v);
    if ("spill" in l) this.emit(stx(Size.DW, FP, this.input.frame.spillOffset[l.spill]!, r));
  }

  /** `r = value` with the shortest encoding: imm32 (sign-extended), w-register move (zero-extended), or lddw. */
  private movImm(r: number, value: bigint): void {
    const v = BigInt.asUintN(64, value);
    if (fitsImm32(v)) this.emit(mov64(r, Number(BigInt.asIntN(64, v))));
    else if (v < 1n << 32n) this.emit(mov32(r, Number(BigInt.asIntN(32, v))));
    else this.emit(lddw(r, v));
  }

  private imm32(value: bigint, width: 32 | 64): number {
    if (width === 64 && !fitsImm32(value)) this.fail(`immediate ${value} does not fit 32 bits`);
    return Number(BigInt.asIntN(32, value));
  }

  private newLabel(): string {
    return `${this.input.fn.name}.L${this.localLabels++}`;
  }

  private jcc(cmp: CmpOp, width: 32 | 64, ra: number, b: { reg: number } | number, target: string): void {
    this.emit(width === 32 ? jmp32(JMP[cmp], ra, b, target) : jmp64(JMP[cmp], ra, b, target));
  }

  /** Right-hand operand of a comparison: a register or an imm32. */
  private cmpOperand(b: Value, width: 32 | 64): { reg: number } | number {
    return b.kind === "imm" ? this.imm32(b.value, width) : reg(this.use(b.id, this.s1));
  }

  /** Sign-extends the low `bytes` of register `r` to 64 bits: movsx on cpu-v4 targets, two shifts before. */
  private signExtend(r: number, bytes: number): void {
    if (bytes >= 8) return;
    if (this.input.features?.signExtension) {
      this.emit({ ...mov64(r, reg(r)), off: bytes * 8 });
      return;
    }
    const sh = 64 - bytes * 8;
    this.emit(alu64(AluOp.LSH, r, sh));
    this.emit(alu64(AluOp.ARSH, r, sh));
  }

  /** 64-bit widths for comparisons on pointers: the verifier's null tracking needs a full-width test. */
  private cmpWidth(a: Value, width: 32 | 64): 32 | 64 {
    if (a.kind === "vreg" && this.input.fn.ptrKinds?.has(a.id)) return 64;
    return width;
  }

  // ---- instructions ----

  private inst(inst: Inst): void {
    const S0 = this.s0;
    const S1 = this.s1;
    switch (inst.op) {
      case "mov": {
        const l = this.location(inst.dst);
        if ("spill" in l && inst.src.kind === "vreg" && "reg" in this.location(inst.src.id)) {
          this.emit(stx(Size.DW, FP, this.spillOff(inst.dst), this.use(inst.src.id, S0)));
          return;
        }
        const rd = this.defReg(inst.dst, S0);
        if (inst.src.kind === "imm") this.movImm(rd, inst.src.value);
        else {
          const l2 = this.location(inst.src.id);
          if ("spill" in l2) this.emit(ldx(Size.DW, rd, FP, this.spillOff(inst.src.id)));
          else if (l2.reg !== rd) this.emit(mov64(rd, reg(l2.reg)));
        }
        this.defined(inst.dst, rd);
        return;
      }
      case "bin":
        return this.bin(inst);
      case "neg": {
        const rd = this.defReg(inst.dst, S0);
        this.moveInto(rd, inst.src, inst.width);
        this.emit(inst.width === 32 ? alu32(AluOp.NEG, rd, 0) : alu64(AluOp.NEG, rd, 0));
        this.defined(inst.dst, rd);
        return;
      }
      case "ext": {
        const rd = this.defReg(inst.dst, S0);
        if (inst.bits === 32 && !inst.signed) {
          const rs = inst.src.kind === "vreg" ? this.use(inst.src.id, S0) : -1;
          if (rs < 0) this.movImm(rd, BigInt.asUintN(32, (inst.src as { value: bigint }).value));
          else this.emit(mov32(rd, reg(rs)));
        } else if (!inst.signed) {
          this.moveInto(rd, inst.src, 32);
          this.emit(alu32(AluOp.AND, rd, inst.bits === 8 ? 0xff : 0xffff));
        } else {
          this.moveInto(rd, inst.src, 64);
          this.signExtend(rd, inst.bits / 8);
        }
        this.defined(inst.dst, rd);
        return;
      }
      case "bswap": {
        const rd = this.defReg(inst.dst, S0);
        this.moveInto(rd, inst.src, 64);
        this.emit(endian(rd, inst.bits, true));
        this.defined(inst.dst, rd);
        return;
      }
      case "setcc":
        return this.setcc(inst);
      case "ctx_load": {
        const ctx = this.input.ctx;
        if (ctx === undefined) this.fail("ctx_load outside a program");
        const field = ctxLoadField(inst.offset, inst.size);
        if (!field) this.fail(`the kernel rejects a ${inst.size}-byte context load at offset ${inst.offset}`);
        if (inst.size === 2 && inst.offset === field.offset + 2 && U16_BACKED_FIELDS.has(field.offset)) {
          // Accepted by the kernel but it reads the field's low half, not bytes 2..3 (see abi/sk-lookup.ts).
          this.fail(`a 2-byte context load at offset ${inst.offset} (upper half of ${field.name}) reads the wrong bytes on this kernel`);
        }
        if (inst.size === 2 && inst.offset === REMOTE_PORT_PADDING) {
          // Reads 0 from Linux 5.18 but the port itself before (see CTX_LAYOUT_ROW in target/versions.ts).
          this.fail(`a 2-byte context load at offset ${inst.offset} (the padding after remote_port) reads the port on kernels before 5.18`);
        }
        const rd = this.defReg(inst.dst, S0);
        // Always through the original context register (the verifier rejects modified ctx pointers).
        const rc = this.use(ctx, rd);
        this.emit(ldx(sizeOfBytes(inst.size), rd, rc, inst.offset));
        this.defined(inst.dst, rd);
        return;
      }
      case "slot_addr": {
        const rd = this.defReg(inst.dst, S0);
        this.emit(mov64(rd, reg(FP)));
        this.emit(alu64(AluOp.ADD, rd, this.slotOff(inst.slot, inst.offset)));
        this.defined(inst.dst, rd);
        return;
      }
      case "slot_load": {
        const rd = this.defReg(inst.dst, S0);
        this.emit(this.load(inst.size, rd, FP, this.slotOff(inst.slot, inst.offset), inst.signed === true));
        if (inst.signed && !this.signedLoad(inst.size)) this.signExtend(rd, inst.size);
        this.defined(inst.dst, rd);
        return;
      }
      case "slot_store": {
        const off = this.slotOff(inst.slot, inst.offset);
        if (inst.value.kind === "imm") this.emit(st(sizeOfBytes(inst.size), FP, off, this.storeImm(inst.value.value, inst.size)));
        else this.emit(stx(sizeOfBytes(inst.size), FP, off, this.use(inst.value.id, S0)));
        return;
      }
      case "load": {
        const rp = this.use(inst.ptr, S0);
        const rd = this.defReg(inst.dst, S0);
        // ldsx only through stack and map-value pointers: the kernel's context and socket accessors refuse it.
        const kind = this.input.fn.ptrKinds?.get(inst.ptr);
        const sx = inst.signed === true && (kind === "map_value" || kind === "map_value_or_null" || kind === "stack");
        this.emit(this.load(inst.size, rd, rp, inst.offset, sx));
        if (inst.signed && !(sx && this.signedLoad(inst.size))) this.signExtend(rd, inst.size);
        this.defined(inst.dst, rd);
        return;
      }
      case "store": {
        const rp = this.use(inst.ptr, S0);
        if (inst.value.kind === "imm") this.emit(st(sizeOfBytes(inst.size), rp, inst.offset, this.storeImm(inst.value.value, inst.size)));
        else this.emit(stx(sizeOfBytes(inst.size), rp, inst.offset, this.use(inst.value.id, S1)));
        return;
      }
      case "atomic_add": {
        if (inst.value.kind === "imm") this.fail("atomic_add needs a register operand (run prepare first)");
        const rp = this.use(inst.ptr, S0);
        const rv = this.use(inst.value.id, S1);
        this.emit(atomic(inst.size === 4 ? Size.W : Size.DW, AtomicOp.ADD, rp, inst.offset, rv));
        return;
      }
      case "map_ref": {
        if (!this.maps.has(inst.map)) this.fail(`reference to unknown map ${inst.map}`);
        const rd = this.defReg(inst.dst, S0);
        this.emit(ldMap(rd, inst.map));
        this.defined(inst.dst, rd);
        return;
      }
      case "call":
        return this.call(inst);
      case "call_local":
        return this.call(inst);
    }
  }

  /** Whether a signed load of `size` bytes is one cpu-v4 ldsx instruction on the target. */
  private signedLoad(size: number): boolean {
    return this.input.features?.signExtension === true && size < 8;
  }

  /** `dst = *(size *)(src + off)`, sign-extending (ldsx) when asked and the target has it. */
  private load(size: 1 | 2 | 4 | 8, dst: number, src: number, off: number, signed: boolean): Instruction {
    const insn = ldx(sizeOfBytes(size), dst, src, off);
    if (signed && this.signedLoad(size)) insn.opcode = (insn.opcode & ~0xe0) | Mode.MEMSX;
    return insn;
  }

  private storeImm(value: bigint, size: number): number {
    // Narrow stores keep only their low bytes; an 8-byte store sign-extends imm32 (checked by prepare).
    if (size === 8 && !fitsImm32(value)) this.fail(`8-byte store of ${value} needs a register`);
    return Number(BigInt.asIntN(32, value));
  }

  private slotOff(slot: number, offset: number): number {
    const base = this.input.frame.slotOffset.get(slot);
    if (base === undefined) this.fail(`unknown stack slot s${slot}`);
    return base + offset;
  }

  /** `rd = src` (register copy, spill load or immediate); nothing when already there. */
  private moveInto(rd: number, src: Value, width: 32 | 64): void {
    if (src.kind === "imm") return this.movImm(rd, src.value);
    const l = this.location(src.id);
    if ("spill" in l) this.emit(ldx(Size.DW, rd, FP, this.spillOff(src.id)));
    else if (l.reg !== rd) this.emit(width === 32 ? mov32(rd, reg(l.reg)) : mov64(rd, reg(l.reg)));
  }

  private bin(inst: Extract<Inst, { op: "bin" }>): void {
    let { a, b } = inst;
    const rb0 = b.kind === "vreg" ? this.use(b.id, this.s1) : -1;
    let ra = a.kind === "vreg" ? this.use(a.id, this.s0) : -1;
    let rb = rb0;
    const rd = this.defReg(inst.dst, this.s0);
    if (COMMUTATIVE.has(inst.kind) && b.kind === "vreg" && rb === rd && !(a.kind === "vreg" && ra === rd)) {
      [a, b, ra, rb] = [b, a, rb, ra];
    }
    if (b.kind === "vreg" && rb === rd && !(a.kind === "vreg" && ra === rd)) {
      this.fail(`internal: right operand of ${inst.kind} shares the result register`);
    }
    if (a.kind === "imm") this.movImm(rd, a.value);
    else if (ra !== rd) this.emit(inst.width === 32 ? mov32(rd, reg(ra)) : mov64(rd, reg(ra)));
    const op = ALU[inst.kind];
    let operand: { reg: number } | number;
    if (b.kind === "imm") {
      let v = b.value;
      if (inst.kind === "shl" || inst.kind === "lshr" || inst.kind === "ashr") v &= BigInt(inst.width - 1);
      operand = this.imm32(v, inst.width);
    } else operand = reg(rb);
    const insn = inst.width === 32 ? alu32(op, rd, operand) : alu64(op, rd, operand);
    if (inst.kind === "sdiv" || inst.kind === "smod") insn.off = 1; // cpu v4 signed division
    this.emit(insn);
    this.defined(inst.dst, rd);
  }

  private setcc(inst: Extract<Inst, { op: "setcc" }>): void {
    if (inst.a.kind !== "vreg") this.fail("setcc needs a register on the left (run prepare first)");
    const ra = this.use(inst.a.id, this.s0);
    const operand = this.cmpOperand(inst.b, inst.width);
    const rd = this.defReg(inst.dst, this.s0);
    const width = this.cmpWidth(inst.a, inst.width);
    if (rd === ra && width === 32 && branchFreeSetcc(inst) && typeof operand === "number") {
      // x == k as ((x ^ k) - 1) >> 63 and x != k as -(x ^ k) >> 63 on the zero-extended 32-bit difference: as
      // short as `rd = 1; if ...; rd = 0`, and one path for the kernel verifier instead of two.
      if (operand !== 0) this.emit(alu32(AluOp.XOR, rd, operand));
      this.emit(inst.cmp === "eq" ? alu64(AluOp.ADD, rd, -1) : alu64(AluOp.NEG, rd, 0));
      this.emit(alu64(AluOp.RSH, rd, 63));
      this.defined(inst.dst, rd);
      return;
    }
    const end = this.newLabel();
    if (rd !== ra && (typeof operand === "number" || operand.reg !== rd)) {
      this.movImm(rd, 1n);
      this.jcc(inst.cmp, width, ra, operand, end);
      this.movImm(rd, 0n);
    } else {
      const yes = this.newLabel();
      this.jcc(inst.cmp, width, ra, operand, yes);
      this.movImm(rd, 0n);
      this.emit(ja(end));
      this.pendingLabels.push(yes);
      this.movImm(rd, 1n);
    }
    this.pendingLabels.push(end);
    this.defined(inst.dst, rd);
  }

  /** A helper call or a BPF-to-BPF call of a subprogram: the same convention (r1..r5 in, r0 out, r0..r5 clobbered). */
  private call(inst: Extract<Inst, { op: "call" | "call_local" }>): void {
    const what = inst.op === "call" ? `helper ${inst.helper}` : inst.callee;
    if (inst.args.length > 5) this.fail(`${what} called with ${inst.args.length} arguments (at most 5)`);
    // Register arguments first, as a parallel move into r1..r5; then spilled ones and immediates.
    const moves: { dst: number; src: number }[] = [];
    inst.args.forEach((a, i) => {
      if (a.kind !== "vreg") return;
      const l = this.location(a.id);
      if ("reg" in l && l.reg !== i + 1) moves.push({ dst: i + 1, src: l.reg });
    });
    this.parallelMove(moves);
    inst.args.forEach((a, i) => {
      if (a.kind === "imm") this.movImm(i + 1, a.value);
      else if ("spill" in this.location(a.id)) this.emit(ldx(Size.DW, i + 1, FP, this.spillOff(a.id)));
    });
    this.emit(inst.op === "call" ? call(inst.helper) : callLocal(inst.callee));
    if (inst.dst !== undefined && this.input.alloc.loc.has(inst.dst)) {
      const l = this.location(inst.dst);
      if ("reg" in l) {
        if (l.reg !== 0) this.emit(mov64(l.reg, reg(0)));
      } else this.emit(stx(Size.DW, FP, this.spillOff(inst.dst), 0));
    }
  }

  /**
   * Emits register moves so that every `dst` receives the old value of its `src`. Targets are distinct argument
   * registers; a cycle among them is broken through r0, which the call is about to clobber anyway and which no
   * remaining move reads once the acyclic moves are done.
   */
  private parallelMove(moves: { dst: number; src: number }[], temp = 0): void {
    const pending = [...moves];
    while (pending.length) {
      const i = pending.findIndex((m) => !pending.some((o) => o !== m && o.src === m.dst));
      if (i >= 0) {
        const m = pending.splice(i, 1)[0]!;
        this.emit(mov64(m.dst, reg(m.src)));
        continue;
      }
      const m = pending[0]!;
      this.emit(mov64(temp, reg(m.dst)));
      for (const o of pending) if (o.src === m.dst) o.src = temp;
    }
  }

  // ---- terminators ----

  private term(t: Terminator, next: number | undefined): void {
    const name = this.input.fn.name;
    switch (t.op) {
      case "br":
        if (t.target !== next) this.emit(ja(blockLabel(name, t.target)));
        return;
      case "cbr": {
        if (t.a.kind !== "vreg") this.fail("branch needs a register on the left (run prepare first)");
        const ra = this.use(t.a.id, this.s0);
        const operand = this.cmpOperand(t.b, t.width);
        const width = this.cmpWidth(t.a, t.width);
        const inv = invertCmp(t.cmp);
        if (t.then === next && inv) {
          this.jcc(inv, width, ra, operand, blockLabel(name, t.else));
        } else {
          this.jcc(t.cmp, width, ra, operand, blockLabel(name, t.then));
          if (t.else !== next) this.emit(ja(blockLabel(name, t.else)));
        }
        return;
      }
      case "ret":
        if (t.value.kind === "imm") this.movImm(0, t.value.value);
        else {
          const l = this.location(t.value.id);
          if ("spill" in l) this.emit(ldx(Size.DW, 0, FP, this.spillOff(t.value.id)));
          else if (l.reg !== 0) this.emit(mov64(0, reg(l.reg)));
        }
        this.emit(exit());
        return;
    }
  }
}
