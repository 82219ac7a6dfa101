/**
 * ELF64 reader: any BPF relocatable object (ours or clang's) → {@link ObjectFile}, with programs linked the way
 * libbpf 1.x links them before BPF_PROG_LOAD:
 * - a program is a GLOBAL (or WEAK) FUNC symbol in an executable section other than `.text`;
 * - every `.text` subprogram it calls (transitively; via R_BPF_64_32 relocations or already-resolved pseudo-call
 *   immediates) is appended after it once, and the call immediates are rewritten for the new layout;
 * - R_BPF_64_64 relocations against `.maps` symbols become map relocations (slot → map name);
 * - global data (`.rodata*`, `.data*`, `.bss`) becomes one internal ARRAY map per section (global-data.ts), listed
 *   after the `.maps` maps; an R_BPF_64_64 relocation against it becomes a "value" relocation and its lddw is
 *   rewritten as libbpf rewrites it, minus the fd (src_reg BPF_PSEUDO_MAP_VALUE, second imm = offset in the section);
 * - BTF-defined maps come from the `.maps` DATASEC; func_info / line_info from `.BTF.ext`, re-based onto the slots of
 *   the linked program.
 * Everything is bounds-checked; malformed or unsupported input throws ObjectError naming the section and offset.
 */
import { Class, DecodeError, JmpOp, LDDW, Pseudo, decode, type Instruction } from "../asm/index.ts";
import { BtfError, BtfKind, type Btf, type BtfExt, decodeBtf, decodeBtfExt, parseBtfMaps } from "../btf/index.ts";
import type { MapDef } from "../abi/maps.ts";
import {
  type ElfFile,
  type ElfRel,
  type ElfSection,
  type ElfSymbol,
  R_BPF_64_32,
  R_BPF_64_64,
  R_BPF_NONE,
  SHF_EXECINSTR,
  SHT_PROGBITS,
  STB_GLOBAL,
  STB_WEAK,
  STT_FUNC,
  STT_SECTION,
  parseElf,
} from "./elf64.ts";
import { globalDataMaps } from "./global-data.ts";
import { type FuncInfo, type LineInfo, type MapReloc, ObjectError, type ObjectFile, type ObjProgram } from "./object.ts";

const CALL = Class.JMP | JmpOp.CALL;
/** Upper bound on a linked program (the kernel's BPF_COMPLEXITY_LIMIT_INSNS is 1M instructions). */
const MAX_SLOTS = 1_000_000;

/** A function: a program or a `.text` subprogram, as a byte range of its section. */
interface Fn {
  name: string;
  sec: ElfSection;
  start: number;
  size: number;
  /** Symbol binding (STB_*). */
  bind: number;
}

/** Marker for errors that escaped the explicit checks (tests assert none do). */
export const UNCHECKED_PREFIX = "malformed object:";

/**
 * Reads a BPF ELF object. Throws ObjectError (only) for malformed or unsupported input; the message names what is
 * wrong and where.
 */
export function readObject(bytes: Uint8Array): ObjectFile {
  try {
    return read(bytes);
  } catch (err) {
    if (err instanceof ObjectError) throw err;
    if (err instanceof BtfError || err instanceof DecodeError) throw new ObjectError(err.message, { cause: err });
    // A check this reader should have made explicitly; still report it as bad input rather than crash the caller.
    throw new ObjectError(`${UNCHECKED_PREFIX} ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
}

function read(bytes: Uint8Array): ObjectFile {
  const elf = parseElf(bytes);
  const byName = (name: string): ElfSection | undefined => elf.sections.find((s) => s.name === name);
  if (byName("maps")) throw new ObjectError("legacy map definitions in section 'maps' are not supported (libbpf 1.0+ needs BTF-defined maps in '.maps')");

  const licSec = byName("license");
  let license = "";
  if (licSec) {
    const nul = licSec.data.indexOf(0);
    license = new TextDecoder().decode(licSec.data.subarray(0, nul < 0 ? licSec.data.length : nul));
  }

  const btfSec = byName(".BTF");
  const btf = btfSec ? wrapBtf(".BTF", () => decodeBtf(btfSec.data)) : undefined;
  const extSec = byName(".BTF.ext");
  let ext: BtfExt | undefined;
  if (extSec) {
    if (!btf) throw new ObjectError(".BTF.ext is present but .BTF is missing");
    ext = wrapBtf(".BTF.ext", () => decodeBtfExt(extSec.data, btf.strings));
  }

  const maps = readMaps(elf, btf);
  const data = globalDataMaps(elf, btf);
  const text = elf.sections.find((s) => s.name === ".text" && s.flags & SHF_EXECINSTR);
  const subprogs = text ? functionsOf(elf, text) : [];
  const programs: ObjProgram[] = [];
  for (const sec of elf.sections) {
    if (sec.type !== SHT_PROGBITS || !(sec.flags & SHF_EXECINSTR) || sec === text) continue;
    for (const fn of functionsOf(elf, sec)) {
      // libbpf 1.x refuses static functions outside .text ("program is static and not supported").
      if (fn.bind !== STB_GLOBAL && fn.bind !== STB_WEAK) throw new ObjectError(`program '${fn.name}' in section ${sec.name} is static; programs must be global functions`);
      programs.push(link(elf, fn, subprogs, text, { maps, data }, btf, ext));
    }
  }
  const allMaps = [...maps.map(({ offset: _o, size: _s, ...m }) => m as MapDef), ...data.values()];
  return { license, programs, maps: allMaps, ...(btfSec ? { btf: btfSec.data.slice() } : {}) };
}

function wrapBtf<T>(section: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof BtfError) throw new ObjectError(`section ${section}: ${err.message}`, { cause: err });
    throw err;
  }
}

/** A map definition with its place in `.maps`. */
type PlacedMap = MapDef & { offset: number; size: number };

/** Every map a relocation can name: `.maps` definitions, and global-data maps by section index. */
interface MapTables {
  maps: PlacedMap[];
  data: Map<number, MapDef>;
}

function readMaps(elf: ElfFile, btf: Btf | undefined): PlacedMap[] {
  const sec = elf.sections.find((s) => s.name === ".maps");
  if (!sec) return [];
  if (!btf) throw new ObjectError("section .maps needs BTF, but the object has no .BTF section (compile with -g)");
  const defs = wrapBtf(".BTF", () => parseBtfMaps(btf));
  const symbols = new Map<string, ElfSymbol>();
  for (const s of elf.symbols) if (s.shndx === sec.index && !symbols.has(s.name)) symbols.set(s.name, s);
  const seen = new Set<string>();
  return defs.map(({ datasecOffset, ...m }) => {
    if (seen.has(m.name)) throw new ObjectError(`map '${m.name}' is defined twice in .maps`);
    seen.add(m.name);
    const sym = symbols.get(m.name);
    const offset = sym ? sym.value : datasecOffset;
    const size = sym?.size || 8;
    if (offset + size > sec.size) throw new ObjectError(`map '${m.name}' at offset ${offset} (+${size}) lies outside .maps (${sec.size} bytes)`);
    if (m.type === 0) throw new ObjectError(`map '${m.name}' has no type`);
    return { ...m, offset, size };
  });
}

/** FUNC symbols by section index (built once: objects may have many sections and symbols). */
const funcSymbols = new WeakMap<ElfFile, Map<number, ElfSymbol[]>>();

/** FUNC symbols of a code section as functions, sorted by offset, checked to lie inside it on instruction boundaries. */
function functionsOf(elf: ElfFile, sec: ElfSection): Fn[] {
  let bySection = funcSymbols.get(elf);
  if (!bySection) {
    bySection = new Map();
    for (const s of elf.symbols) {
      if (s.type !== STT_FUNC) continue;
      const list = bySection.get(s.shndx);
      if (list) list.push(s);
      else bySection.set(s.shndx, [s]);
    }
    funcSymbols.set(elf, bySection);
  }
  const fns: Fn[] = [];
  for (const s of bySection.get(sec.index) ?? []) {
    const where = `function '${s.name}' in section ${sec.name}`;
    if (!s.name) throw new ObjectError(`an unnamed function in section ${sec.name} at offset ${s.value}`);
    if (s.value % 8 || s.size % 8) throw new ObjectError(`${where}: offset ${s.value} or size ${s.size} is not a multiple of 8`);
    if (s.size === 0) throw new ObjectError(`${where} has size 0`);
    if (s.value + s.size > sec.size) throw new ObjectError(`${where} (offset ${s.value}, ${s.size} bytes) runs past the section's end (${sec.size} bytes)`);
    fns.push({ name: s.name, sec, start: s.value, size: s.size, bind: s.bind });
  }
  fns.sort((a, b) => a.start - b.start);
  for (let i = 1; i < fns.length; i++) {
    if (fns[i]!.start < fns[i - 1]!.start + fns[i - 1]!.size) throw new ObjectError(`functions '${fns[i - 1]!.name}' and '${fns[i]!.name}' overlap in section ${sec.name}`);
  }
  return fns;
}

/** Relocations by section, by byte offset (built once per section; every program of a section shares them). */
const relocIndex = new WeakMap<ElfSection, Map<number, ElfRel>>();

/** Relocations of `sec`, by byte offset. */
function relocsOf(elf: ElfFile, sec: ElfSection): Map<number, ElfRel> {
  const cached = relocIndex.get(sec);
  if (cached) return cached;
  const out = new Map<number, ElfRel>();
  for (const r of elf.rels.get(sec.index) ?? []) {
    if (r.type === R_BPF_NONE) continue;
    if (r.offset % 8 !== 0 || r.offset + 8 > sec.size) throw new ObjectError(`relocation in section ${sec.name} at offset ${r.offset} is not on an instruction inside the section`);
    if (out.has(r.offset)) throw new ObjectError(`two relocations at offset ${r.offset} of section ${sec.name}`);
    out.set(r.offset, r);
  }
  relocIndex.set(sec, out);
  return out;
}

/** Links program `prog` with the subprograms it calls (see the module comment). */
function link(elf: ElfFile, prog: Fn, subprogs: Fn[], text: ElfSection | undefined, tables: MapTables, btf: Btf | undefined, ext: BtfExt | undefined): ObjProgram {
  const pieces: { fn: Fn; slot: number; bytes: Uint8Array }[] = [];
  let total = 0;
  const placed = new Map<Fn, number>();
  const place = (fn: Fn): number => {
    const existing = placed.get(fn);
    if (existing !== undefined) return existing;
    if (total + fn.size / 8 > MAX_SLOTS) throw new ObjectError(`program '${prog.name}' exceeds ${MAX_SLOTS} instructions when linked`);
    pieces.push({ fn, slot: total, bytes: fn.sec.data.slice(fn.start, fn.start + fn.size) });
    placed.set(fn, total);
    total += fn.size / 8;
    return total - fn.size / 8;
  };
  const mapRelocs: MapReloc[] = [];
  // Depth-first, like libbpf's bpf_object__reloc_code: a subprogram is appended when its first call is found and
  // processed right away, so nested callees follow their caller before the caller's later callees.
  const relocate = (piece: (typeof pieces)[number]): void => {
    const { fn } = piece;
    const where = (slot: number): string => `section ${fn.sec.name} offset ${fn.start + slot * 8} (function '${fn.name}')`;
    let insns: Instruction[];
    try {
      insns = decode(piece.bytes);
    } catch (err) {
      if (err instanceof DecodeError) throw new ObjectError(`${where(err.slot)}: ${err.message}`);
      throw err;
    }
    const relocs = relocsOf(elf, fn.sec);
    const view = new DataView(piece.bytes.buffer, piece.bytes.byteOffset, piece.bytes.byteLength);
    for (let j = 0; j < insns.length; j++) {
      const insn = insns[j]!;
      const rel = relocs.get(fn.start + j * 8);
      if (insn.opcode === LDDW && insn.src === Pseudo.FUNC) throw new ObjectError(`${where(j)}: callback function references (ld_imm64 of a function) are not supported`);
      if (rel) {
        const sym = elf.symbols[rel.symbol]!;
        if (rel.type === R_BPF_64_64) {
          if (insn.opcode !== LDDW) throw new ObjectError(`${where(j)}: R_BPF_64_64 relocation on an instruction that is not ld_imm64`);
          const dataMap = tables.data.get(sym.shndx);
          if (dataMap) {
            // libbpf: src_reg = BPF_PSEUDO_MAP_VALUE, imm = fd (0 here), second imm = symbol value + original imm.
            const offset = sym.value + insn.imm;
            if (!Number.isSafeInteger(offset) || offset < 0 || offset > 0x7fffffff) throw new ObjectError(`${where(j)}: reference to '${sym.name}' at offset ${offset} of ${dataMap.name} is out of range`);
            piece.bytes[j * 8 + 1] = (Pseudo.MAP_VALUE << 4) | insn.dst;
            view.setInt32(j * 8 + 4, 0, true);
            view.setInt32(j * 8 + 12, offset, true);
            mapRelocs.push({ slot: piece.slot + j, map: dataMap.name, kind: "value", offset });
          } else {
            mapRelocs.push({ slot: piece.slot + j, map: mapFor(elf, sym, insn, tables.maps, where(j)) });
          }
        } else if (rel.type === R_BPF_64_32) {
          if (insn.opcode !== CALL || insn.src !== Pseudo.CALL) throw new ObjectError(`${where(j)}: R_BPF_64_32 relocation on an instruction that is not a BPF-to-BPF call`);
          if (!text || sym.shndx !== text.index) throw new ObjectError(`${where(j)}: call to '${sym.name}', which is not a function in .text`);
          const target = sym.value + (insn.imm + 1) * 8;
          view.setInt32(j * 8 + 4, callImm(target, piece.slot + j, where(j)), true);
        } else {
          throw new ObjectError(`${where(j)}: unsupported relocation type ${rel.type} against '${sym.name}'`);
        }
      } else if (insn.opcode === CALL && insn.src === Pseudo.CALL) {
        // Already resolved by the compiler: a call inside the same section, relative to this instruction.
        if (fn.sec !== text) throw new ObjectError(`${where(j)}: BPF-to-BPF call without relocation from outside .text`);
        const target = fn.start + (j + insn.imm + 1) * 8;
        view.setInt32(j * 8 + 4, callImm(target, piece.slot + j, where(j)), true);
      }
      if (insn.opcode === LDDW) {
        j++;
        if (relocs.has(fn.start + j * 8)) throw new ObjectError(`${where(j)}: relocation on the second half of an ld_imm64`);
      }
    }
  };
  place(prog);
  relocate(pieces[0]!);

  function callImm(target: number, fromSlot: number, where: string): number {
    const sub = functionAt(subprogs, target);
    if (!sub) throw new ObjectError(`${where}: call target at .text offset ${target} is not inside any .text function`);
    const known = placed.has(sub);
    const start = place(sub);
    if (!known) relocate(pieces[pieces.length - 1]!);
    return start + (target - sub.start) / 8 - fromSlot - 1;
  }

  const bytes = new Uint8Array(total * 8);
  for (const piece of pieces) bytes.set(piece.bytes, piece.slot * 8);
  const { funcInfo, lineInfo } = rebaseExt(pieces, btf, ext);
  mapRelocs.sort((a, b) => a.slot - b.slot);
  return { name: prog.name, section: prog.sec.name, insns: decode(bytes), bytes, mapRelocs, lineInfo, funcInfo };
}

/** The function (of `fns`, sorted by start, non-overlapping) containing byte `off`, by binary search. */
function functionAt(fns: Fn[], off: number): Fn | undefined {
  let lo = 0;
  let hi = fns.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const f = fns[mid]!;
    if (off < f.start) hi = mid - 1;
    else if (off >= f.start + f.size) lo = mid + 1;
    else return f;
  }
  return undefined;
}

/** Records of the sections named `section` whose offset lies in [start, end), found by binary search after one sort. */
function recordsIn<T extends { insnOff: number }>(sections: { section: string; records: T[] }[], section: string, start: number, end: number): T[] {
  const out: T[] = [];
  for (const s of sections) {
    if (s.section !== section) continue;
    let sorted = sortedRecords.get(s.records) as T[] | undefined;
    if (!sorted) sortedRecords.set(s.records, (sorted = [...s.records].sort((a, b) => a.insnOff - b.insnOff)));
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid]!.insnOff < start) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < sorted.length && sorted[i]!.insnOff < end; i++) out.push(sorted[i]!);
  }
  return out;
}
const sortedRecords = new WeakMap<object, { insnOff: number }[]>();

/** Name of the map an R_BPF_64_64 relocation refers to (by symbol name, or by offset for section symbols). */
function mapFor(elf: ElfFile, sym: ElfSymbol, insn: Instruction, maps: PlacedMap[], where: string): string {
  const sec = elf.sections[sym.shndx];
  if (!sec || sym.shndx === 0) throw new ObjectError(`${where}: reference to undefined symbol '${sym.name}' (externs are not supported)`);
  if (sec.name !== ".maps") throw new ObjectError(`${where}: reference to '${sym.name}' in section ${sec.name}; only maps in .maps and global data (.rodata*, .data*, .bss) are supported`);
  const offset = sym.type === STT_SECTION ? sym.value + insn.imm : sym.value;
  const map = maps.find((m) => m.offset === offset) ?? (sym.type !== STT_SECTION ? maps.find((m) => m.name === sym.name) : undefined);
  if (!map) throw new ObjectError(`${where}: relocation to .maps offset ${offset} ('${sym.name}') matches no map definition`);
  return map.name;
}

/** func_info and line_info of the pieces of a linked program, with slots in the linked layout. */
function rebaseExt(pieces: { fn: Fn; slot: number }[], btf: Btf | undefined, ext: BtfExt | undefined): { funcInfo: FuncInfo[]; lineInfo: LineInfo[] } {
  const funcInfo: FuncInfo[] = [];
  const lineInfo: LineInfo[] = [];
  if (!ext || !btf) return { funcInfo, lineInfo };
  for (const { fn, slot } of pieces) {
    const end = fn.start + fn.size;
    const slotOf = (off: number, what: string): number => {
      if ((off - fn.start) % 8) throw new ObjectError(`.BTF.ext ${what} for section ${fn.sec.name}: offset ${off} is not on an instruction boundary`);
      return slot + (off - fn.start) / 8;
    };
    for (const r of recordsIn(ext.funcInfo, fn.sec.name, fn.start, end)) {
      const t = btf.types[r.typeId];
      if (!t || t.kind !== BtfKind.FUNC) throw new ObjectError(`.BTF.ext func_info for section ${fn.sec.name} offset ${r.insnOff}: type ${r.typeId} is not a BTF FUNC`);
      funcInfo.push({ slot: slotOf(r.insnOff, "func_info"), name: t.name, typeId: r.typeId });
    }
    const core = recordsIn(ext.coreRelo ?? [], fn.sec.name, fn.start, end)[0];
    if (core) throw new ObjectError(`section ${fn.sec.name} offset ${core.insnOff} (function '${fn.name}'): CO-RE relocation (kind ${core.kind}, access ${core.access}) is not supported`);
    for (const r of recordsIn(ext.lineInfo, fn.sec.name, fn.start, end)) {
      lineInfo.push({ slot: slotOf(r.insnOff, "line_info"), file: r.file, text: r.text, line: r.line, column: r.column });
    }
  }
  funcInfo.sort((a, b) => a.slot - b.slot);
  lineInfo.sort((a, b) => a.slot - b.slot);
  return { funcInfo, lineInfo };
}
