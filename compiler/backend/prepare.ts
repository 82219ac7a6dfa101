/**
 * Backend-specific IR rewrites run after the generic simplifications and before register allocation:
 *
 * - rematerialisation: a `map_ref` or `slot_addr` used by a later instruction is recomputed right before each use
 *   (one lddw or two ALU ops are cheaper than keeping the pointer in a callee-saved register across helper calls,
 *   and it lets the value be built directly in its argument register, as clang does);
 * - legalisation: operands BPF cannot encode as an immediate (64-bit constants that do not fit a sign-extended imm32,
 *   atomic operands, 8-byte stores of large constants) move into fresh vregs; immediates on the left of commutative
 *   operations swap to the right; division by a constant zero folds to BPF's defined result;
 * - vregs that may be read before being assigned start as 0 (the verifier rejects reads of unset registers).
 */
import type { BinOp, Function, Inst, Value, VReg } from "../ir/ir.ts";
import { fitsImm32, swapCmp } from "../ir/passes/fold.ts";
import { computeLiveness } from "../ir/passes/liveness.ts";
import { instDef, mapSuccessors, successors } from "../ir/passes/util.ts";

/** Commutative binary operations (operands may swap). */
export const COMMUTATIVE: ReadonlySet<BinOp> = new Set<BinOp>(["add", "mul", "and", "or", "xor"]);

/** Applies rematerialisation and legalisation to `fn` in place; `ctx` is the program's context vreg. */
export function prepare(fn: Function, ctx?: VReg): void {
  rematerialise(fn);
  legalise(fn);
  initialiseMaybeUndefined(fn, ctx);
}

/**
 * A vreg read on some path before any assignment (live into the entry block) would be an uninitialised register,
 * which the kernel verifier rejects (`R3 !read_ok`). Such vregs start as 0.
 */
function initialiseMaybeUndefined(fn: Function, ctx?: VReg): void {
  const { liveIn } = computeLiveness(fn, ctx);
  const undef = [...liveIn[0]!].filter((v) => !fn.params.includes(v)).sort((a, b) => a - b);
  if (undef.length === 0) return;
  const zeros = undef.map((dst): Inst => ({ op: "mov", dst, src: { kind: "imm", value: 0n }, loc: fn.loc }));
  const entry = fn.blocks[0]!;
  if (!fn.blocks.some((b) => successors(b.term).includes(0))) {
    entry.insts.unshift(...zeros);
    return;
  }
  // The entry is a loop header: the zeroing goes into a new entry block that falls into it.
  const moved = { id: fn.blocks.length, insts: entry.insts, term: entry.term };
  fn.blocks.push(moved);
  for (const b of fn.blocks) mapSuccessors(b.term, (id) => (id === 0 ? moved.id : id));
  fn.blocks[0] = { id: 0, insts: zeros, term: { op: "br", target: moved.id } };
}

function rematerialise(fn: Function): void {
  const defs = new Map<VReg, Inst[]>();
  for (const b of fn.blocks) {
    for (const inst of b.insts) {
      const d = instDef(inst);
      if (d !== undefined) defs.set(d, [...(defs.get(d) ?? []), inst]);
    }
  }
  const remat = new Map<VReg, Inst>();
  for (const [v, ds] of defs) {
    if (ds.length === 1 && (ds[0]!.op === "map_ref" || ds[0]!.op === "slot_addr") && !fn.params.includes(v)) remat.set(v, ds[0]!);
  }
  if (remat.size === 0) return;
  for (const b of fn.blocks) {
    const out: Inst[] = [];
    for (const inst of b.insts) {
      if (inst.op === "call") {
        // Only helper arguments are rematerialised: that is where the pointer has to be in a fixed register anyway.
        inst.args = inst.args.map((a) => {
          const d = a.kind === "vreg" ? remat.get(a.id) : undefined;
          if (!d) return a;
          const t = fn.vregCount++;
          const copy = { ...d, dst: t, loc: inst.loc ?? d.loc } as Inst;
          out.push(copy);
          const k = fn.ptrKinds?.get(a.kind === "vreg" ? a.id : -1);
          if (k) fn.ptrKinds!.set(t, k);
          return { kind: "vreg", id: t };
        });
      }
      out.push(inst);
    }
    b.insts = out;
  }
}

function legalise(fn: Function): void {
  for (const b of fn.blocks) {
    const out: Inst[] = [];
    const materialise = (v: Value, loc: Inst["loc"]): Value => {
      if (v.kind !== "imm") return v;
      const t = fn.vregCount++;
      out.push({ op: "mov", dst: t, src: v, loc });
      return { kind: "vreg", id: t };
    };
    const big = (v: Value) => v.kind === "imm" && !fitsImm32(v.value);
    for (let inst of b.insts) {
      switch (inst.op) {
        case "bin": {
          if (inst.a.kind === "imm" && inst.b.kind === "vreg" && COMMUTATIVE.has(inst.kind)) [inst.a, inst.b] = [inst.b, inst.a];
          if (inst.b.kind === "imm" && BigInt.asUintN(inst.width, inst.b.value) === 0n && ["udiv", "sdiv", "umod", "smod"].includes(inst.kind)) {
            // BPF: x / 0 = 0 and x % 0 = x (the verifier rejects a constant zero divisor).
            const isDiv = inst.kind === "udiv" || inst.kind === "sdiv";
            inst = isDiv
              ? { op: "mov", dst: inst.dst, src: { kind: "imm", value: 0n }, loc: inst.loc }
              : inst.width === 32
                ? { op: "ext", dst: inst.dst, src: inst.a, bits: 32, signed: false, loc: inst.loc }
                : { op: "mov", dst: inst.dst, src: inst.a, loc: inst.loc };
            break;
          }
          if (inst.width === 64 && big(inst.b)) inst.b = materialise(inst.b, inst.loc);
          if (inst.width === 64 && big(inst.a)) inst.a = materialise(inst.a, inst.loc);
          break;
        }
        case "setcc":
          if (inst.a.kind === "imm" && inst.b.kind === "vreg") {
            [inst.a, inst.b] = [inst.b, inst.a];
            inst.cmp = swapCmp(inst.cmp);
          }
          if (inst.a.kind === "imm") inst.a = materialise(inst.a, inst.loc);
          if (inst.width === 64 && big(inst.b)) inst.b = materialise(inst.b, inst.loc);
          break;
        case "slot_store":
        case "store":
          if (inst.size === 8 && big(inst.value)) inst.value = materialise(inst.value, inst.loc);
          break;
        case "atomic_add":
          inst.value = materialise(inst.value, inst.loc);
          break;
        default:
          break;
      }
      out.push(inst);
    }
    const t = b.term;
    if (t.op === "cbr") {
      if (t.a.kind === "imm") {
        // Both immediates was folded earlier; a lone left immediate goes right.
        [t.a, t.b] = [t.b, t.a];
        t.cmp = swapCmp(t.cmp);
      }
      if (t.a.kind === "imm") t.a = materialise(t.a, t.loc);
      if (t.width === 64 && big(t.b)) t.b = materialise(t.b, t.loc);
    }
    b.insts = out;
  }
}
