/**
 * ELF64 writer: compiled programs + map definitions → a relocatable BPF object laid out like clang -O2 -g output, so
 * that libbpf (bpftool) opens, relocates and loads it: programs sharing an executable section (`sk_lookup`) as GLOBAL
 * FUNC symbols, `.rel<section>` R_BPF_64_64 relocations for map loads against the maps' symbols in `.maps`,
 * BTF-defined maps, `license`, `.BTF` and `.BTF.ext` (func_info and line_info pointing at the TypeScript source).
 * Optional subprograms go to `.text` as static functions (R_BPF_64_32 calls, as clang emits for `static __noinline`).
 * DWARF is not written: libbpf and the kernel need only BTF.
 */
import { type Instruction, encode, EncodeError, isPseudoCall } from "../asm/index.ts";
import {
  type BtfExt,
  BtfBuilder,
  BtfKind,
  type ExtLineInfo,
  IntEncoding,
  Linkage,
  StringTable,
  addMapDefinition,
  addProgramFunc,
  addSkLookupCtx,
  addTypeNames,
  encodeBtf,
  encodeBtfExt,
} from "../btf/index.ts";
import type { IrMap, IrType } from "../ir/ir.ts";
import {
  type ElfRel,
  type SectionSpec,
  type SymbolSpec,
  R_BPF_64_32,
  R_BPF_64_64,
  SHF_ALLOC,
  SHF_EXECINSTR,
  SHF_INFO_LINK,
  SHF_WRITE,
  SHN_ABS,
  SHT_PROGBITS,
  SHT_REL,
  SHT_STRTAB,
  SHT_SYMTAB,
  STB_GLOBAL,
  STB_LOCAL,
  STT_FILE,
  STT_FUNC,
  STT_OBJECT,
  STT_SECTION,
  buildElf,
  encodeRels,
  encodeSymbols,
} from "./elf64.ts";
import { ObjectError } from "./object.ts";

/** One program to write: its symbol name, ELF section and emitted-form instructions (see compiler/asm). */
export interface ProgramInput {
  name: string;
  /** ELF section; libbpf derives the program type from it. Default `sk_lookup`. */
  section?: string;
  insns: Instruction[];
}

/**
 * A local function called by programs through BPF-to-BPF calls (`callLocal(name)` from compiler/asm). It is written
 * to `.text` as a static function, like clang's `static __noinline` functions; libbpf appends it to every program
 * that calls it. Arguments arrive in r1..r5 and the result leaves in r0.
 */
export interface SubprogramInput {
  name: string;
  insns: Instruction[];
  /** Parameter names, for its BTF prototype (each typed as a 64-bit integer). */
  params?: string[];
}

/** Everything {@link writeObject} needs. */
export interface ObjectInput {
  /** TS source path, stored as the file name of line info records. */
  fileName: string;
  /** The source text; line info stores each referenced line's text. */
  source?: string;
  license: string;
  programs: ProgramInput[];
  maps: IrMap[];
  /** Local functions reached by BPF-to-BPF calls (optional; the backend currently inlines local functions). */
  subprograms?: SubprogramInput[];
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DEFAULT_SECTION = "sk_lookup";

/** A program section being laid out: its programs' bytes, relocations, func and line info. */
interface SectionPlan {
  name: string;
  chunks: Uint8Array[];
  size: number;
  funcs: { name: string; offset: number; size: number }[];
  mapRelocs: { offset: number; map: string }[];
  /** BPF-to-BPF calls: the call at byte `offset` goes to subprogram `target`. */
  calls: { offset: number; target: string }[];
  lineInfo: ExtLineInfo[];
}

function checkInput(input: ObjectInput): void {
  if (input.programs.length === 0) throw new ObjectError("an object needs at least one program");
  // `_license` is the license variable's symbol; nothing else may take it.
  const names = new Set<string>(["_license"]);
  for (const p of input.programs) {
    if (!IDENT.test(p.name)) throw new ObjectError(`program name '${p.name}' is not a C identifier`);
    if (names.has(p.name)) throw new ObjectError(p.name === "_license" ? "'_license' is reserved for the license symbol" : `program '${p.name}' is defined twice`);
    names.add(p.name);
    if (p.insns.length === 0) throw new ObjectError(`program '${p.name}' has no instructions`);
    const section = p.section ?? DEFAULT_SECTION;
    if (!section || section.startsWith(".") || section === "license" || section === "maps") {
      throw new ObjectError(`program '${p.name}': '${section}' cannot be a program section`);
    }
  }
  for (const f of input.subprograms ?? []) {
    if (!IDENT.test(f.name)) throw new ObjectError(`subprogram name '${f.name}' is not a C identifier`);
    if (f.name === "_license") throw new ObjectError("'_license' is reserved for the license symbol");
    if (names.has(f.name)) throw new ObjectError(`'${f.name}' names both a subprogram and a program or another subprogram`);
    names.add(f.name);
    if (f.insns.length === 0) throw new ObjectError(`subprogram '${f.name}' has no instructions`);
    if ((f.params?.length ?? 0) > 5) throw new ObjectError(`subprogram '${f.name}' has ${f.params!.length} parameters; BPF passes at most 5`);
  }
  for (const m of input.maps) {
    if (!IDENT.test(m.name)) throw new ObjectError(`map name '${m.name}' is not a C identifier`);
    if (m.name === "_license") throw new ObjectError("'_license' is reserved for the license symbol");
    if (names.has(m.name)) throw new ObjectError(`'${m.name}' names both a map and a program or another map`);
    names.add(m.name);
    // The kernel checks BTF key/value sizes against key_size/value_size; a mismatch would make libbpf drop the BTF.
    for (const [what, t, size] of [["key", m.keyType, m.keySize], ["value", m.valueType, m.valueSize]] as const) {
      if (t && irTypeSize(t) !== size) throw new ObjectError(`map '${m.name}': ${what} type is ${irTypeSize(t)} bytes but ${what} size is ${size}`);
    }
    for (const [what, n] of [["max_entries", m.maxEntries], ["key size", m.keySize], ["value size", m.valueSize], ["type", m.type]] as const) {
      if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new ObjectError(`map '${m.name}': ${what} ${n} is not a u32`);
    }
  }
  if (input.license.includes("\0")) throw new ObjectError("the license string contains a NUL byte");
}

/** Size in bytes of a C-layout IR type. */
function irTypeSize(t: IrType): number {
  switch (t.kind) {
    case "int":
      return t.bytes;
    case "bool":
      return 1;
    case "array":
      return irTypeSize(t.elem) * t.length;
    case "struct":
      return t.size;
  }
}

/** Source line `line` (1-based) of `lines`, without a trailing CR; "" when unknown. */
const lineText = (lines: string[] | undefined, line: number): string => (lines?.[line - 1] ?? "").replace(/\r$/, "");

/** What every function placement needs to know about the whole object. */
interface PlaceContext {
  lines: string[] | undefined;
  mapNames: Set<string>;
  subprogramNames: Set<string>;
  /** True when some instruction of the object has a location: then every function needs a line record at its start. */
  anyLoc: boolean;
  fileName: string;
}

/**
 * Encodes one function (program or subprogram) into its section plan: bytes, map relocations, calls to subprograms and
 * line info (one record where the source line changes, like clang).
 */
function placeFunction(plan: SectionPlan, f: { name: string; insns: Instruction[] }, what: string, ctx: PlaceContext): void {
  let enc;
  try {
    enc = encode(f.insns);
  } catch (err) {
    if (err instanceof EncodeError) throw new ObjectError(`${what} '${f.name}': ${err.message}`);
    throw err;
  }
  const offset = plan.size;
  for (const r of enc.relocations) {
    if (r.kind === "call") {
      if (!ctx.subprogramNames.has(r.symbol)) throw new ObjectError(`${what} '${f.name}': call to '${r.symbol}', which is neither a label in it nor a subprogram`);
      plan.calls.push({ offset: offset + r.slot * 8, target: r.symbol });
      continue;
    }
    if (!ctx.mapNames.has(r.symbol)) throw new ObjectError(`${what} '${f.name}': instruction at slot ${r.slot} refers to unknown map '${r.symbol}'`);
    plan.mapRelocs.push({ offset: offset + r.slot * 8, map: r.symbol });
    // Like clang, leave src_reg 0 in the object: libbpf sets BPF_PSEUDO_MAP_FD when it applies the relocation.
    enc.bytes[r.slot * 8 + 1]! &= 0x0f;
  }
  // A call to a label inside the function would need its own FUNC symbol for libbpf to split it out: refuse it.
  f.insns.forEach((insn, i) => {
    if (isPseudoCall(insn) && (insn.target === undefined || enc.labels.has(insn.target))) {
      throw new ObjectError(`${what} '${f.name}': BPF-to-BPF call at instruction ${i} must name a subprogram, not a label inside the function`);
    }
  });
  // The kernel requires a line info record at the first instruction of every function once a program has any.
  const firstLoc = f.insns.find((i) => i.loc)?.loc;
  let last: { file: string; line: number } | undefined;
  f.insns.forEach((insn, i) => {
    let loc = i === 0 ? (insn.loc ?? firstLoc) : insn.loc;
    if (i === 0 && !loc && ctx.anyLoc) loc = { file: ctx.fileName, line: 0, column: 0 };
    if (!loc || (loc.line <= 0 && i !== 0)) return;
    if (last && last.file === loc.file && last.line === loc.line) return;
    last = { file: loc.file, line: loc.line };
    plan.lineInfo.push({ insnOff: offset + enc.slots[i]! * 8, file: loc.file, text: lineText(ctx.lines, loc.line), line: loc.line, column: loc.column });
  });
  plan.chunks.push(enc.bytes);
  plan.funcs.push({ name: f.name, offset, size: enc.bytes.length });
  plan.size += enc.bytes.length;
}

/** Concatenated bytes of a plan. */
function planBytes(plan: SectionPlan): Uint8Array {
  const data = new Uint8Array(plan.size);
  let at = 0;
  for (const c of plan.chunks) {
    data.set(c, at);
    at += c.length;
  }
  return data;
}

/** What the BTF step hands to the ELF layout. */
interface ObjectBtf {
  btfBytes: Uint8Array;
  btfExtBytes: Uint8Array;
  /** Each map's VAR id and place in `.maps`. */
  mapVars: { name: string; varId: number; offset: number; size: number }[];
  mapsSize: number;
  /** The license string with its NUL. */
  licenseBytes: Uint8Array;
}

/**
 * `.BTF` and `.BTF.ext` of the object: map definitions first (in declaration order, as clang emits them), then the
 * context struct and one FUNC per program and subprogram, then the license variable and the DATASECs; func_info and
 * line_info of every code section in `codePlans`.
 */
function objectBtf(input: ObjectInput, codePlans: SectionPlan[]): ObjectBtf {
  const subprograms = input.subprograms ?? [];
  const b = new BtfBuilder();
  const mapVars: ObjectBtf["mapVars"] = [];
  let mapsSize = 0;
  for (const m of input.maps) {
    const { varId, size } = addMapDefinition(b, m);
    mapVars.push({ name: m.name, varId, offset: mapsSize, size });
    mapsSize += size;
  }
  const ctxPtr = addSkLookupCtx(b);
  const funcIds = new Map(input.programs.map((p) => [p.name, addProgramFunc(b, p.name, ctxPtr)]));
  if (subprograms.length) {
    // Static functions: the kernel takes their argument types from the caller's registers, so 64-bit integers do.
    const long = b.add({ kind: BtfKind.INT, name: "long", size: 8, bits: 64, offset: 0, encoding: IntEncoding.SIGNED });
    const u64 = b.add({ kind: BtfKind.INT, name: "unsigned long long", size: 8, bits: 64, offset: 0, encoding: IntEncoding.NONE });
    for (const f of subprograms) {
      const proto = b.add({ kind: BtfKind.FUNC_PROTO, name: "", returnType: long, params: (f.params ?? []).map((name) => ({ name, type: u64 })) });
      funcIds.set(f.name, b.add({ kind: BtfKind.FUNC, name: f.name, type: proto, linkage: Linkage.STATIC }));
    }
  }
  const licenseBytes = new TextEncoder().encode(`${input.license}\0`);
  const char = b.add({ kind: BtfKind.INT, name: "char", size: 1, bits: 8, offset: 0, encoding: IntEncoding.SIGNED });
  const index = b.add({ kind: BtfKind.INT, name: "__ARRAY_SIZE_TYPE__", size: 4, bits: 32, offset: 0, encoding: IntEncoding.NONE });
  const licArr = b.add({ kind: BtfKind.ARRAY, name: "", type: char, indexType: index, nelems: licenseBytes.length });
  const licVar = b.add({ kind: BtfKind.VAR, name: "_license", type: licArr, linkage: Linkage.GLOBAL });
  // DATASEC sizes and offsets are final here (clang leaves them 0 for libbpf to fix up from the symbol table).
  if (input.maps.length) {
    b.add({ kind: BtfKind.DATASEC, name: ".maps", size: mapsSize, vars: mapVars.map((v) => ({ type: v.varId, offset: v.offset, size: v.size })) });
  }
  b.add({ kind: BtfKind.DATASEC, name: "license", size: licenseBytes.length, vars: [{ type: licVar, offset: 0, size: licenseBytes.length }] });

  const ext: BtfExt = {
    funcInfo: codePlans.map((s) => ({ section: s.name, records: s.funcs.map((f) => ({ insnOff: f.offset, typeId: funcIds.get(f.name)! })) })),
    lineInfo: codePlans.filter((s) => s.lineInfo.length).map((s) => ({ section: s.name, records: s.lineInfo })),
  };
  // One string table for both sections: type names first, then section names, file names and line text.
  const strings = new StringTable();
  addTypeNames(b.types, strings);
  const btfExtBytes = encodeBtfExt(ext, strings);
  return { btfBytes: encodeBtf(b.types, strings), btfExtBytes, mapVars, mapsSize, licenseBytes };
}

/** Writes a relocatable ELF64 BPF object (see the module comment for its layout). Bad input throws ObjectError. */
export function writeObject(input: ObjectInput): Uint8Array {
  checkInput(input);
  const subprograms = input.subprograms ?? [];
  const ctx: PlaceContext = {
    lines: input.source?.split("\n"),
    mapNames: new Set(input.maps.map((m) => m.name)),
    subprogramNames: new Set(subprograms.map((f) => f.name)),
    anyLoc: [...input.programs, ...subprograms].some((f) => f.insns.some((i) => i.loc)),
    fileName: input.fileName,
  };
  const newPlan = (name: string): SectionPlan => ({ name, chunks: [], size: 0, funcs: [], mapRelocs: [], calls: [], lineInfo: [] });
  const text = newPlan(".text");
  for (const f of subprograms) placeFunction(text, f, "subprogram", ctx);
  const plans: SectionPlan[] = [];
  for (const p of input.programs) {
    const name = p.section ?? DEFAULT_SECTION;
    let plan = plans.find((s) => s.name === name);
    if (!plan) plans.push((plan = newPlan(name)));
    placeFunction(plan, p, "program", ctx);
  }
  const textBytes = planBytes(text);
  const textOffset = (name: string): number => text.funcs.find((f) => f.name === name)!.offset;
  // Calls inside .text are resolved here, as clang does for static functions; calls from program sections keep a
  // R_BPF_64_32 relocation against the .text section symbol with imm = callee slot - 1 (libbpf adds 1 back).
  for (const c of text.calls) new DataView(textBytes.buffer).setInt32(c.offset + 4, (textOffset(c.target) - c.offset) / 8 - 1, true);

  const codePlans = subprograms.length ? [text, ...plans] : plans;
  const { btfBytes, btfExtBytes, mapVars, mapsSize, licenseBytes } = objectBtf(input, codePlans);

  // Section indexes (the NULL section is 0): .strtab, .text, then each program section and its .rel, ...
  const specs: (SectionSpec & { index: number })[] = [];
  const add = (s: SectionSpec): number => {
    specs.push({ ...s, index: specs.length + 1 });
    return specs.length;
  };
  const strtabIdx = add({ name: ".strtab", type: SHT_STRTAB, data: new Uint8Array(0), addralign: 1 });
  const textIdx = add({ name: ".text", type: SHT_PROGBITS, flags: SHF_ALLOC | SHF_EXECINSTR, data: textBytes, addralign: textBytes.length ? 8 : 4 });
  const secIdx = new Map<string, number>([[".text", textIdx]]);
  const relSpecs: { plan: SectionPlan; index: number }[] = [];
  const addRel = (plan: SectionPlan): void => {
    if (plan.mapRelocs.length || (plan !== text && plan.calls.length)) {
      relSpecs.push({ plan, index: add({ name: `.rel${plan.name}`, type: SHT_REL, flags: SHF_INFO_LINK, data: new Uint8Array(0), addralign: 8, entsize: 16, info: secIdx.get(plan.name)! }) });
    }
  };
  addRel(text);
  for (const plan of plans) {
    const data = planBytes(plan);
    for (const c of plan.calls) new DataView(data.buffer).setInt32(c.offset + 4, textOffset(c.target) / 8 - 1, true);
    secIdx.set(plan.name, add({ name: plan.name, type: SHT_PROGBITS, flags: SHF_ALLOC | SHF_EXECINSTR, data, addralign: 8 }));
    addRel(plan);
  }
  const mapsIdx = input.maps.length ? add({ name: ".maps", type: SHT_PROGBITS, flags: SHF_WRITE | SHF_ALLOC, data: new Uint8Array(mapsSize), addralign: 8 }) : 0;
  const licIdx = add({ name: "license", type: SHT_PROGBITS, flags: SHF_WRITE | SHF_ALLOC, data: licenseBytes, addralign: 1 });
  add({ name: ".BTF", type: SHT_PROGBITS, data: btfBytes, addralign: 4 });
  add({ name: ".BTF.ext", type: SHT_PROGBITS, data: btfExtBytes, addralign: 4 });
  const symtabIdx = add({ name: ".symtab", type: SHT_SYMTAB, data: new Uint8Array(0), addralign: 8, entsize: 24, link: strtabIdx });

  // Symbols: locals (file, section symbols) first, then the globals, as ELF requires.
  const base = input.fileName.split(/[\\/]/).pop() || input.fileName;
  const locals: SymbolSpec[] = [
    { name: base, value: 0, size: 0, bind: STB_LOCAL, type: STT_FILE, shndx: SHN_ABS },
    ...codePlans.map((p) => ({ name: "", value: 0, size: 0, bind: STB_LOCAL, type: STT_SECTION, shndx: secIdx.get(p.name)! })),
    ...text.funcs.map((f) => ({ name: f.name, value: f.offset, size: f.size, bind: STB_LOCAL, type: STT_FUNC, shndx: textIdx })),
  ];
  const globals: SymbolSpec[] = [];
  for (const plan of plans) {
    for (const f of plan.funcs) globals.push({ name: f.name, value: f.offset, size: f.size, bind: STB_GLOBAL, type: STT_FUNC, shndx: secIdx.get(plan.name)! });
  }
  for (const v of mapVars) globals.push({ name: v.name, value: v.offset, size: v.size, bind: STB_GLOBAL, type: STT_OBJECT, shndx: mapsIdx });
  globals.push({ name: "_license", value: 0, size: licenseBytes.length, bind: STB_GLOBAL, type: STT_OBJECT, shndx: licIdx });
  const symbols = [...locals, ...globals];
  const symIndex = (name: string): number => symbols.findIndex((s) => s.name === name && s.type === STT_OBJECT) + 1;
  const textSym = symbols.findIndex((s) => s.type === STT_SECTION && s.shndx === textIdx) + 1;

  const strtab = new StringTable();
  const symtabBytes = encodeSymbols(symbols, (s) => strtab.add(s));
  for (const { plan, index } of relSpecs) {
    const rels: ElfRel[] = [
      ...plan.mapRelocs.map((r) => ({ offset: r.offset, symbol: symIndex(r.map), type: R_BPF_64_64 })),
      ...(plan === text ? [] : plan.calls.map((c) => ({ offset: c.offset, symbol: textSym, type: R_BPF_64_32 }))),
    ].sort((a, b) => a.offset - b.offset);
    specs[index - 1]!.data = encodeRels(rels);
    specs[index - 1]!.link = symtabIdx;
  }
  const symtab = specs[symtabIdx - 1]!;
  symtab.data = symtabBytes;
  symtab.info = locals.length + 1;
  const nameOffsets = specs.map((s) => strtab.add(s.name));
  specs[strtabIdx - 1]!.data = strtab.bytes();
  return buildElf(specs, strtabIdx, nameOffsets);
}
