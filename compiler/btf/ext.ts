/**
 * `.BTF.ext`: per-section func_info and line_info records (libbpf's btf_ext format). Instruction offsets are in
 * bytes from the start of the ELF section, as clang writes them in object files; names and source text are offsets
 * into the `.BTF` string section. CO-RE relocation records are decoded (so readers can refuse them) but never
 * written: the header announces an empty subsection, as clang's does for code without CO-RE.
 */
import type { StringTable } from "./strings.ts";
import { readCString } from "./strings.ts";
import { BTF_MAGIC, BTF_VERSION, BtfError } from "./types.ts";

/** Header size we write: with the core_relo fields, as clang 16 does. */
export const BTF_EXT_HEADER_SIZE = 32;
/** Size of `struct bpf_func_info`. */
export const FUNC_INFO_SIZE = 8;
/** Size of `struct bpf_line_info`. */
export const LINE_INFO_SIZE = 16;
/** Columns take the low 10 bits of `line_col`; lines the upper 22. */
export const LINE_COL_BITS = 10;

/** One func_info record: the function starting `insnOff` bytes into its section has BTF FUNC `typeId`. */
export interface ExtFuncInfo {
  insnOff: number;
  typeId: number;
}

/** One line_info record: the instruction at `insnOff` bytes comes from `file`:`line`:`column`, whose text is `text`. */
export interface ExtLineInfo {
  insnOff: number;
  file: string;
  text: string;
  line: number;
  column: number;
}

/** Size of `struct bpf_core_relo`. */
export const CORE_RELO_SIZE = 16;

/** One CO-RE relocation record: the instruction at `insnOff` needs `kind` relocation of `access` within `typeId`. */
export interface ExtCoreRelo {
  insnOff: number;
  typeId: number;
  /** Access string, e.g. "0:8" (member indexes). */
  access: string;
  /** `enum bpf_core_relo_kind` (0 = field byte offset, ...). */
  kind: number;
}

/** Records of one ELF section. */
export interface ExtSection<T> {
  section: string;
  records: T[];
}

/** A decoded (or to-be-encoded) `.BTF.ext`. */
export interface BtfExt {
  funcInfo: ExtSection<ExtFuncInfo>[];
  lineInfo: ExtSection<ExtLineInfo>[];
  /** CO-RE relocations (decoded only; the encoder writes none). */
  coreRelo?: ExtSection<ExtCoreRelo>[];
}

/** Packs a line and column the way the kernel's `BPF_LINE_INFO_LINE_NUM`/`_LINE_COL` unpack them. */
export function lineCol(line: number, column: number): number {
  const l = Math.max(0, Math.min(line, (1 << (32 - LINE_COL_BITS)) - 1));
  const c = Math.max(0, Math.min(column, (1 << LINE_COL_BITS) - 1));
  return ((l << LINE_COL_BITS) | c) >>> 0;
}

/** Encodes `.BTF.ext`; section names, file names and line text are added to `strings` (the `.BTF` string table). */
export function encodeBtfExt(ext: BtfExt, strings: StringTable): Uint8Array {
  const sub = (rows: ExtSection<unknown>[], recSize: number): number =>
    rows.length === 0 ? 0 : 4 + rows.reduce((n, s) => n + 8 + recSize * s.records.length, 0);
  const funcLen = sub(ext.funcInfo, FUNC_INFO_SIZE);
  const lineLen = sub(ext.lineInfo, LINE_INFO_SIZE);
  const out = new Uint8Array(BTF_EXT_HEADER_SIZE + funcLen + lineLen);
  const v = new DataView(out.buffer);
  v.setUint16(0, BTF_MAGIC, true);
  v.setUint8(2, BTF_VERSION);
  v.setUint8(3, 0);
  v.setUint32(4, BTF_EXT_HEADER_SIZE, true);
  v.setUint32(8, 0, true);
  v.setUint32(12, funcLen, true);
  v.setUint32(16, funcLen, true);
  v.setUint32(20, lineLen, true);
  v.setUint32(24, funcLen + lineLen, true); // core_relo_off: empty subsection after line info
  v.setUint32(28, 0, true);
  let at = BTF_EXT_HEADER_SIZE;
  const w = (n: number): void => {
    v.setUint32(at, n >>> 0, true);
    at += 4;
  };
  if (funcLen) {
    w(FUNC_INFO_SIZE);
    for (const s of ext.funcInfo) {
      w(strings.add(s.section));
      w(s.records.length);
      for (const r of s.records) {
        w(r.insnOff);
        w(r.typeId);
      }
    }
  }
  if (lineLen) {
    w(LINE_INFO_SIZE);
    for (const s of ext.lineInfo) {
      w(strings.add(s.section));
      w(s.records.length);
      for (const r of s.records) {
        w(r.insnOff);
        w(strings.add(r.file));
        w(strings.add(r.text));
        w(lineCol(r.line, r.column));
      }
    }
  }
  return out;
}

/**
 * Decodes `.BTF.ext`, resolving string offsets against the `.BTF` string section `strings`. Records larger than the
 * known layout (a newer format) are accepted and their extra bytes skipped, as libbpf does.
 */
export function decodeBtfExt(bytes: Uint8Array, strings: Uint8Array): BtfExt {
  if (bytes.length < 24) throw new BtfError(`.BTF.ext is ${bytes.length} bytes, shorter than its minimal 24-byte header`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = v.getUint16(0, true);
  if (magic !== BTF_MAGIC) throw new BtfError(`.BTF.ext has magic 0x${magic.toString(16)}, expected 0x${BTF_MAGIC.toString(16)}`);
  if (v.getUint8(2) !== BTF_VERSION) throw new BtfError(`.BTF.ext version ${v.getUint8(2)} is not supported`);
  const hdrLen = v.getUint32(4, true);
  if (hdrLen < 24 || hdrLen > bytes.length) throw new BtfError(`.BTF.ext header length ${hdrLen} is out of range`);
  const str = (off: number, what: string): string => {
    const s = readCString(strings, off);
    if (s === undefined) throw new BtfError(`.BTF.ext ${what}: string offset ${off} is outside the .BTF string section`);
    return s;
  };
  const body = bytes.length - hdrLen;
  const parse = <T>(name: string, off: number, len: number, minRec: number, rec: (at: number) => T): ExtSection<T>[] => {
    if (len === 0) return [];
    if (off + len > body || off + len < off) throw new BtfError(`.BTF.ext ${name} (offset ${off}, ${len} bytes) runs past the end (${body} bytes)`);
    let at = hdrLen + off;
    const end = at + len;
    if (len < 4) throw new BtfError(`.BTF.ext ${name} is too short for its record size`);
    const recSize = v.getUint32(at, true);
    at += 4;
    if (recSize < minRec || recSize % 4 !== 0 || recSize > 256) throw new BtfError(`.BTF.ext ${name} record size ${recSize} is invalid (minimum ${minRec})`);
    const out: ExtSection<T>[] = [];
    while (at < end) {
      if (at + 8 > end) throw new BtfError(`.BTF.ext ${name}: section header at offset ${at - hdrLen} is truncated`);
      const section = str(v.getUint32(at, true), `${name} section name`);
      const count = v.getUint32(at + 4, true);
      at += 8;
      if (count === 0) throw new BtfError(`.BTF.ext ${name}: section ${section} has no records`);
      if (count > (end - at) / recSize) throw new BtfError(`.BTF.ext ${name}: section ${section} claims ${count} records but only ${Math.floor((end - at) / recSize)} fit`);
      const records: T[] = [];
      for (let i = 0; i < count; i++, at += recSize) records.push(rec(at));
      out.push({ section, records });
    }
    return out;
  };
  const funcInfo = parse("func_info", v.getUint32(8, true), v.getUint32(12, true), FUNC_INFO_SIZE, (at) => ({
    insnOff: v.getUint32(at, true),
    typeId: v.getUint32(at + 4, true),
  }));
  const lineInfo = parse("line_info", v.getUint32(16, true), v.getUint32(20, true), LINE_INFO_SIZE, (at) => {
    const lc = v.getUint32(at + 12, true);
    return {
      insnOff: v.getUint32(at, true),
      file: str(v.getUint32(at + 4, true), "line_info file name"),
      text: str(v.getUint32(at + 8, true), "line_info line text"),
      line: lc >>> LINE_COL_BITS,
      column: lc & ((1 << LINE_COL_BITS) - 1),
    };
  });
  // core_relo_off/len exist only in headers of 32 bytes or more.
  const coreRelo =
    hdrLen >= 32
      ? parse("core_relo", v.getUint32(24, true), v.getUint32(28, true), CORE_RELO_SIZE, (at) => ({
          insnOff: v.getUint32(at, true),
          typeId: v.getUint32(at + 4, true),
          access: str(v.getUint32(at + 8, true), "core_relo access string"),
          kind: v.getUint32(at + 12, true),
        }))
      : [];
  return { funcInfo, lineInfo, ...(coreRelo.length ? { coreRelo } : {}) };
}
