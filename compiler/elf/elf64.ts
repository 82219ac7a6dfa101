/**
 * ELF64 little-endian relocatable files as far as BPF objects need them: parsing (every offset bounds-checked,
 * ObjectError otherwise) and building. Field layouts follow the System V gABI; BPF-specific numbers (EM_BPF,
 * R_BPF_*) come from the kernel's and LLVM's ELF definitions.
 */
import { ObjectError } from "./object.ts";

/** e_machine of BPF objects. */
export const EM_BPF = 247;
/** e_type of a relocatable object. */
export const ET_REL = 1;

/** Section type: unused header (index 0). */
export const SHT_NULL = 0;
/** Section type: program-defined contents (code, .maps, license, .BTF). */
export const SHT_PROGBITS = 1;
/** Section type: the symbol table. */
export const SHT_SYMTAB = 2;
/** Section type: a string table. */
export const SHT_STRTAB = 3;
/** Section type: relocations with addends (not used by BPF). */
export const SHT_RELA = 4;
/** Section type: zero-initialised data with no file contents (.bss). */
export const SHT_NOBITS = 8;
/** Section type: relocations without addends. */
export const SHT_REL = 9;

/** Section flag: writable. */
export const SHF_WRITE = 0x1;
/** Section flag: occupies memory at run time. */
export const SHF_ALLOC = 0x2;
/** Section flag: executable (program code). */
export const SHF_EXECINSTR = 0x4;
/** Section flag: sh_info holds a section index (set on REL sections). */
export const SHF_INFO_LINK = 0x40;

/** Symbol binding: local to the object. */
export const STB_LOCAL = 0;
/** Symbol binding: global. */
export const STB_GLOBAL = 1;
/** Symbol binding: weak global. */
export const STB_WEAK = 2;
/** Symbol type: unspecified (clang's jump labels). */
export const STT_NOTYPE = 0;
/** Symbol type: data object (maps, license). */
export const STT_OBJECT = 1;
/** Symbol type: function (programs, subprograms). */
export const STT_FUNC = 2;
/** Symbol type: a section. */
export const STT_SECTION = 3;
/** Symbol type: the source file name. */
export const STT_FILE = 4;
/** Special section index of absolute symbols. */
export const SHN_ABS = 0xfff1;

/** BPF relocation type: none. */
export const R_BPF_NONE = 0;
/** lddw imm (64-bit): map and global-data references. */
export const R_BPF_64_64 = 1;
/** 64-bit data (DWARF). */
export const R_BPF_64_ABS64 = 2;
/** 32-bit data (DWARF). */
export const R_BPF_64_ABS32 = 3;
/** 32-bit data in .BTF/.BTF.ext, not applied by dynamic loaders. */
export const R_BPF_64_NODYLD32 = 4;
/** call imm (32-bit): BPF-to-BPF calls. */
export const R_BPF_64_32 = 10;

const EHDR_SIZE = 64;
const SHDR_SIZE = 64;
const SYM_SIZE = 24;
const REL_SIZE = 16;

/** A parsed section header plus its bytes (empty for SHT_NOBITS). */
export interface ElfSection {
  index: number;
  name: string;
  type: number;
  flags: number;
  offset: number;
  size: number;
  link: number;
  info: number;
  addralign: number;
  entsize: number;
  data: Uint8Array;
}

/** A parsed symbol. */
export interface ElfSymbol {
  index: number;
  name: string;
  value: number;
  size: number;
  bind: number;
  type: number;
  shndx: number;
}

/** A parsed SHT_REL entry. */
export interface ElfRel {
  offset: number;
  symbol: number;
  type: number;
}

/** A parsed ELF64 relocatable BPF object. */
export interface ElfFile {
  sections: ElfSection[];
  symbols: ElfSymbol[];
  /** Relocations by the index of the section they apply to. */
  rels: Map<number, ElfRel[]>;
}

const fail = (msg: string): never => {
  throw new ObjectError(msg);
};

/** Reads `u64` as a JS number, rejecting values that cannot be exact offsets. */
function u64(v: DataView, at: number, what: string): number {
  const x = v.getBigUint64(at, true);
  if (x > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${what} 0x${x.toString(16)} is too large`);
  return Number(x);
}

function cstr(table: Uint8Array, off: number, what: string): string {
  if (off >= table.length) fail(`${what}: name offset ${off} is outside its string table (${table.length} bytes)`);
  const end = table.indexOf(0, off);
  if (end < 0) fail(`${what}: name at offset ${off} is not NUL-terminated`);
  return new TextDecoder().decode(table.subarray(off, end));
}

/** Parses the ELF container: header, section headers, symbol table and REL sections. */
export function parseElf(bytes: Uint8Array): ElfFile {
  if (bytes.length < EHDR_SIZE) fail(`not an ELF object: ${bytes.length} bytes is shorter than an ELF64 header`);
  if (bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) fail("not an ELF object: bad magic");
  if (bytes[4] !== 2) fail(`unsupported ELF class ${bytes[4]} (BPF objects are ELF64)`);
  if (bytes[5] !== 1) fail(`unsupported ELF data encoding ${bytes[5]} (only little-endian BPF objects are supported)`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = v.getUint16(16, true);
  const machine = v.getUint16(18, true);
  if (machine !== EM_BPF) fail(`ELF machine ${machine} is not BPF (${EM_BPF})`);
  if (type !== ET_REL) fail(`ELF type ${type} is not a relocatable object (${ET_REL})`);
  const shoff = u64(v, 40, "section header offset");
  const shentsize = v.getUint16(58, true);
  const shnum = v.getUint16(60, true);
  const shstrndx = v.getUint16(62, true);
  if (shnum === 0) fail("ELF object has no section headers");
  if (shentsize !== SHDR_SIZE) fail(`section header size ${shentsize} is not ${SHDR_SIZE}`);
  if (shoff + shnum * SHDR_SIZE > bytes.length) fail(`section header table (offset ${shoff}, ${shnum} entries) runs past the end of the file (${bytes.length} bytes)`);
  if (shstrndx >= shnum) fail(`section name table index ${shstrndx} is out of range (${shnum} sections)`);

  const raw = [];
  for (let i = 0; i < shnum; i++) {
    const at = shoff + i * SHDR_SIZE;
    const s = {
      nameOff: v.getUint32(at, true),
      type: v.getUint32(at + 4, true),
      flags: u64(v, at + 8, `section ${i} flags`),
      offset: u64(v, at + 24, `section ${i} offset`),
      size: u64(v, at + 32, `section ${i} size`),
      link: v.getUint32(at + 40, true),
      info: v.getUint32(at + 44, true),
      addralign: u64(v, at + 48, `section ${i} alignment`),
      entsize: u64(v, at + 56, `section ${i} entry size`),
    };
    if (s.type !== SHT_NOBITS && s.type !== SHT_NULL && s.offset + s.size > bytes.length) {
      fail(`section ${i} (offset ${s.offset}, ${s.size} bytes) runs past the end of the file (${bytes.length} bytes)`);
    }
    raw.push(s);
  }
  const shstr = raw[shstrndx]!;
  if (shstr.type !== SHT_STRTAB) fail(`section name table (section ${shstrndx}) is not a string table`);
  const shstrData = bytes.subarray(shstr.offset, shstr.offset + shstr.size);
  const sections: ElfSection[] = raw.map((s, index) => ({
    index,
    name: index === 0 ? "" : cstr(shstrData, s.nameOff, `section ${index}`),
    type: s.type,
    flags: s.flags,
    offset: s.offset,
    size: s.size,
    link: s.link,
    info: s.info,
    addralign: s.addralign,
    entsize: s.entsize,
    data: s.type === SHT_NOBITS || s.type === SHT_NULL ? new Uint8Array(0) : bytes.subarray(s.offset, s.offset + s.size),
  }));

  const symtabs = sections.filter((s) => s.type === SHT_SYMTAB);
  if (symtabs.length > 1) fail("ELF object has more than one symbol table");
  const symbols: ElfSymbol[] = [];
  const symtab = symtabs[0];
  if (symtab) {
    if (symtab.size % SYM_SIZE !== 0) fail(`symbol table size ${symtab.size} is not a multiple of ${SYM_SIZE}`);
    const strtab = sections[symtab.link];
    if (!strtab || strtab.type !== SHT_STRTAB) fail(`symbol table links to section ${symtab.link}, which is not a string table`);
    const sv = new DataView(symtab.data.buffer, symtab.data.byteOffset, symtab.data.byteLength);
    for (let i = 0; i < symtab.size / SYM_SIZE; i++) {
      const at = i * SYM_SIZE;
      const info = sv.getUint8(at + 4);
      const sym: ElfSymbol = {
        index: i,
        name: cstr(strtab!.data, sv.getUint32(at, true), `symbol ${i}`),
        bind: info >> 4,
        type: info & 0xf,
        shndx: sv.getUint16(at + 6, true),
        value: u64(sv, at + 8, `symbol ${i} value`),
        size: u64(sv, at + 16, `symbol ${i} size`),
      };
      if (sym.type === STT_SECTION && sym.name === "" && sym.shndx < sections.length) sym.name = sections[sym.shndx]!.name;
      symbols.push(sym);
    }
  }

  const rels = new Map<number, ElfRel[]>();
  for (const s of sections) {
    if (s.type === SHT_RELA) fail(`section ${s.name}: RELA relocations are not used by BPF objects`);
    if (s.type !== SHT_REL) continue;
    if (s.info >= sections.length || s.info === 0) fail(`relocation section ${s.name} applies to section ${s.info}, which does not exist`);
    if (s.size % REL_SIZE !== 0) fail(`relocation section ${s.name} size ${s.size} is not a multiple of ${REL_SIZE}`);
    if (!symtab || s.link !== symtab.index) fail(`relocation section ${s.name} does not link to the symbol table`);
    const rv = new DataView(s.data.buffer, s.data.byteOffset, s.data.byteLength);
    const list: ElfRel[] = [];
    for (let i = 0; i < s.size / REL_SIZE; i++) {
      const info = rv.getBigUint64(i * REL_SIZE + 8, true);
      const rel = { offset: u64(rv, i * REL_SIZE, `${s.name} entry ${i} offset`), symbol: Number(info >> 32n), type: Number(info & 0xffffffffn) };
      if (rel.symbol >= symbols.length) fail(`${s.name} entry ${i} refers to symbol ${rel.symbol}, but the symbol table has ${symbols.length}`);
      list.push(rel);
    }
    const known = rels.get(s.info);
    if (known) for (const r of list) known.push(r);
    else rels.set(s.info, list);
  }
  return { sections, symbols, rels };
}

/** A section to write. `link`/`info` are section indexes (info may be a symbol index for SHT_SYMTAB). */
export interface SectionSpec {
  name: string;
  type: number;
  flags?: number;
  data: Uint8Array;
  link?: number;
  info?: number;
  addralign: number;
  entsize?: number;
}

/** A symbol to write; `shndx` is a section index (or SHN_ABS). */
export interface SymbolSpec {
  name: string;
  value: number;
  size: number;
  bind: number;
  type: number;
  shndx: number;
}

/** Encodes symbols into SHT_SYMTAB bytes, adding names to `names` (a string table builder). */
export function encodeSymbols(symbols: readonly SymbolSpec[], names: (s: string) => number): Uint8Array {
  const out = new Uint8Array((symbols.length + 1) * SYM_SIZE);
  const v = new DataView(out.buffer);
  symbols.forEach((s, i) => {
    const at = (i + 1) * SYM_SIZE;
    v.setUint32(at, s.name ? names(s.name) : 0, true);
    v.setUint8(at + 4, (s.bind << 4) | s.type);
    v.setUint8(at + 5, 0);
    v.setUint16(at + 6, s.shndx, true);
    v.setBigUint64(at + 8, BigInt(s.value), true);
    v.setBigUint64(at + 16, BigInt(s.size), true);
  });
  return out;
}

/** Encodes SHT_REL entries. */
export function encodeRels(rels: readonly ElfRel[]): Uint8Array {
  const out = new Uint8Array(rels.length * REL_SIZE);
  const v = new DataView(out.buffer);
  rels.forEach((r, i) => {
    v.setBigUint64(i * REL_SIZE, BigInt(r.offset), true);
    v.setBigUint64(i * REL_SIZE + 8, (BigInt(r.symbol) << 32n) | BigInt(r.type), true);
  });
  return out;
}

/**
 * Lays out a relocatable ELF64 BPF object: header, section contents (aligned), then the section header table, as
 * clang does. `sections` excludes the NULL section (added as index 0, so `sections[i]` gets index i + 1); `shstrndx`
 * is the index of the string table holding section names, and `sectionNameOffsets[i]` the offset of section i's name
 * in it.
 */
export function buildElf(sections: readonly SectionSpec[], shstrndx: number, sectionNameOffsets: readonly number[]): Uint8Array {
  let at = EHDR_SIZE;
  const offsets: number[] = [];
  for (const s of sections) {
    const align = Math.max(1, s.addralign);
    at = Math.ceil(at / align) * align;
    offsets.push(at);
    at += s.data.length;
  }
  const shoff = Math.ceil(at / 8) * 8;
  const total = shoff + (sections.length + 1) * SHDR_SIZE;
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]);
  v.setUint16(16, ET_REL, true);
  v.setUint16(18, EM_BPF, true);
  v.setUint32(20, 1, true);
  v.setBigUint64(40, BigInt(shoff), true);
  v.setUint16(52, EHDR_SIZE, true);
  v.setUint16(58, SHDR_SIZE, true);
  v.setUint16(60, sections.length + 1, true);
  v.setUint16(62, shstrndx, true);
  sections.forEach((s, i) => {
    out.set(s.data, offsets[i]!);
    const h = shoff + (i + 1) * SHDR_SIZE;
    v.setUint32(h, sectionNameOffsets[i]!, true);
    v.setUint32(h + 4, s.type, true);
    v.setBigUint64(h + 8, BigInt(s.flags ?? 0), true);
    v.setBigUint64(h + 24, BigInt(offsets[i]!), true);
    v.setBigUint64(h + 32, BigInt(s.data.length), true);
    v.setUint32(h + 40, s.link ?? 0, true);
    v.setUint32(h + 44, s.info ?? 0, true);
    v.setBigUint64(h + 48, BigInt(s.addralign), true);
    v.setBigUint64(h + 56, BigInt(s.entsize ?? 0), true);
  });
  return out;
}
