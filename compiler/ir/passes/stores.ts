/**
 * Redundant stack-store elimination. A forward data flow tracks, for every (slot, offset, size) that was stored,
 * a key naming the value it holds; a store of a value the bytes already hold is removed. This is what lets a second
 * map lookup reuse the key built for the first one and change only the field that differs.
 *
 * Keys:
 * - an immediate: `#<value truncated to the store size>`;
 * - a vreg with a single definition by a pure computation on the read-only context (ctx loads other than `sk`, which
 *   changes after `assign`), immediates and other such vregs: the expression itself, e.g. `bswap16(ctx40.4)`; such a
 *   value is the same wherever it is computed, so a recomputation in another block matches;
 * - any other vreg: `v<id>`, valid until that vreg is assigned again (entries naming it are then dropped).
 *
 * Stores through pointers that may point into the stack, and helper calls that may write memory they are given,
 * forget everything.
 */
import type { Block, Function, Inst, VReg, Value } from "../ir.ts";
import { instDef, predecessors } from "./util.ts";

/** Helpers that never write to memory passed to them (lookup/update/delete, time, random, trace, release, assign). */
const READ_ONLY_HELPERS: ReadonlySet<number> = new Set([1, 2, 3, 5, 6, 7, 8, 25, 86, 124, 125, 130]);

interface Entry {
  slot: number;
  offset: number;
  size: number;
  key: string;
}

type State = Entry[];

/** Removes stack stores that write what the bytes already hold; returns true when something was removed. */
export function eliminateRedundantStores(fn: Function): boolean {
  const keys = pureKeys(fn);
  const keyOf = (v: Value, size: number): string | undefined => {
    if (v.kind === "imm") return `#${BigInt.asUintN(size * 8, v.value)}`;
    return keys.get(v.id) ?? `v${v.id}`;
  };
  const preds = predecessors(fn.blocks);
  const inState: Array<State | undefined> = fn.blocks.map(() => undefined);
  inState[0] = [];
  // Iterate to a fixed point (states only shrink once a block has been seen).
  let changed = true;
  const outState: Array<State | undefined> = fn.blocks.map(() => undefined);
  let round = 0;
  for (; changed && round < 200; round++) {
    changed = false;
    for (const b of fn.blocks) {
      const ins = b.id === 0 ? [] : meet(preds[b.id]!.map((p) => outState[p]));
      if (ins === undefined) continue;
      inState[b.id] = ins;
      const out = transfer(b, ins, keyOf, fn, undefined);
      if (!sameState(out, outState[b.id])) {
        outState[b.id] = out;
        changed = true;
      }
    }
  }
  if (changed) return false; // no fixed point (never expected): removing nothing is always safe
  let removed = false;
  for (const b of fn.blocks) {
    const ins = inState[b.id];
    if (!ins) continue;
    const drop = new Set<Inst>();
    transfer(b, ins, keyOf, fn, drop);
    if (drop.size) {
      b.insts = b.insts.filter((i) => !drop.has(i));
      removed = true;
    }
  }
  return removed;
}

/** Entries every predecessor agrees on; undefined while no predecessor has been visited. */
function meet(states: Array<State | undefined>): State | undefined {
  const seen = states.filter((s): s is State => s !== undefined);
  if (seen.length === 0) return undefined;
  return seen[0]!.filter((e) => seen.every((s) => s.some((f) => sameEntry(e, f))));
}

const sameEntry = (a: Entry, b: Entry): boolean => a.slot === b.slot && a.offset === b.offset && a.size === b.size && a.key === b.key;

function sameState(a: State, b: State | undefined): boolean {
  return b !== undefined && a.length === b.length && a.every((e) => b.some((f) => sameEntry(e, f)));
}

/** Applies a block to a state; records redundant stores in `drop` when given. */
function transfer(b: Block, state: State, keyOf: (v: Value, size: number) => string | undefined, fn: Function, drop?: Set<Inst>): State {
  let s = [...state];
  for (const inst of b.insts) {
    switch (inst.op) {
      case "slot_store": {
        const key = keyOf(inst.value, inst.size);
        if (key && s.some((e) => e.slot === inst.slot && e.offset === inst.offset && e.size === inst.size && e.key === key)) {
          drop?.add(inst);
          break;
        }
        s = s.filter((e) => e.slot !== inst.slot || e.offset + e.size <= inst.offset || inst.offset + inst.size <= e.offset);
        if (key) s.push({ slot: inst.slot, offset: inst.offset, size: inst.size, key });
        break;
      }
      case "store":
      case "atomic_add": {
        const kind = fn.ptrKinds?.get(inst.ptr);
        if (kind !== "map_value" && kind !== "map_value_or_null" && kind !== "sock" && kind !== "sock_or_null") s = [];
        break;
      }
      case "call":
        if (!READ_ONLY_HELPERS.has(inst.helper)) s = [];
        break;
      case "call_local":
        s = [];
        break;
      default:
        break;
    }
    const d = instDef(inst);
    if (d !== undefined) {
      // Only opaque keys name a vreg (pure keys are built from the context and immediates alone).
      const name = `v${d}`;
      if (s.some((e) => e.key === name)) s = s.filter((e) => e.key !== name);
    }
  }
  return s;
}

/** Keys of single-definition vregs computed purely from the context and immediates (see module comment); equal keys mean equal values anywhere in the program. */
export function pureKeys(fn: Function): Map<VReg, string> {
  const defs = new Map<VReg, Inst[]>();
  for (const b of fn.blocks) {
    for (const inst of b.insts) {
      const d = instDef(inst);
      if (d !== undefined) defs.set(d, [...(defs.get(d) ?? []), inst]);
    }
  }
  const keys = new Map<VReg, string | null>();
  const keyOf = (v: VReg, depth: number): string | null => {
    if (keys.has(v)) return keys.get(v)!;
    if (depth > 16 || fn.params.includes(v)) return null;
    const ds = defs.get(v);
    if (!ds || ds.length !== 1) return null;
    keys.set(v, null); // cycle guard
    const inst = ds[0]!;
    const op = (x: Value): string | null => (x.kind === "imm" ? `#${BigInt.asUintN(64, x.value)}` : keyOf(x.id, depth + 1));
    let k: string | null = null;
    switch (inst.op) {
      case "ctx_load":
        k = inst.offset === 0 ? null : `ctx${inst.offset}.${inst.size}`;
        break;
      case "mov":
        k = op(inst.src);
        break;
      case "bswap":
      case "neg":
      case "ext": {
        const a = op(inst.src);
        const tag = inst.op === "bswap" ? `bswap${inst.bits}` : inst.op === "neg" ? `neg${inst.width}` : `${inst.signed ? "s" : "z"}ext${inst.bits}`;
        k = a === null ? null : `${tag}(${a})`;
        break;
      }
      case "bin":
      case "setcc": {
        const a = op(inst.a);
        const b = op(inst.b);
        const tag = inst.op === "bin" ? `${inst.kind}${inst.width}` : `${inst.cmp}${inst.width}`;
        k = a === null || b === null ? null : `${tag}(${a},${b})`;
        break;
      }
      default:
        k = null;
    }
    keys.set(v, k);
    return k;
  };
  const out = new Map<VReg, string>();
  for (const v of defs.keys()) {
    const k = keyOf(v, 0);
    if (k !== null) out.set(v, k);
  }
  return out;
}
