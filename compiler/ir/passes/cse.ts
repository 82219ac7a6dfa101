/**
 * Common-subexpression elimination for values computed purely from the read-only context (see `pureKeys` in
 * stores.ts), within extended basic blocks (a block and the single-predecessor blocks after it): a second computation of the same key becomes a copy of the first (then copy
 * propagation and dead-code elimination remove it). Unrolled loops that re-read `ctx.remotePort` and swap it on every
 * iteration read and swap it once.
 *
 * The search stops at helper calls: keeping the first value alive across a call would tie up a callee-saved
 * register, which costs more than reloading one context field. `ctx.sk` is the exception (see SK_KEY).
 *
 * Also: 32-bit identity operations (`x + 0`, `x | 0`, `x >> 0` …) on a value whose upper half is already zero, and
 * zero extensions of values already that narrow, become plain copies.
 */
import type { Function, Inst, VReg } from "../ir.ts";
import { Helper } from "../../asm/helpers.ts";
import { pureKeys } from "./stores.ts";

/**
 * `ctx.sk` (the 8-byte load at offset 0) is not a pure context value — bpf_sk_assign changes it — so `pureKeys` leaves
 * it out; CSE reuses it until the next sk_assign. This is what makes TypeScript's narrowing hold in BPF: in
 * `ctx.sk !== null && ctx.sk.protocol === 6` the kernel verifier sees the null test and the field read on one register.
 */
const SK_KEY = "ctx0.8";
import { instDef, predecessors, successors } from "./util.ts";

/** Runs CSE and the zero-extension identities; returns true when something changed. */
export function eliminateCommonSubexpressions(fn: Function): boolean {
  const keys = pureKeys(fn);
  const bits = knownBits(fn);
  let changed = false;
  // Extended basic blocks: a block with a single predecessor starts with what was available at the end of it.
  const preds = predecessors(fn.blocks);
  const availOut = new Map<number, Map<string, VReg>>();
  for (const id of reversePostorder(fn)) {
    const b = fn.blocks[id]!;
    const only = preds[id]!.length === 1 && preds[id]![0] !== id ? availOut.get(preds[id]![0]!) : undefined;
    const avail = new Map<string, VReg>(only ?? []);
    availOut.set(id, avail);
    b.insts = b.insts.map((inst): Inst => {
      if (inst.op === "call" || inst.op === "call_local") {
        // ctx.sk changes only through bpf_sk_assign (or a local function that may call it); it stays available
        // across other helper calls, so a null test on it also covers a later `ctx.sk.field` (see SK_KEY).
        const sk = inst.op === "call" && inst.helper !== Helper.sk_assign ? avail.get(SK_KEY) : undefined;
        avail.clear();
        if (sk !== undefined) avail.set(SK_KEY, sk);
      }
      const d = instDef(inst);
      if (d === undefined) return inst;
      // A redefinition invalidates what the old value stood for.
      for (const [k, u] of avail) if (u === d) avail.delete(k);
      if (inst.op === "bin" && inst.width === 32 && inst.b.kind === "imm" && inst.b.value === 0n && inst.a.kind === "vreg" && (bits.get(inst.a.id) ?? 64) <= 32) {
        if (["add", "sub", "or", "xor", "shl", "lshr", "ashr"].includes(inst.kind)) {
          changed = true;
          return { op: "mov", dst: d, src: inst.a, loc: inst.loc };
        }
      }
      // Zero-extending a value that is already that narrow changes nothing.
      if (inst.op === "ext" && !inst.signed && inst.src.kind === "vreg" && (bits.get(inst.src.id) ?? 64) <= inst.bits) {
        changed = true;
        return { op: "mov", dst: d, src: inst.src, loc: inst.loc };
      }
      const key = keys.get(d) ?? (inst.op === "ctx_load" && inst.offset === 0 ? SK_KEY : undefined);
      if (key === undefined || inst.op === "mov") return inst;
      const u = avail.get(key);
      if (u !== undefined && u !== d) {
        changed = true;
        return { op: "mov", dst: d, src: { kind: "vreg", id: u }, loc: inst.loc };
      }
      avail.set(key, d);
      return inst;
    });
  }
  return changed;
}

/** Block ids in reverse postorder from the entry (a block's predecessors come first, back edges aside). */
function reversePostorder(fn: Function): number[] {
  const seen = new Set<number>();
  const post: number[] = [];
  const visit = (root: number) => {
    // Iterative DFS: programs from unrolled loops can be deep.
    const stack: Array<[number, number]> = [[root, 0]];
    seen.add(root);
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const succ = successors(fn.blocks[top[0]]!.term);
      if (top[1] < succ.length) {
        const s = succ[top[1]++]!;
        if (!seen.has(s)) {
          seen.add(s);
          stack.push([s, 0]);
        }
      } else {
        post.push(top[0]);
        stack.pop();
      }
    }
  };
  visit(0);
  return post.reverse();
}

/**
 * For single-definition vregs: how many low bits can be non-zero (the rest are known zero). Only what the defining
 * instruction itself guarantees: narrow loads, 32-bit operations, swaps, zero extensions, masks, booleans.
 */
function knownBits(fn: Function): Map<VReg, number> {
  const defs = new Map<VReg, Inst[]>();
  for (const b of fn.blocks) {
    for (const i of b.insts) {
      const d = instDef(i);
      if (d !== undefined) defs.set(d, [...(defs.get(d) ?? []), i]);
    }
  }
  const bitLength = (x: bigint): number => x.toString(2).length;
  const out = new Map<VReg, number>();
  for (const [v, ds] of defs) {
    if (ds.length !== 1) continue;
    const i = ds[0]!;
    let bits: number | undefined;
    if (i.op === "ctx_load" && i.size <= 4) bits = i.size * 8;
    else if ((i.op === "load" || i.op === "slot_load") && i.size <= 4 && !i.signed) bits = i.size * 8;
    else if (i.op === "bswap" && i.bits <= 32) bits = i.bits;
    else if (i.op === "ext" && !i.signed) bits = i.bits;
    else if (i.op === "setcc") bits = 1;
    else if (i.op === "mov" && i.src.kind === "imm") bits = bitLength(BigInt.asUintN(64, i.src.value));
    else if (i.op === "bin" && i.kind === "and" && i.b.kind === "imm") bits = Math.min(i.width, bitLength(BigInt.asUintN(i.width, i.b.value)));
    else if ((i.op === "bin" || i.op === "neg") && i.width === 32) bits = 32;
    if (bits !== undefined) out.set(v, bits);
  }
  return out;
}
