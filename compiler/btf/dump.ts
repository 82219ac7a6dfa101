/**
 * Text form of a decoded BTF, line for line what `bpftool btf dump file X` (raw format) prints, so tests can check
 * the decoder against libbpf and `tsbpf objdump --btf` reads like the tool users know.
 */
import type { Btf } from "./decode.ts";
import { BTF_KIND_NAMES, BtfKind, type BtfType } from "./types.ts";

const q = (name: string): string => `'${name || "(anon)"}'`;
const LINKAGE = ["static", "global", "extern"];

function intEncoding(enc: number): string {
  switch (enc) {
    case 0:
      return "(none)";
    case 1:
      return "SIGNED";
    case 2:
      return "CHAR";
    case 4:
      return "BOOL";
    default:
      return "UNKN";
  }
}

/** One type (id `id`) as bpftool prints it: a header line, then one tab-indented line per member/param/entry. */
export function formatBtfType(btf: Btf, id: number, t: BtfType): string[] {
  const head = `[${id}] ${BTF_KIND_NAMES[t.kind] ?? "UNKN"} ${q(t.name)}`;
  switch (t.kind) {
    case BtfKind.INT:
      return [`${head} size=${t.size} bits_offset=${t.offset} nr_bits=${t.bits} encoding=${intEncoding(t.encoding)}`];
    case BtfKind.PTR:
    case BtfKind.TYPEDEF:
    case BtfKind.VOLATILE:
    case BtfKind.CONST:
    case BtfKind.RESTRICT:
    case BtfKind.TYPE_TAG:
      return [`${head} type_id=${t.type}`];
    case BtfKind.ARRAY:
      return [`${head} type_id=${t.type} index_type_id=${t.indexType} nr_elems=${t.nelems}`];
    case BtfKind.STRUCT:
    case BtfKind.UNION:
      return [
        `${head} size=${t.size} vlen=${t.members.length}`,
        ...t.members.map((m) => `\t${q(m.name)} type_id=${m.type} bits_offset=${m.bitOffset}${m.bitfieldSize ? ` bitfield_size=${m.bitfieldSize}` : ""}`),
      ];
    case BtfKind.ENUM:
      return [
        `${head} encoding=${t.signed ? "SIGNED" : "UNSIGNED"} size=${t.size} vlen=${t.values.length}`,
        ...t.values.map((e) => `\t${q(e.name)} val=${t.signed ? e.value : e.value >>> 0}`),
      ];
    case BtfKind.ENUM64:
      return [
        `${head} encoding=${t.signed ? "SIGNED" : "UNSIGNED"} size=${t.size} vlen=${t.values.length}`,
        ...t.values.map((e) => `\t${q(e.name)} val=${e.value}${t.signed ? "LL" : "ULL"}`),
      ];
    case BtfKind.FWD:
      return [`${head} fwd_kind=${t.union ? "union" : "struct"}`];
    case BtfKind.FUNC:
      return [`${head} type_id=${t.type} linkage=${LINKAGE[t.linkage] ?? "(unknown)"}`];
    case BtfKind.FUNC_PROTO:
      return [`${head} ret_type_id=${t.returnType} vlen=${t.params.length}`, ...t.params.map((p) => `\t${q(p.name)} type_id=${p.type}`)];
    case BtfKind.VAR:
      return [`${head} type_id=${t.type}, linkage=${LINKAGE[t.linkage] ?? "(unknown)"}`];
    case BtfKind.DATASEC:
      return [
        `${head} size=${t.size} vlen=${t.vars.length}`,
        ...t.vars.map((v) => {
          const target = btf.types[v.type];
          return `\ttype_id=${v.type} offset=${v.offset} size=${v.size} (${target ? `${BTF_KIND_NAMES[target.kind]} ${q(target.name)}` : "UNKN '(anon)'"})`;
        }),
      ];
    case BtfKind.FLOAT:
      return [`${head} size=${t.size}`];
    case BtfKind.DECL_TAG:
      return [`${head} type_id=${t.type} component_idx=${t.componentIdx}`];
  }
}

/** The whole BTF, one type after the other, ending with a newline (like bpftool's output). */
export function formatBtf(btf: Btf): string {
  const lines: string[] = [];
  btf.types.forEach((t, id) => {
    if (t) for (const line of formatBtfType(btf, id, t)) lines.push(line);
  });
  return lines.length ? `${lines.join("\n")}\n` : "";
}
