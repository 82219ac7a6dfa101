/**
 * Abstract machine state: register types (one file per domain: scalars live in scalar.ts), stack bytes and spilled
 * registers per call frame, acquired socket references. Registers are immutable values so that copying a state for a
 * branch is cheap; stacks are copied with the frame.
 */
import { type Scalar, sconst, sequal, sformat, sincludes, sunknown } from "./scalar.ts";

/** Register types, named as the kernel prints them. */
export type RegKind =
  | "not_init"
  | "scalar"
  | "ctx"
  | "fp"
  | "map_ptr"
  | "map_value"
  | "map_value_or_null"
  | "sock"
  | "sock_or_null";

/** One register's abstract value. */
export interface Reg {
  readonly kind: RegKind;
  /** The value of a scalar, or the variable part of a pointer's offset. */
  readonly s: Scalar;
  /** Fixed offset of a pointer. */
  readonly off: number;
  /** Scalars: link id shared by copies (a refinement of one refines all). Nullable pointers: null-check id. */
  readonly id: number;
  /** Reference id of an acquired socket (0 = not referenced). */
  readonly ref: number;
  /** map_ptr/map_value*: index into the program's maps. */
  readonly map: number;
  /** fp: the frame whose stack it points into. */
  readonly frame: number;
  /**
   * Scalars: some safety decision depends on this exact value (the kernel's `precise` mark, set by backtracking in
   * precision.ts). State pruning compares only precise scalars; an imprecise one matches any scalar.
   */
  readonly precise: boolean;
}

const ZERO_SCALAR = sconst(0n);

/** A register that was never written. */
export const NOT_INIT: Reg = { kind: "not_init", s: ZERO_SCALAR, off: 0, id: 0, ref: 0, map: -1, frame: 0, precise: false };
/** A fully unknown number. */
export const UNKNOWN: Reg = { kind: "scalar", s: sunknown(), off: 0, id: 0, ref: 0, map: -1, frame: 0, precise: false };

/** A scalar register with value `s`. */
export const scalarReg = (s: Scalar, id = 0, precise = false): Reg => ({ kind: "scalar", s, off: 0, id, ref: 0, map: -1, frame: 0, precise });
/** A pointer register. */
export const ptrReg = (kind: RegKind, fields: Partial<Reg> = {}): Reg => ({
  kind,
  s: ZERO_SCALAR,
  off: 0,
  id: 0,
  ref: 0,
  map: -1,
  frame: 0,
  precise: false,
  ...fields,
});

/** A register from all its fields, in field order (copies made this way are faster than object spreads). */
export const makeReg = (kind: RegKind, s: Scalar, off: number, id: number, ref: number, map: number, frame: number, precise: boolean): Reg =>
  ({ kind, s, off, id, ref, map, frame, precise });
/** `r` with link or null-check id `id`. */
export const withId = (r: Reg, id: number): Reg => makeReg(r.kind, r.s, r.off, id, r.ref, r.map, r.frame, r.precise);

/** `r` with its precision mark set to `precise` (a literal in field order: faster than a spread on hot paths). */
export const withPrecise = (r: Reg, precise: boolean): Reg => ({ kind: r.kind, s: r.s, off: r.off, id: r.id, ref: r.ref, map: r.map, frame: r.frame, precise });
/** `r` with value `s`. */
export const withScalar = (r: Reg, s: Scalar): Reg => ({ kind: r.kind, s, off: r.off, id: r.id, ref: r.ref, map: r.map, frame: r.frame, precise: r.precise });

/** True for every pointer kind. */
export const isPointer = (r: Reg): boolean => r.kind !== "scalar" && r.kind !== "not_init";
/** True for pointers that may be NULL. */
export const isOrNull = (r: Reg): boolean => r.kind === "map_value_or_null" || r.kind === "sock_or_null";

/** Kinds of stack bytes. */
export const enum Byte {
  /** Never written (readable in privileged mode, as an unknown value). */
  INVALID = 0,
  /** Written with some number. */
  MISC = 1,
  /** Written with a known zero. */
  ZERO = 2,
  /** Part of a spilled register (see `spills`). */
  SPILL = 3,
}

/** Bytes of stack per frame. */
export const STACK_SIZE = 512;

/** One call frame. */
export interface Frame {
  regs: Reg[];
  /** Kind of each stack byte; index 512 + off for the byte at fp + off. */
  bytes: Uint8Array;
  /** Spilled register per 8-byte slot; slot i covers fp-8(i+1) .. fp-8i-1. */
  spills: (Reg | undefined)[];
  /** Slot of the call instruction that created this frame (-1 for the main program). */
  callsite: number;
  /** First instruction of this frame's function. */
  entry: number;
  /** Deepest stack byte touched (positive number of bytes). */
  depth: number;
  /** True while `bytes`/`spills` may be shared with another state's frame (copy on write: see ownStack). */
  cow: boolean;
}

/** Makes a frame's stack arrays private before they are modified. */
export function ownStack(f: Frame): void {
  if (!f.cow) return;
  f.bytes = f.bytes.slice();
  f.spills = f.spills.slice();
  f.cow = false;
}

/** An acquired reference. */
export interface RefEntry {
  id: number;
  insn: number;
}

/** A point in the exploration: the path's last checkpoint, used for pruning and loop detection. */
export interface Checkpoint {
  state: VState;
  pc: number;
  /** Live states (current or queued) descending from this checkpoint; 0 = fully explored. */
  branches: number;
  parent: Checkpoint | null;
  /** Instructions from the parent checkpoint to this one (history entries, see precision.ts). */
  hist: number[];
  /** Paths that matched this state (pruned by it), and paths that did not while a new checkpoint was due. */
  hits: number;
  misses: number;
}

/** The abstract state at one program point. */
export interface VState {
  frames: Frame[];
  refs: RefEntry[];
  parent: Checkpoint | null;
  /** Instructions processed since the parent checkpoint, two numbers each (see precision.ts). */
  hist: number[];
  /**
   * -1 when `hist` is this path's own array; else the length of the prefix of a shared array that belongs to this
   * path (a fork shares its parent path's history until it records an instruction of its own: see histEnd).
   */
  histLen: number;
  /**
   * Entries the kernel's jump history would hold for this path since its checkpoint (jump targets reached, spills and
   * fills, linked-register jumps): past 40 the kernel forces a new checkpoint, and so do we.
   */
  jmps: number;
}

/** A new frame with every register unset. */
export function newFrame(callsite: number, entry: number): Frame {
  return { regs: Array(11).fill(NOT_INIT), bytes: new Uint8Array(STACK_SIZE), spills: Array(64).fill(undefined), callsite, entry, depth: 0, cow: false };
}

/** A deep enough copy for independent exploration (registers are immutable). */
export function cloneState(s: VState): VState {
  return {
    frames: s.frames.map((f) => {
      // Stacks are shared until one side writes (ownStack); registers are small enough to copy.
      f.cow = true;
      return { regs: f.regs.slice(), bytes: f.bytes, spills: f.spills, callsite: f.callsite, entry: f.entry, depth: f.depth, cow: true };
    }),
    refs: s.refs.slice(),
    parent: s.parent,
    hist: s.hist,
    histLen: histEnd(s),
    jmps: s.jmps,
  };
}

/**
 * A scalar link id that only one register still carries links nothing: clear it, so that a checkpoint does not
 * demand a matching link from the states it is compared with (the kernel's clear_singular_ids).
 */
export function clearSingularIds(st: VState): void {
  let seen: Map<number, number> | undefined;
  for (const f of st.frames) {
    for (const r of f.regs) if (r.kind === "scalar" && r.id) (seen ??= new Map()).set(r.id, (seen.get(r.id) ?? 0) + 1);
  }
  if (!seen) return;
  for (const f of st.frames) {
    for (let i = 0; i < f.regs.length; i++) {
      const r = f.regs[i]!;
      if (r.kind === "scalar" && r.id && seen.get(r.id) === 1) f.regs[i] = withId(r, 0);
    }
  }
}

/** The length of `st`'s part of its history array. */
export const histEnd = (st: VState): number => (st.histLen < 0 ? st.hist.length : st.histLen);

/** Makes `st`'s history its own array before it records an instruction (copy on write). */
export function ownHist(st: VState): void {
  if (st.histLen < 0) return;
  st.hist = st.hist.slice(0, st.histLen);
  st.histLen = -1;
}

/** The register as the kernel's log shows it, e.g. `map_value(map=counts,ks=4,vs=8,off=4)` or `fp-8`. */
export function formatReg(r: Reg, mapName: (i: number) => string = (i) => `#${i}`): string {
  const extra = (parts: string[]): string => parts.filter(Boolean).join(",");
  const offText = (): string[] => {
    const out: string[] = [];
    if (r.off) out.push(`off=${r.off}`);
    if (r.s.umax !== 0n || r.s.smin !== 0n) out.push(`var=${sformat(r.s)}`);
    return out;
  };
  switch (r.kind) {
    case "not_init":
      return "not_init";
    case "scalar":
    {
      // Constants print bare (`5`), ranges as `scalar(...)`; a link id goes inside the parentheses.
      const text = sformat(r.s);
      if (!r.id) return text;
      if (text === "scalar()") return `scalar(id=${r.id})`;
      return text.endsWith(")") ? `${text.slice(0, -1)},id=${r.id})` : `scalar(${text},id=${r.id})`;
    }
    case "fp":
      return r.s.umax === 0n && r.s.smin === 0n ? `fp${r.off}` : `fp(${extra([`off=${r.off}`, `var=${sformat(r.s)}`])})`;
    case "ctx":
      return `ctx(${extra(offText())})`;
    case "map_ptr":
      return `map_ptr(map=${mapName(r.map)})`;
    case "map_value":
    case "map_value_or_null":
      return `${r.kind}(${extra([`map=${mapName(r.map)}`, ...offText(), r.id ? `id=${r.id}` : "", r.ref ? `ref_obj_id=${r.ref}` : ""])})`;
    case "sock":
    case "sock_or_null":
      return `${r.kind}(${extra([r.id ? `id=${r.id}` : "", r.ref ? `ref_obj_id=${r.ref}` : ""])})`;
  }
}

/** One character per stack byte kind, as in the kernel's log. */
const BYTE_CHAR = ["?", "m", "0", "r"];

/** The whole state in one line: registers that are set, then stack slots that were written, then references. */
export function formatState(st: VState, mapName?: (i: number) => string): string {
  const parts: string[] = [];
  st.frames.forEach((f, fi) => {
    if (st.frames.length > 1) parts.push(`frame${fi}:`);
    f.regs.forEach((r, i) => {
      if (r.kind !== "not_init") parts.push(`R${i}=${formatReg(r, mapName)}`);
    });
    for (let slot = 0; slot < 64; slot++) {
      const base = STACK_SIZE - 8 * (slot + 1);
      const kinds = f.bytes.subarray(base, base + 8);
      if (kinds.every((k) => k === Byte.INVALID)) continue;
      const sp = f.spills[slot];
      if (sp && kinds.every((k) => k === Byte.SPILL)) parts.push(`fp-${8 * (slot + 1)}=${formatReg(sp, mapName)}`);
      else parts.push(`fp-${8 * (slot + 1)}=${Array.from(kinds, (k) => BYTE_CHAR[k]).join("")}${sp ? `(${formatReg(sp, mapName)})` : ""}`);
    }
  });
  if (st.refs.length) parts.push(`refs=${st.refs.map((r) => r.id).join(",")}`);
  return parts.join(" ");
}

/** True when the 8 bytes from `base` hold one spilled register. */
function fullSpill(bytes: Uint8Array, base: number): boolean {
  for (let i = base; i < base + 8; i++) if (bytes[i] !== Byte.SPILL) return false;
  return true;
}

/** True when the 8 bytes from `base` are written data or never written (no spill, no known zero). */
function plainData(bytes: Uint8Array, base: number): boolean {
  for (let i = base; i < base + 8; i++) if (bytes[i] !== Byte.MISC && bytes[i] !== Byte.INVALID) return false;
  return true;
}

/** Maps ids of one state onto ids of another consistently (the kernel's check_ids). */
class IdMap {
  private fwd?: Map<number, number>;
  private back?: Map<number, number>;
  /** Forgets every pairing (one map is reused by every comparison: most compare no ids and allocate nothing). */
  reset(): this {
    // Map.clear allocates a fresh table even when empty: drop the maps only when a comparison filled them.
    if (this.fwd?.size) this.fwd = this.back = undefined;
    return this;
  }
  check(a: number, b: number): boolean {
    if (a === 0) return true;
    if (b === 0) return false;
    this.fwd ??= new Map();
    this.back ??= new Map();
    const f = this.fwd.get(a);
    const r = this.back.get(b);
    if (f === undefined && r === undefined) {
      this.fwd.set(a, b);
      this.back.set(b, a);
      return true;
    }
    return f === b && r === a;
  }
}

const IDS = new IdMap();

/** False while a comparison treats every scalar as precise (VerifyOptions.precision = false). */
let usePrecision = true;

function regCovers(old: Reg, cur: Reg, ids: IdMap, exact: boolean): boolean {
  // An imprecise scalar: no decision on any path explored from `old` depended on its value, so any scalar will do
  // (the kernel's regsafe; its ids are not compared either).
  if (!exact && old.kind === "scalar" && !old.precise && usePrecision) return cur.kind === "scalar";
  // Registers are immutable and shared between cloned states: the same object covers itself, up to its ids.
  if (old === cur) return (old.id === 0 || ids.check(old.id, cur.id)) && (old.ref === 0 || ids.check(-old.ref, -cur.ref));
  if (exact) {
    if (old.kind !== cur.kind) return false;
    if (old.kind === "not_init") return true;
  } else {
    // A state whose exploration finished never read this register before writing it.
    if (old.kind === "not_init") return true;
    if (old.kind !== cur.kind) return false;
  }
  if (old.off !== cur.off || old.map !== cur.map || old.frame !== cur.frame) return false;
  if (!(exact ? sequal(old.s, cur.s) : sincludes(old.s, cur.s))) return false;
  if (!ids.check(old.id, cur.id) || !ids.check(old.ref === 0 ? 0 : -old.ref, cur.ref === 0 ? 0 : -cur.ref)) return false;
  return true;
}

/**
 * True when every behaviour possible from `cur` is possible from `old` (so a fully explored `old` proves `cur` safe),
 * or, with `exact`, when the two states are the same up to renaming of ids (loop detection).
 */
export function stateCovers(
  old: VState,
  cur: VState,
  exact: boolean,
  live = 0x7ff,
  precision = true,
  slotLive?: (slot: number) => boolean,
): boolean {
  if (old.frames.length !== cur.frames.length || old.refs.length !== cur.refs.length) return false;
  usePrecision = precision;
  const ids = IDS.reset();
  for (let fi = 0; fi < old.frames.length; fi++) {
    const a = old.frames[fi]!;
    const b = cur.frames[fi]!;
    if (a.callsite !== b.callsite) return false;
    // Registers of the innermost frame that are never read again do not matter (not for exact comparisons).
    const mask = !exact && fi === old.frames.length - 1 ? live : 0x7ff;
    // Necessary condition first (a known old scalar needs the same known value): loop counters differ between
    // most compared states, and this check is far cheaper than the range comparisons of earlier registers.
    for (let r = 0; r < 11; r++) {
      const ra = a.regs[r]!;
      if (!(mask & (1 << r)) || ra.kind !== "scalar" || ra.s.t.mask !== 0n || (!exact && !ra.precise && precision)) continue;
      const rb = b.regs[r]!;
      if (rb.kind !== "scalar" || rb.s.t.mask !== 0n || rb.s.t.value !== ra.s.t.value) return false;
    }
    for (let r = 0; r < 11; r++) if (mask & (1 << r) && !regCovers(a.regs[r]!, b.regs[r]!, ids, exact)) return false;
    // Stack bytes below the deepest byte either frame touched were never written (INVALID, no spill) in both; bytes
    // still shared by copy on write are equal (their spills are still compared, for the id mapping).
    const slots = Math.min(64, (Math.max(a.depth, b.depth) + 7) >> 3);
    const sameBytes = a.bytes === b.bytes;
    for (let slot = 0; slot < slots; slot++) {
      const base = STACK_SIZE - 8 * (slot + 1);
      // A slot no later instruction reads does not matter (main program frame only: see stack-liveness.ts).
      if (!exact && slotLive && old.frames.length === 1 && !slotLive(slot)) continue;
      const sa = a.spills[slot];
      const sb = b.spills[slot];
      // An imprecise 64-bit scalar spill is matched by any 64-bit scalar spill or by a slot of plain data (the
      // kernel's scalar_reg_for_stack: such a slot reads as an unknown scalar).
      if (!exact && precision && sa && sa.kind === "scalar" && !sa.precise && fullSpill(a.bytes, base)) {
        if (fullSpill(b.bytes, base) ? sb?.kind === "scalar" : plainData(b.bytes, base)) continue;
      }
      if (!sameBytes) for (let i = base; i < base + 8; i++) {
        const ka = a.bytes[i]!;
        const kb = b.bytes[i]!;
        if (ka === kb) continue;
        if (exact) return false;
        if ((ka === Byte.INVALID || ka === Byte.MISC) && (kb !== Byte.SPILL || sb?.kind === "scalar")) continue;
        return false;
      }
      const spillA = a.bytes[base + 7] === Byte.SPILL || a.bytes[base] === Byte.SPILL ? sa : undefined;
      const spillB = b.bytes[base + 7] === Byte.SPILL || b.bytes[base] === Byte.SPILL ? sb : undefined;
      if (spillA && !(spillB && regCovers(spillA, spillB, ids, exact))) return false;
    }
  }
  for (let i = 0; i < old.refs.length; i++) if (!ids.check(-old.refs[i]!.id, -cur.refs[i]!.id)) return false;
  return true;
}
