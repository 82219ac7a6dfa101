/**
 * BTF for program loads: the object's raw .BTF goes to BPF_BTF_LOAD, and each program's func/line info (from
 * .BTF.ext, already rebased to the linked program by the reader) is re-encoded as the kernel's bpf_func_info and
 * bpf_line_info records. With them the kernel annotates verifier logs and `bpftool prog dump xlated` with source
 * lines (the TypeScript ones for our objects). Strings are referenced by offset into .BTF's string section, so they
 * are looked up there; a program whose strings cannot all be found gets no line info.
 */
import type { ObjProgram } from "../../compiler/elf/object.ts";

const BTF_MAGIC = 0xeb9f;

/** Offsets of every string in a raw .BTF blob's string section, or null when the header is not BTF. */
export function btfStringOffsets(btf: Uint8Array): Map<string, number> | null {
  if (btf.length < 24) return null;
  const v = new DataView(btf.buffer, btf.byteOffset, btf.byteLength);
  if (v.getUint16(0, true) !== BTF_MAGIC) return null;
  const hdrLen = v.getUint32(4, true);
  const strOff = v.getUint32(16, true);
  const strLen = v.getUint32(20, true);
  const start = hdrLen + strOff;
  if (start + strLen > btf.length) return null;
  const out = new Map<string, number>();
  const dec = new TextDecoder();
  let at = 0;
  while (at < strLen) {
    let end = at;
    while (end < strLen && btf[start + end] !== 0) end++;
    const s = dec.decode(btf.subarray(start + at, start + end));
    if (!out.has(s)) out.set(s, at);
    at = end + 1;
  }
  return out;
}

/** bpf_func_info records ({insn_off, type_id}, 8 bytes each) of a linked program. */
export function encodeFuncInfo(prog: ObjProgram): Uint8Array {
  const out = new Uint8Array(prog.funcInfo.length * 8);
  const v = new DataView(out.buffer);
  prog.funcInfo.forEach((f, i) => {
    v.setUint32(i * 8, f.slot, true);
    v.setUint32(i * 8 + 4, f.typeId, true);
  });
  return out;
}

/**
 * bpf_line_info records ({insn_off, file_name_off, line_off, line_col}, 16 bytes each), or null when a file name or
 * line text is missing from the string section.
 */
export function encodeLineInfo(prog: ObjProgram, strings: Map<string, number>): Uint8Array | null {
  const out = new Uint8Array(prog.lineInfo.length * 16);
  const v = new DataView(out.buffer);
  for (let i = 0; i < prog.lineInfo.length; i++) {
    const l = prog.lineInfo[i]!;
    const file = strings.get(l.file);
    const text = strings.get(l.text);
    if (file === undefined || text === undefined) return null;
    v.setUint32(i * 16, l.slot, true);
    v.setUint32(i * 16 + 4, file, true);
    v.setUint32(i * 16 + 8, text, true);
    // line_col: line number in the upper 22 bits, column in the lower 10 (BPF_LINE_INFO_LINE_NUM/LINE_COL).
    v.setUint32(i * 16 + 12, ((l.line << 10) | Math.min(l.column, 0x3ff)) >>> 0, true);
  }
  return out;
}
