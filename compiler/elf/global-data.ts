/**
 * Global data in BPF objects: libbpf turns every `.rodata*` and `.data*` section (PROGBITS, non-empty) and `.bss`
 * (`.bss.*` too) into an internal ARRAY map of one element whose value is the whole section, and makes the program
 * reach a variable through a BPF_PSEUDO_MAP_VALUE lddw (map fd + offset in the value). This module finds those
 * sections and describes their maps; the reader (reader.ts) rewrites the lddws, the VM and the kernel loader create
 * and fill the maps.
 *
 * What libbpf 1.1.2 does here (checked with `bpftool prog loadall` + `bpftool map show` on this kernel):
 * - value size = section size, key size 4, max_entries 1;
 * - map_flags BPF_F_MMAPABLE, plus BPF_F_RDONLY_PROG for `.rodata*`, which it also freezes (BPF_MAP_FREEZE) after
 *   writing the initial bytes;
 * - maps are created after the `.maps` maps, in section order, even when no program references them;
 * - kernel map name: see {@link internalMapName}.
 */
import { BtfKind, type Btf } from "../btf/index.ts";
import { BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, type GlobalVar, MapType, type MapDef } from "../abi/maps.ts";
import { type ElfFile, type ElfSection, SHF_EXECINSTR, SHT_NOBITS, SHT_PROGBITS, STT_OBJECT } from "./elf64.ts";
import { ObjectError } from "./object.ts";

/**
 * Largest `.bss` accepted (ours, not the kernel's: it took a 256 MiB mmapable array here). A NOBITS section has no
 * bytes in the file, so a malformed header could otherwise make the reader allocate gigabytes of zeros.
 */
export const MAX_BSS_SIZE = 64 << 20;

/** The three kinds of global-data sections. */
export type GlobalDataKind = "rodata" | "data" | "bss";

const hasPrefix = (name: string, base: string): boolean => name === base || name.startsWith(`${base}.`);

/** The kind of global data `sec` holds, or undefined when libbpf would not make a map of it. */
export function globalDataKind(sec: ElfSection): GlobalDataKind | undefined {
  if (sec.size === 0) return undefined;
  if (sec.type === SHT_NOBITS) return hasPrefix(sec.name, ".bss") ? "bss" : undefined;
  if (sec.type !== SHT_PROGBITS || sec.flags & SHF_EXECINSTR) return undefined;
  if (hasPrefix(sec.name, ".rodata")) return "rodata";
  if (hasPrefix(sec.name, ".data")) return "data";
  return undefined;
}

/** True for a map definition that describes global data (it carries the section's bytes). */
export const isGlobalDataMap = (def: MapDef): boolean => def.initialValue !== undefined;

/**
 * The internal map of every global-data section of `elf`, keyed by section index, in section order. The map is
 * named after its section (`.rodata`, `.data`, `.bss`, `.rodata.str1.1`), as libbpf's `bpf_map__name`-independent
 * "real name"; {@link internalMapName} gives the name libbpf shows the kernel.
 */
export function globalDataMaps(elf: ElfFile, btf: Btf | undefined): Map<number, MapDef> {
  const out = new Map<number, MapDef>();
  for (const sec of elf.sections) {
    const kind = globalDataKind(sec);
    if (!kind) continue;
    if (kind === "bss" && sec.size > MAX_BSS_SIZE) throw new ObjectError(`section ${sec.name} is ${sec.size} bytes; global data larger than ${MAX_BSS_SIZE} bytes is not supported`);
    const rodata = kind === "rodata";
    // Copy: the object model must not alias the caller's file buffer, and loaders may keep it.
    const initialValue = kind === "bss" ? new Uint8Array(sec.size) : sec.data.slice();
    const datasec = btf ? btf.types.findIndex((t) => t?.kind === BtfKind.DATASEC && t.name === sec.name) : -1;
    out.set(sec.index, {
      name: sec.name,
      type: MapType.ARRAY,
      keySize: 4,
      valueSize: sec.size,
      maxEntries: 1,
      flags: BPF_F_MMAPABLE | (rodata ? BPF_F_RDONLY_PROG : 0),
      pinning: 0,
      ...(datasec > 0 ? { valueTypeId: datasec } : {}),
      initialValue,
      frozen: rodata,
      vars: variablesOf(elf, sec, btf, datasec),
    });
  }
  return out;
}

/**
 * The variables of a data section: its sized OBJECT symbols, by offset (clang leaves the DATASEC's offsets at 0 for
 * libbpf to fill in, so the symbols are authoritative), typed from the DATASEC's VAR of the same name when present.
 * Overlapping or out-of-section symbols are left out.
 */
function variablesOf(elf: ElfFile, sec: ElfSection, btf: Btf | undefined, datasec: number): GlobalVar[] {
  const varTypes = new Map<string, number>();
  const ds = btf && datasec > 0 ? btf.types[datasec] : undefined;
  if (btf && ds?.kind === BtfKind.DATASEC) {
    for (const v of ds.vars) {
      const t = btf.types[v.type];
      if (t?.kind === BtfKind.VAR) varTypes.set(t.name, t.type);
    }
  }
  const syms = elf.symbols
    .filter((s) => s.shndx === sec.index && s.type === STT_OBJECT && s.size > 0 && s.value + s.size <= sec.size)
    .sort((a, b) => a.value - b.value);
  const out: GlobalVar[] = [];
  for (const s of syms) {
    const last = out[out.length - 1];
    if (last && s.value < last.offset + last.size) continue;
    // A function-scope static is `fn.name` in the symbol table and `name` in BTF.
    const typeId = varTypes.get(s.name) ?? varTypes.get(s.name.slice(s.name.lastIndexOf(".") + 1)) ?? 0;
    out.push({ name: s.name, offset: s.value, size: s.size, typeId });
  }
  return out;
}

/** BPF_OBJ_NAME_LEN: the kernel keeps 15 characters and a NUL. */
const OBJ_NAME_LEN = 16;

/**
 * The kernel-visible name libbpf gives the internal map of section `section` in an object named `objectName` (the file
 * name up to its first dot, e.g. `globaldata` for globaldata.o): as much of the object name as fits before the
 * section name, which keeps at least 7 characters (`globalda.rodata`, `globalda.bss`); a section name with a second
 * dot (`.rodata.str1.1`) is used alone. Characters the kernel refuses become `_`.
 */
export function internalMapName(objectName: string, section: string): string {
  const sfx = Math.min(Math.max(7, section.length), OBJ_NAME_LEN - 1);
  const pfx = section.indexOf(".", 1) >= 0 ? 0 : Math.min(OBJ_NAME_LEN - sfx - 1, objectName.length);
  return (objectName.slice(0, pfx) + section.slice(0, sfx)).replace(/[^A-Za-z0-9_.]/g, "_");
}

/** libbpf's object name for a file path: the base name up to its first dot. */
export function objectNameOf(path: string): string {
  const base = path.slice(path.lastIndexOf("/") + 1);
  const dot = base.indexOf(".");
  return dot < 0 ? base : base.slice(0, dot);
}
