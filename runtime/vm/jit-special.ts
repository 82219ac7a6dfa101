/**
 * JIT code specialised on the facts of jit-facts.ts: accesses whose region and bounds are proven skip the region
 * table and the checks (ctx fields, this frame through copies of r10, map values and sockets from inline lookups),
 * map lookups on a known map with a stack key are inline (with a constant key on a pinned ARRAY: the value itself is
 * a constant), so are updates of an ARRAY and updates and deletes of a hash map with a stack key and value, NULL tests and comparisons of constants that the facts decide disappear, and sk_assign / sk_release
 * on a proven socket call the helper's core without re-checking the argument. Anything the facts do not prove is
 * left to jit.ts's generic code, which makes the interpreter's checks and raises its faults.
 */
import { AluOp, Class, JmpOp, Mode, Pseudo, Source, Size, sizeBytes } from "../../compiler/asm/opcode.ts";
import { Helper } from "../../compiler/asm/helpers.ts";
import { CTX_SIZE, Errno, SOCK_SIZE } from "../../compiler/abi/sk-lookup.ts";
import { SkLookupFlag } from "../../compiler/asm/helpers.ts";
import { ArrayMap } from "../maps/array.ts";
import { HashMap } from "../maps/hash.ts";
import { badFlags } from "../maps/map.ts";
import { SockMap } from "../maps/sockmap.ts";
import { LpmTrieMap } from "../maps/lpm.ts";
import { CHUNK, CHUNK_BITS } from "../maps/lpm-trie.ts";
import { CTX_HI, CTX_LOADS, Machine, STACK_SIZE } from "./machine.ts";
import { lddwWords, type PreparedProgram } from "./program.ts";
import { OFF_BIAS, PTR_TAG, RegionKind, type RegionTable } from "./region.ts";
import { lazyWord } from "./jit-lazy.ts";
import { FK, carriesObject, decideJump, lookupPlan, step, words, type Fact, type State } from "./jit-facts.ts";

/** What the specialised emitter needs from jit.ts. */
export interface SpecialContext {
  p: PreparedProgram;
  table: RegionTable;
  /** A name (K<i>) for a constant the generated code refers to. */
  constRef: (v: unknown) => string;
  /** Source of a jump to slot `t`. */
  goto: (t: number) => string;
  /** Records a direct store at a frame byte offset (for the reset watermark). */
  noteStore: (o: number) => void;
  /** Records that the local s<o> (the object of a pointer spilled at frame offset o) is used. */
  noteSpill: (o: number) => void;
}

const SCRATCH = "a1=b1=a2=b2=a3=b3=a4=b4=a5=b5=0;";
/** A number literal for generated code (parenthesised when negative, so `x-(-1)` stays an expression). */
export const lit = (n: number): string => (n < 0 ? `(${n})` : String(n));

/** A byte offset in generated code: constant `o`, plus the local `base` when there is one (a slab value's offset). */
const at = (base: string | undefined, o: number): string => (base === undefined ? String(o) : o === 0 ? base : `${base}+${o}`);

/** A DataView read of `size` bytes at constant `o` (past `base`) of view `v` into registers A/B (`sx`: sign-extend). */
function read(v: string, o: number, size: number, A: string, B: string, sx: boolean, base?: string): string {
  const p = at(base, o);
  if (size === 8) return `${A}=${v}.getInt32(${p},true);${B}=${v}.getInt32(${at(base, o + 4)},true);`;
  if (size === 4) return sx ? `${A}=${v}.getInt32(${p},true);${B}=${A}>>31;` : `${A}=${v}.getInt32(${p},true);${B}=0;`;
  if (size === 2) return sx ? `${A}=${v}.getInt16(${p},true);${B}=${A}>>31;` : `${A}=${v}.getUint16(${p},true);${B}=0;`;
  return sx ? `${A}=${v}.getInt8(${p});${B}=${A}>>31;` : `${A}=${v}.getUint8(${p});${B}=0;`;
}

/** A DataView write of the low `size` bytes of lo/hi at constant `o` (past `base`) of view `v`. */
function write(v: string, o: number, size: number, lo: string, hi: string, base?: string): string {
  const p = at(base, o);
  if (size === 8) return `${v}.setInt32(${p},${lo},true);${v}.setInt32(${at(base, o + 4)},${hi},true);`;
  if (size === 4) return `${v}.setInt32(${p},${lo},true);`;
  if (size === 2) return `${v}.setUint16(${p},${lo},true);`;
  return `${v}.setUint8(${p},${lo});`;
}

/**
 * The view and byte offset a `size`-byte access at `base` + `off` proves in bounds of a region the program may
 * access (`write`: a writable one), or undefined. Frame accesses go to SV. A slab value's offset `o` is relative to
 * the local `at` (the value's start in its slab, see jit-facts.ts).
 */
function provenView(cx: SpecialContext, base: Fact, reg: number, off: number, size: number, isWrite: boolean): { v: string; o: number; frame: boolean; at?: string } | undefined {
  if (!base) return undefined;
  if (base.k === FK.Fp) {
    const o = STACK_SIZE + base.off + off;
    return o >= 0 && o + size <= STACK_SIZE ? { v: "SV", o, frame: true } : undefined;
  }
  if (base.k === FK.Val && base.nonNull) {
    const o = base.off + off;
    if (o < 0 || o + size > base.size) return undefined;
    if (base.slab) return { v: `g${reg}.view`, o, frame: false, at: `x${reg}` };
    return { v: base.region ? cx.constRef(base.region.view) : `g${reg}.view`, o, frame: false };
  }
  if (base.k === FK.Sock && base.nonNull && !isWrite) {
    const o = off;
    return o >= 0 && o + size <= SOCK_SIZE ? { v: `g${reg}.region.view`, o, frame: false } : undefined;
  }
  return undefined;
}

/** The specialised source of the (valid) instruction at `pc` given the facts before it, or undefined. */
export function emitSpecial(cx: SpecialContext, pc: number, st: State): string | undefined {
  const insn = cx.p.insns[pc]!;
  const op = insn.opcode;
  const cls = op & 7;
  const d = insn.dst;
  const s = insn.src;
  const regs = st.regs;
  switch (cls) {
    case Class.ALU:
    case Class.ALU64: {
      const f = regs[s];
      if (cls === Class.ALU64 && (op & 0xf0) === AluOp.MOV && (op & Source.X) !== 0 && insn.off === 0) {
        // Copies of an object-carrying pointer copy its object too (and a slab value its offset).
        if (!carriesObject(f)) return undefined;
        return `a${d}=a${s};b${d}=b${s};g${d}=g${s};` + (f?.k === FK.Val && f.slab ? `x${d}=x${s};` : "");
      }
      // A result the facts know (constant folding, a frame or ctx pointer moved by a constant) is written as words.
      const after = { regs: regs.slice(), stack: st.stack, init: st.init };
      step(cx.p, pc, after, cx.table);
      const r = after.regs[d];
      if (r?.k === FK.Const) {
        const w = words(r.v);
        return `a${d}=${lit(w.lo)};b${d}=${lit(w.hi)};`;
      }
      if (r?.k === FK.Fp) return `a${d}=${(Machine.FP_LO + r.off) | 0};b${d}=b10;`;
      if (r?.k === FK.Ctx) return `a${d}=${(OFF_BIAS + r.off) | 0};b${d}=${CTX_HI};`;
      return undefined;
    }
    case Class.LD: {
      // A pinned map value (global data): its words, and its Region in g<d> like every map value pointer.
      const v = cx.p.lddw.get(pc);
      if (v?.kind !== "ptr" || v.region.kind !== RegionKind.MapValue || !cx.table.pinned(v.region)) return undefined;
      const w = lddwWords(v, cx.table);
      return `a${d}=${lit(w.lo)};b${d}=${lit(w.hi)};g${d}=${cx.constRef(v.region)};`;
    }
    case Class.LDX: {
      const size = sizeBytes((op & 0x18) as Size);
      const sx = (op & 0xe0) === Mode.MEMSX;
      const base = regs[s];
      if (base?.k === FK.Ctx) return ctxLoad(base.off + insn.off, size, sx, d);
      const pv = provenView(cx, base, s, insn.off, size, false);
      if (!pv) return undefined;
      // Reloading a spilled object-carrying pointer reloads its object too.
      const slot = pv.frame && size === 8 && !sx ? st.stack.get(pv.o) : undefined;
      const obj = slot && slot.size === 8 && carriesObject(slot.f) ? `g${d}=s${pv.o};` + (slot.f.k === FK.Val && slot.f.slab ? `x${d}=t${pv.o};` : "") : "";
      if (obj) cx.noteSpill(pv.o);
      return read(pv.v, pv.o, size, `a${d}`, `b${d}`, sx, pv.at) + obj;
    }
    case Class.ST:
    case Class.STX: {
      const size = sizeBytes((op & 0x18) as Size);
      const mode = op & 0xe0;
      const pv = provenView(cx, regs[d], d, insn.off, size, true);
      if (!pv) return undefined;
      if (mode === Mode.ATOMIC) {
        // Atomic add / fetch-add of a word or double word (the DSL's `increment`) on a proven map value.
        if (pv.frame || (insn.imm !== 0x00 && insn.imm !== 0x01) || (size !== 4 && size !== 8)) return undefined;
        const fetch = insn.imm === 0x01;
        const v = pv.v;
        const o = at(pv.at, pv.o);
        const o4 = at(pv.at, pv.o + 4);
        return size === 8
          ? `{const ol=${v}.getInt32(${o},true),oh=${v}.getInt32(${o4},true),q=(ol>>>0)+(a${s}>>>0);${v}.setInt32(${o},q|0,true);${v}.setInt32(${o4},(oh+b${s}+(q>4294967295?1:0))|0,true);${fetch ? `a${s}=ol;b${s}=oh;` : ""}}`
          : `{const ol=${v}.getInt32(${o},true);${v}.setInt32(${o},(ol+a${s})|0,true);${fetch ? `a${s}=ol;b${s}=0;` : ""}}`;
      }
      if (mode !== Mode.MEM) return undefined;
      if (pv.frame) cx.noteStore(pv.o);
      if (cls === Class.ST) return write(pv.v, pv.o, size, lit(insn.imm | 0), (insn.imm | 0) < 0 ? "(-1)" : "0", pv.at);
      const f = regs[s];
      const spill = pv.frame && size === 8 && carriesObject(f) ? `s${pv.o}=g${s};` + (f?.k === FK.Val && f.slab ? `t${pv.o}=x${s};` : "") : "";
      if (spill) cx.noteSpill(pv.o);
      return write(pv.v, pv.o, size, `a${s}`, `b${s}`, pv.at) + spill;
    }
    case Class.JMP:
    case Class.JMP32: {
      const jop = op & 0xf0;
      if (jop === JmpOp.CALL) return cls === Class.JMP && s !== Pseudo.CALL ? helperCall(cx, pc, insn.imm, st) : undefined;
      if (jop === JmpOp.JA || jop === JmpOp.EXIT) return undefined;
      const decided = decideJump(cx.p, pc, st);
      if (decided === undefined) return undefined;
      return decided ? cx.goto(pc + 1 + insn.off) : "";
    }
  }
  return undefined;
}

/** A legal ctx load at a constant offset, inline (the `sk` pointer also sets g<d>); undefined for illegal ones. */
function ctxLoad(off: number, size: number, sx: boolean, d: number): string | undefined {
  if (off < 0 || off >= CTX_SIZE) return undefined;
  const kind = CTX_LOADS[off * 9 + size];
  const A = `a${d}`;
  const B = `b${d}`;
  if (kind === 2) {
    if (sx) return undefined;
    return `{const s=M.selected;g${d}=s;if(s===null){${A}=0;${B}=0;}else{${A}=${OFF_BIAS};${B}=${lazyWord("PH(s.region)")};}}`;
  }
  if (kind === 3) return sx ? `${A}=CV.getInt16(${off - 2},true);${B}=${A}>>31;` : `${A}=CV.getUint16(${off - 2},true);${B}=0;`;
  // Machine.ctxLoad reads plain fields as at most 4 bytes.
  if (kind !== 1 || size > 4) return undefined;
  return read("CV", off, size, A, B, sx);
}

/** Helper calls the facts specialise: inline map lookups, sk_assign and sk_release on proven sockets. */
function helperCall(cx: SpecialContext, pc: number, id: number, st: State): string | undefined {
  const regs = st.regs;
  if (id === Helper.map_lookup_elem) return lookup(cx, st);
  if (id === Helper.map_update_elem) return update(cx, st);
  if (id === Helper.map_delete_elem) return remove(cx, st);
  if (id === Helper.sk_assign) {
    const sk = regs[2];
    const flags = regs[3];
    if (flags?.k !== FK.Const) return undefined;
    const arg = sk?.k === FK.Sock && sk.nonNull ? "g2" : sk?.k === FK.Const && sk.v === 0n ? "null" : undefined;
    if (!arg) return undefined;
    return assign(arg, flags.v);
  }
  if (id === Helper.sk_release) {
    const sk = regs[1];
    if (sk?.k !== FK.Sock || !sk.nonNull) return undefined;
    return `a0=SR(M,g1,${pc});b0=M.h;${SCRATCH}`;
  }
  return undefined;
}

/**
 * bpf_sk_assign with constant flags and a proven socket (`g2`) or NULL, inline: the flag check decided here, the
 * socket's own checks in SC (helpers assignError), then the EEXIST rule and the selection, as assignSocket does.
 */
function assign(sk: "g2" | "null", flags: bigint): string {
  if (flags > 0xffffffffn || (Number(flags) & ~(SkLookupFlag.REPLACE | SkLookupFlag.NO_REUSEPORT)) !== 0) return `a0=${-Errno.EINVAL};b0=-1;${SCRATCH}`;
  const replace = (Number(flags) & SkLookupFlag.REPLACE) !== 0;
  const select = `M.selected=${sk};M.noReuseport=${(Number(flags) & SkLookupFlag.NO_REUSEPORT) !== 0};a0=0;b0=0;`;
  const exists = replace ? "" : `if(M.selected!==null){a0=${-Errno.EEXIST};b0=-1;}else `;
  const body = `${exists}{${select}}`;
  return (sk === "g2" ? `{const e=SC(M,g2);if(e!==0){a0=e;b0=-1;}else ${body}}` : body) + SCRATCH;
}

/**
 * map_lookup_elem on a known map with a key in this frame (or a map value): the helper's argument checks hold by
 * construction, so the lookup is the map's own, and the result's object goes to g0 (an LPM trie value: its slab, with
 * its offset in x0; a pinned constant value needs no lookup at all).
 */
function lookup(cx: SpecialContext, st: State): string | undefined {
  const plan = lookupPlan(st, cx.table);
  if (!plan) return undefined;
  if (plan.isNull) return `a0=0;b0=0;${SCRATCH}`;
  if (plan.region) return `a0=${OFF_BIAS};b0=${(PTR_TAG | plan.region.id) | 0};g0=${cx.constRef(plan.region)};${SCRATCH}`;
  const map = plan.map;
  const K = cx.constRef(map);
  // The key's bytes, view and offset: this frame, or the map value r2 points into (a slab value's past x2).
  const o = at(plan.keySlab ? "x2" : undefined, plan.keyOff);
  const max = map.def.maxEntries;
  const KB = !plan.inValue ? "SB" : plan.keyRegion ? cx.constRef(plan.keyRegion.bytes) : "g2.bytes";
  const KV = !plan.inValue ? "SV" : plan.keyRegion ? cx.constRef(plan.keyRegion.view) : "g2.view";
  if (plan.slab && map instanceof LpmTrieMap) {
    // The value as its chunk's slab and its offset there; a Region only when the pointer's words are observed.
    const value = `g0=${K}.slabs[i>>${CHUNK_BITS}];x0=(i&${CHUNK - 1})*${map.stride}+${map.def.keySize};a0=${OFF_BIAS};b0=${lazyWord(`PH(${K}.regionOf(i))`)};`;
    return `{const i=${K}.findId(${KB},${o});if(i===0){g0=null;a0=0;b0=0;}else{${value}}}${SCRATCH}`;
  }
  const idx = plan.index !== undefined ? String(plan.index) : `${KV}.getUint32(${o},true)`;
  let v: string;
  if (map instanceof ArrayMap) {
    v = plan.index !== undefined ? `const v=${K}.values[${idx}]??${K}.lookupAt(${KB},${o});` : `const i=${idx},v=i<${max}?(${K}.values[i]??${K}.lookupAt(${KB},${o})):null;`;
  } else if (map instanceof SockMap && !map.isHash) {
    v = plan.index !== undefined ? `const v=${K}.slots[${idx}]??null;` : `const i=${idx},v=i<${max}?(${K}.slots[i]??null):null;`;
  } else v = `const v=${K}.lookupAt(${KB},${o});`;
  const tag = `${PTR_TAG}`;
  if (map.holdsSockets) {
    return `{${v}g0=v;if(v===null){a0=0;b0=0;}else{v.refs++;M.held.push(v);a0=${OFF_BIAS};b0=${lazyWord(`v.region.table===RT?(${tag}|v.region.id):PH(v.region)`)};}}${SCRATCH}`;
  }
  // An ARRAY whose every value is pinned in this table (object.ts pins small ones at load; ArrayMap never replaces a
  // value) needs no registration test: the value's id is its pointer's.
  const hi = map instanceof ArrayMap && allPinned(map, cx.table) ? `${tag}|v.id` : `v.table===RT?(${tag}|v.id):PH(v)`;
  return `{${v}g0=v;if(v===null){a0=0;b0=0;}else{a0=${OFF_BIAS};b0=${lazyWord(hi)};}}${SCRATCH}`;
}

/** True when every slot of `map` has a value pinned in `table` (for the object's life, see RegionTable.pinned). */
function allPinned(map: ArrayMap, table: RegionTable): boolean {
  for (let i = 0; i < map.def.maxEntries; i++) {
    const r = map.values[i];
    if (r === undefined || !table.pinned(r)) return false;
  }
  return true;
}

/** The offset in this frame of `size` bytes that the fact `f` points to, when it proves them in the frame. */
function frameBytes(f: Fact, size: number): number | undefined {
  if (f?.k !== FK.Fp) return undefined;
  const o = STACK_SIZE + f.off;
  return o >= 0 && o + size <= STACK_SIZE ? o : undefined;
}

/** A helper's negative errno as r0's words. */
const fail = (errno: number): string => `a0=${-errno};b0=-1;${SCRATCH}`;

/**
 * map_update_elem on a known ARRAY or hash map with the key and value in this frame and constant flags: the helper's
 * argument checks hold by construction (what they would copy is read in place). An ARRAY's update is inline, in
 * ArrayMap.update's order (flags, index, BPF_NOEXIST); a hash map's is HashMap.updateAt, the helper's own path.
 */
function update(cx: SpecialContext, st: State): string | undefined {
  const r1 = st.regs[1];
  const r4 = st.regs[4];
  if (r1?.k !== FK.Map || r4?.k !== FK.Const) return undefined;
  const map = r1.map;
  if (!(map instanceof ArrayMap) && !(map instanceof HashMap)) return undefined;
  const ko = frameBytes(st.regs[2], map.def.keySize);
  const vo = frameBytes(st.regs[3], map.def.valueSize);
  if (ko === undefined || vo === undefined) return undefined;
  // The helper's reading of the u64 flags: anything that does not fit 32 bits is certainly invalid.
  const w = words(r4.v);
  const flags = w.hi !== 0 ? 2 ** 32 : w.lo >>> 0;
  if (badFlags(flags)) return fail(Errno.EINVAL);
  const K = cx.constRef(map);
  if (map instanceof HashMap) return `a0=${K}.updateAt(SB,${ko},SB,${vo},${flags},M);b0=a0>>31;${SCRATCH}`;
  const size = map.def.valueSize;
  // Whole words through the views for small values (the usual counter or record), bytes otherwise.
  let copy: string;
  if (size % 4 === 0 && size <= 64) {
    copy = "const d=v.view;";
    for (let j = 0; j < size; j += 4) copy += `d.setInt32(${j},SV.getInt32(${vo + j},true),true);`;
  } else copy = `const d=v.bytes;for(let j=0;j<${size};j++)d[j]=SB[${vo}+j];`;
  const store = (flags & 3) === 1 ? `a0=${-Errno.EEXIST};b0=-1;` : `const v=${K}.values[i]??${K}.lookupAt(SB,${ko});${copy}a0=0;b0=0;`;
  return `{const i=SV.getUint32(${ko},true);if(i>=${map.def.maxEntries}){a0=${-Errno.E2BIG};b0=-1;}else{${store}}}${SCRATCH}`;
}

/** map_delete_elem on a known hash map with the key in this frame: HashMap.deleteAt, the helper's own path. */
function remove(cx: SpecialContext, st: State): string | undefined {
  const r1 = st.regs[1];
  if (r1?.k !== FK.Map || !(r1.map instanceof HashMap)) return undefined;
  const ko = frameBytes(st.regs[2], r1.map.def.keySize);
  if (ko === undefined) return undefined;
  return `a0=${cx.constRef(r1.map)}.deleteAt(SB,${ko},M);b0=a0>>31;${SCRATCH}`;
}
