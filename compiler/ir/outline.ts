/**
 * Which local functions become BPF subprograms (BPF-to-BPF calls, like clang's `static __noinline`) instead of being
 * inlined into every caller.
 *
 * Inlining is the default: it lets simplify fold constants across the call and costs nothing for small helpers. A
 * function is outlined only where inlining multiplies code and a call is certain to be accepted by the kernel:
 *   - it is large: at least {@link OUTLINE_MIN_IR_SIZE} IR instructions (terminators included) once the local
 *     functions it calls are inlined into it — about the size where one call sequence plus one copy of the body is
 *     clearly shorter than two copies;
 *   - it is called from at least two places in the module, or from inside a loop (a block on a CFG cycle);
 *   - it takes at most 5 parameters (r1..r5) and every parameter and its result are plain integers or booleans: no
 *     pointer (struct parameters and struct results travel as stack pointers, which the callee could not keep in its
 *     own frame, so those functions stay inlined), no context, no socket reference, no `!` assertion that ends the
 *     whole program. Maps and global variables are fine: the callee reaches them with its own lddw.
 */
import { Helper } from "../asm/helpers.ts";
import { inlineFunction } from "./inline.ts";
import type { Function, Inst, Module, VReg } from "./ir.ts";
import { instDef, successors } from "./passes/util.ts";

/** Minimum IR size (instructions + block terminators, callees inlined) of a function worth a BPF-to-BPF call. */
export const OUTLINE_MIN_IR_SIZE = 32;

/** How a function is compiled: "auto" follows the rules above, the others force inlining / a subprogram. */
export type OutlineMode = "auto" | "never";

/** The local functions of `module` to emit as subprograms (see the module comment). */
export function chooseOutlined(module: Module, mode: OutlineMode = "auto"): Set<string> {
  const out = new Set<string>();
  if (mode === "never") return out;
  const byName = new Map(module.functions.map((f) => [f.name, f]));
  const sites = new Map<string, number>();
  const inLoop = new Set<string>();
  const pointerArgs = new Set<string>();
  for (const f of module.functions) {
    const cyclic = blocksOnCycles(f);
    const ptrs = pointerVregs(f, f.isProgram ? f.params : []);
    for (const b of f.blocks) {
      for (const i of b.insts) {
        if (i.op !== "call_local") continue;
        sites.set(i.callee, (sites.get(i.callee) ?? 0) + 1);
        if (cyclic.has(b.id)) inLoop.add(i.callee);
        if (i.args.some((a) => a.kind === "vreg" && ptrs.has(a.id))) pointerArgs.add(i.callee);
      }
    }
  }
  for (const f of module.functions) {
    if (f.isProgram || pointerArgs.has(f.name) || f.params.length > 5) continue;
    if ((sites.get(f.name) ?? 0) < 2 && !inLoop.has(f.name)) continue;
    let body: Function;
    try {
      body = inlineFunction(f, byName);
    } catch {
      continue; // the backend reports the inlining error for the caller
    }
    if (irSize(body) < OUTLINE_MIN_IR_SIZE || !integerOnly(body)) continue;
    out.add(f.name);
  }
  return out;
}

/** Instructions plus terminators. */
export function irSize(fn: Function): number {
  return fn.blocks.reduce((n, b) => n + b.insts.length + 1, 0);
}

/** Helpers whose use makes a function stay inlined: the socket-reference ones (the caller owns the references). */
const SOCKET_HELPERS = new Set<number>([Helper.sk_assign, Helper.sk_release]);

/** True when `fn` (callees inlined) takes and returns integers only and touches no context or socket reference. */
function integerOnly(fn: Function): boolean {
  const ptrs = pointerVregs(fn, []);
  const fromParams = derivedFrom(fn, new Set(fn.params));
  const paramPtr = (v: VReg) => fromParams.has(v);
  for (const b of fn.blocks) {
    if (b.term.op === "ret" && (b.term.abort || (b.term.value.kind === "vreg" && ptrs.has(b.term.value.id)))) return false;
    for (const i of b.insts) {
      if (i.op === "ctx_load") return false;
      if (i.op === "call") {
        if (SOCKET_HELPERS.has(i.helper) || i.resultKind === "sock" || i.resultKind === "sock_or_null") return false;
        if (i.args.some((a) => a.kind === "vreg" && paramPtr(a.id))) return false;
      }
      if ((i.op === "load" || i.op === "store" || i.op === "atomic_add") && paramPtr(i.ptr)) return false;
    }
  }
  for (const p of fn.params) if (fn.ptrKinds?.has(p)) return false;
  return true;
}

/** Vregs that may hold a pointer: known pointer kinds, `roots`, addresses, map references, pointer results, copies. */
function pointerVregs(fn: Function, roots: readonly VReg[]): Set<VReg> {
  const seeds = new Set<VReg>([...roots, ...(fn.ptrKinds?.keys() ?? [])]);
  for (const b of fn.blocks) {
    for (const i of b.insts) {
      if (i.op === "slot_addr" || i.op === "map_ref" || (i.op === "call" && i.resultKind && i.dst !== undefined)) seeds.add(instDef(i)!);
    }
  }
  return derivedFrom(fn, seeds);
}

/** `seeds` plus every vreg computed from one of them by a move or arithmetic (to a fixed point). */
function derivedFrom(fn: Function, seeds: Set<VReg>): Set<VReg> {
  const out = new Set(seeds);
  const flows = (i: Inst): boolean => {
    switch (i.op) {
      case "mov":
      case "ext":
      case "neg":
        return i.src.kind === "vreg" && out.has(i.src.id);
      case "bin":
        return [i.a, i.b].some((v) => v.kind === "vreg" && out.has(v.id));
      default:
        return false;
    }
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (const b of fn.blocks) {
      for (const i of b.insts) {
        const d = instDef(i);
        if (d !== undefined && !out.has(d) && flows(i)) {
          out.add(d);
          changed = true;
        }
      }
    }
  }
  return out;
}

/** Blocks that lie on a cycle of the CFG (a loop the frontend did not unroll). */
function blocksOnCycles(fn: Function): Set<number> {
  const out = new Set<number>();
  for (const b of fn.blocks) {
    const seen = new Set<number>();
    const stack = successors(b.term);
    while (stack.length) {
      const id = stack.pop()!;
      if (id === b.id) {
        out.add(b.id);
        break;
      }
      if (seen.has(id)) continue;
      seen.add(id);
      stack.push(...successors(fn.blocks[id]!.term));
    }
  }
  return out;
}
