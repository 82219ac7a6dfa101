/**
 * `tsbpf objdump FILE.o` — disassembles every program of a BPF ELF object (ours or clang's), linked as libbpf would
 * load it, in llvm-objdump-16's instruction layout, with the source lines from BTF line info interleaved like
 * `llvm-objdump -S` and map relocations shown under the ld_imm64 that receives the map. A global-data reference (an
 * ld_imm64 the reader rewrote to BPF_PSEUDO_MAP_VALUE) reads `rN = <offset> ll` with `R_BPF_64_64 <section>+<offset>
 * (map value)` under it, so the listing names the variable's section and offset, not the encoding.
 */
import { disassemble } from "../asm/index.ts";
import { MAP_TYPE_NAMES } from "../abi/maps.ts";
import { decodeBtf, formatBtf } from "../btf/index.ts";
import { type ObjectFile, type ObjProgram, ObjectError, readObject } from "../elf/index.ts";
import { InputError, MAX_OBJECT_BYTES, printableName, printableText, readBoundedFile } from "../bounded-input.ts";
import { UsageError, parseArgs } from "./usage.ts";

const HELP = `usage: tsbpf objdump FILE.o [--btf]

Disassembles every program of a BPF ELF object (compiled by tsbpf or clang), with subprograms linked after the
program that calls them, as libbpf loads them. Source lines from BTF line info are shown as '; <line>', map
relocations as 'R_BPF_64_64 <map>' under the instruction that loads the map, and references to global variables as
'R_BPF_64_64 <section>+<offset> (map value)'. The object's maps are listed at the end; global-data maps (one per
.rodata/.data/.bss section, as libbpf creates them) are marked as such.

options:
  --btf     also print the object's BTF types (as 'bpftool btf dump file' does)
  --help    show this help
`;

const hex16 = (n: number): string => n.toString(16).padStart(16, "0");

/** The functions of a linked program (from func_info; the program alone when there is none), by start slot. */
function functions(p: ObjProgram): { slot: number; name: string }[] {
  // Names come from the object: escaped, so that none can print a fake line or a terminal escape sequence.
  const fns = p.funcInfo.map((f) => ({ slot: f.slot, name: printableName(f.name) }));
  if (!fns.some((f) => f.slot === 0)) fns.unshift({ slot: 0, name: printableName(p.name) });
  return fns.sort((a, b) => a.slot - b.slot);
}

/** One program's listing: a header per function, source lines, instructions, relocations. */
export function formatProgram(p: ObjProgram): string[] {
  const fns = functions(p);
  const fnAt = (pc: number): { slot: number; name: string } => fns.filter((f) => f.slot <= pc).pop() ?? fns[0]!;
  const starts = new Map(fns.map((f) => [f.slot, f.name]));
  const relocs = new Map(p.mapRelocs.map((r) => [r.slot, r]));
  const lines = new Map(p.lineInfo.map((l) => [l.slot, l]));
  const target = (pc: number): string => {
    const f = fnAt(pc);
    const off = (pc - f.slot) * 8;
    return off ? `${f.name}+0x${off.toString(16)}` : f.name;
  };
  const out: string[] = [];
  const text = disassemble(p.insns, p.bytes, { target });
  let lastLine: string | undefined;
  for (const line of text) {
    const pc = Number(line.slice(0, line.indexOf(":")));
    const fn = starts.get(pc);
    if (fn !== undefined) {
      if (pc !== 0) out.push("");
      out.push(`${hex16(pc * 8)} <${fn}>:`);
      lastLine = undefined;
    }
    const src = lines.get(pc);
    if (src && src.line > 0) {
      const key = `${src.file}:${src.line}`;
      if (key !== lastLine) out.push(`; ${printableText(src.text)}`);
      lastLine = key;
    }
    const reloc = relocs.get(pc);
    if (reloc?.kind === "value") {
      // The encoding (src 2, offset in the second slot) would print as offset << 32; show the offset itself.
      const off = `0x${(reloc.offset ?? 0).toString(16)}`;
      out.push(line.replace(/= -?0x[0-9a-f]+ ll$/, `= ${off} ll`), `\t\tR_BPF_64_64\t${printableName(reloc.map)}+${off} (map value)`);
    } else {
      out.push(line);
      if (reloc) out.push(`\t\tR_BPF_64_64\t${printableName(reloc.map)}`);
    }
  }
  return out;
}

/** The maps section of the listing. */
export function formatMaps(obj: ObjectFile): string[] {
  if (obj.maps.length === 0) return [];
  const rows = obj.maps.map((m) => [
    printableName(m.name),
    MAP_TYPE_NAMES.get(m.type) ?? `type ${m.type}`,
    `key ${m.keySize}`,
    `value ${m.valueSize}`,
    `max_entries ${m.maxEntries}`,
    `flags 0x${m.flags.toString(16)}`,
    ...(m.pinning ? ["pinned by name"] : []),
    ...(m.initialValue ? [m.frozen ? "global data, frozen" : "global data"] : []),
  ]);
  // reduce, not Math.max(...): a hostile object may declare more maps than a call can take arguments.
  const widths = rows[0]!.map((_, i) => rows.reduce((w, r) => Math.max(w, (r[i] ?? "").length), 0));
  return ["Maps:", ...rows.map((r) => `  ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ").trimEnd()}`)];
}

/** The whole listing of an object, as `tsbpf objdump` prints it (`btf`: append the BTF types). */
export function formatObject(obj: ObjectFile, fileName: string, opts: { btf?: boolean } = {}): string {
  const out = ["", `${fileName}:\tfile format elf64-bpf`, `license: ${JSON.stringify(obj.license)}`];
  for (const p of obj.programs) {
    out.push("", `Disassembly of program ${printableName(p.name)} (section ${printableName(p.section)}, ${p.insns.length} slots):`, "");
    for (const line of formatProgram(p)) out.push(line);
  }
  const maps = formatMaps(obj);
  if (maps.length) out.push("", ...maps);
  if (opts.btf) out.push("", "BTF:", obj.btf ? formatBtf(decodeBtf(obj.btf)).trimEnd() : "(none)");
  return `${out.join("\n")}\n`;
}

/** Entry point: exit 0 on success, 1 when the file cannot be read or parsed, 2 for bad usage. */
export async function run(args: string[]): Promise<number> {
  const { positionals, options } = parseArgs(args, [], ["--help", "-h", "--btf"]);
  if (options.has("--help") || options.has("-h")) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length ? "expects exactly one object file" : "missing FILE.o (see --help)");
  const file = positionals[0]!;
  let obj: ObjectFile;
  try {
    obj = readObject(readBoundedFile(file, MAX_OBJECT_BYTES));
  } catch (err) {
    if (err instanceof InputError) {
      process.stderr.write(`tsbpf objdump: ${file}: ${err.message}\n`); // InputError says why in words ("no such file")
      return 1;
    }
    if (err instanceof ObjectError) {
      process.stderr.write(`tsbpf objdump: ${file}: ${printableText(err.message)}\n`);
      return 1;
    }
    const e = err as NodeJS.ErrnoException;
    if (typeof e?.code === "string") {
      process.stderr.write(`tsbpf objdump: ${file}: ${e.code === "ENOENT" ? "no such file" : e.code === "EISDIR" ? "is a directory" : e.message}\n`);
      return 1;
    }
    throw err;
  }
  process.stdout.write(formatObject(obj, file, { btf: options.has("--btf") }));
  return 0;
}
