import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Reg, Size, decode, disassemble, encode, exit, ldx, mov64, callLocal, withLabel } from "../../compiler/asm/index.ts";
import { BPF_F_NO_PREALLOC, MapType } from "../../compiler/abi/maps.ts";
import { ObjectError, readObject, writeObject, type ObjectInput } from "../../compiler/elf/index.ts";
import { parseElf } from "../../compiler/elf/elf64.ts";
import type { IrType } from "../../compiler/ir/ir.ts";
import { decodeBtf, formatBtf } from "../../compiler/btf/index.ts";
import { describeKernel } from "../support/kernel.ts";
import { FILE, SOURCE, countProto, redirPort, sampleInput, sampleMaps, subprogramInput, u32, u64 } from "./programs.ts";
import { ok, run, tempDir, uniquePin } from "./helpers.ts";

const tmp = tempDir();
afterAll(() => tmp.cleanup());

/** Writes `input` to a file in the temp dir and returns its path. */
function objectFile(name: string, input: ObjectInput = sampleInput()): string {
  const path = join(tmp.dir, name);
  writeFileSync(path, writeObject(input));
  return path;
}

describe("writeObject layout", () => {
  const bytes = writeObject(sampleInput());
  const elf = parseElf(bytes);

  it("has the sections clang emits (minus DWARF), with clang's flags", () => {
    expect(elf.sections.map((s) => [s.name, s.type, s.flags, s.addralign])).toEqual([
      ["", 0, 0, 0],
      [".strtab", 3, 0, 1],
      [".text", 1, 6, 4],
      ["sk_lookup", 1, 6, 8],
      [".relsk_lookup", 9, 0x40, 8],
      [".maps", 1, 3, 8],
      ["license", 1, 3, 1],
      [".BTF", 1, 0, 4],
      [".BTF.ext", 1, 0, 4],
      [".symtab", 2, 0, 8],
    ]);
  });

  it("has one GLOBAL FUNC per program with its offset and size, and an OBJECT per map", () => {
    const syms = elf.symbols.filter((s) => s.bind === 1).map((s) => [s.name, s.type, s.value, s.size, elf.sections[s.shndx]!.name]);
    const redirBytes = encode(redirPort()).bytes.length;
    expect(syms).toEqual([
      ["redir_port", 2, 0, redirBytes, "sk_lookup"],
      ["count_proto", 2, redirBytes, encode(countProto()).bytes.length, "sk_lookup"],
      ["sockets", 1, 0, 32, ".maps"],
      ["hits", 1, 32, 32, ".maps"],
      ["_license", 1, 0, 4, "license"],
    ]);
  });

  it("relocates every map load with R_BPF_64_64 and leaves src_reg 0 like clang", () => {
    const rels = elf.rels.get(3)!;
    expect(rels.map((r) => [r.offset, r.type, elf.symbols[r.symbol]!.name])).toEqual([
      [8 * 8, 1, "hits"],
      [18 * 8, 1, "sockets"],
      [encode(redirPort()).bytes.length + 7 * 8, 1, "hits"],
    ]);
    const code = elf.sections[3]!.data;
    for (const r of rels) expect([code[r.offset], code[r.offset + 1]! >> 4]).toEqual([0x18, 0]);
  });

  it("reads back as the same programs, maps, relocations, func and line info", () => {
    const obj = readObject(bytes);
    expect(obj.license).toBe("GPL");
    expect(obj.maps.map((m) => [m.name, m.type, m.keySize, m.valueSize, m.maxEntries, m.flags, m.pinning])).toEqual([
      ["sockets", MapType.SOCKMAP, 4, 8, 32, 0, 0],
      ["hits", MapType.ARRAY, 4, 8, 4, 0, 0],
    ]);
    const [redir, count] = obj.programs;
    const enc = encode(redirPort());
    enc.bytes[8 * 8 + 1]! &= 0x0f;
    enc.bytes[18 * 8 + 1]! &= 0x0f;
    expect(redir!.bytes).toEqual(enc.bytes);
    expect(redir!.insns).toEqual(decode(enc.bytes));
    expect(redir!.mapRelocs).toEqual([{ slot: 8, map: "hits" }, { slot: 18, map: "sockets" }]);
    expect(redir!.funcInfo).toEqual([{ slot: 0, name: "redir_port", typeId: expect.any(Number) }]);
    expect(count!.funcInfo[0]!.name).toBe("count_proto");
    // One record per source line change, each with that line's text.
    expect(redir!.lineInfo.map((l) => [l.slot, l.line, l.column, l.text])).toEqual([
      [0, 4, 35, "export function redir_port(ctx: SkLookup) {"],
      [1, 5, 3, "  if (ctx.localPort !== 7007) return SK_PASS;"],
      [4, 6, 3, "  hits.increment(0);"],
      [14, 7, 3, "  const sk = sockets.lookup(0);"],
      [22, 8, 3, "  if (!sk) return SK_PASS;"],
      [24, 9, 3, "  const err = ctx.assign(sk);"],
      [31, 10, 3, "  return err ? SK_DROP : SK_PASS;"],
      [34, 11, 1, "}"],
    ]);
    expect(redir!.lineInfo.every((l) => l.file === FILE)).toBe(true);
  });

  it("gives LPM tries BPF_F_NO_PREALLOC and encodes struct keys, key_size and pinning", () => {
    const key: IrType = { kind: "struct", name: "Key", size: 12, align: 4, fields: [
      { name: "prefixLen", offset: 0, type: u32 },
      { name: "port", offset: 4, type: { kind: "int", name: "u16", bytes: 2, signed: false } },
      { name: "addr", offset: 8, type: { kind: "array", elem: { kind: "int", name: "u8", bytes: 1, signed: false }, length: 4 } },
    ] };
    const obj = readObject(writeObject({
      ...sampleInput(),
      maps: [
        ...sampleMaps(),
        { name: "trie", type: MapType.LPM_TRIE, keySize: 12, valueSize: 4, maxEntries: 16, flags: 0, pinning: 0, keyType: key, valueType: u32 },
        { name: "odd", type: MapType.HASH, keySize: 3, valueSize: 1, maxEntries: 2, flags: 0, pinning: 1, valueType: { kind: "bool" } },
      ],
    }));
    expect(obj.maps.slice(2).map((m) => [m.name, m.keySize, m.valueSize, m.flags, m.pinning])).toEqual([
      ["trie", 12, 4, BPF_F_NO_PREALLOC, 0],
      ["odd", 3, 1, 0, 1],
    ]);
  });

  it("turns TypeScript-only identifier characters in struct and field names into ones the kernel accepts", () => {
    const key: IrType = { kind: "struct", name: "Key$1", size: 4, align: 4, fields: [{ name: "$port", offset: 0, type: u32 }] };
    const obj = readObject(writeObject({ ...sampleInput(), maps: [...sampleMaps(), { name: "m", type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 1, flags: 0, pinning: 0, keyType: key, valueType: u64 }] }));
    const btf = decodeBtf(obj.btf!);
    const t = btf.types[obj.maps[2]!.keyTypeId!]!;
    expect(t).toMatchObject({ name: "Key_1", members: [{ name: "_port" }] });
  });

  it("is deterministic: the same input gives the same bytes", () => {
    expect(writeObject(sampleInput())).toEqual(bytes);
  });

  it("puts programs in their own sections; a function without locations still gets a line record at its start", () => {
    const strip = (insns: ReturnType<typeof countProto>) => insns.map(({ loc: _l, ...i }) => i);
    const obj = readObject(writeObject({ ...sampleInput(), source: undefined, programs: [
      { name: "a", insns: countProto() },
      { name: "b", section: "sk_lookup_b", insns: strip(countProto()) },
      { name: "c", insns: countProto().map((i, n) => (n === 0 ? { ...i, loc: undefined } : i)) },
    ] }));
    expect(obj.programs.map((p) => [p.name, p.section, p.lineInfo.length])).toEqual([["a", "sk_lookup", 2], ["c", "sk_lookup", 2], ["b", "sk_lookup_b", 1]]);
    // The kernel wants a record at every function start once a program has line info; b gets a line-0 record.
    expect(obj.programs[2]!.lineInfo).toEqual([{ slot: 0, file: FILE, text: "", line: 0, column: 0 }]);
    // Without source text the records keep their positions with empty text; the first instruction always has one.
    expect(obj.programs[1]!.lineInfo.map((l) => [l.slot, l.line, l.text])).toEqual([[0, 13, ""], [13, 14, ""]]);
    expect(obj.programs[2]!.funcInfo).toEqual([{ slot: 0, name: "b", typeId: expect.any(Number) }]);
  });

  it("writes subprograms to .text as static functions, called through R_BPF_64_32 like clang", () => {
    const sub = writeObject(subprogramInput());
    const e = parseElf(sub);
    const text = e.sections.find((x) => x.name === ".text")!;
    const sk = e.sections.find((x) => x.name === "sk_lookup")!;
    expect(e.symbols.filter((x) => x.type === 2).map((x) => [x.name, x.bind, e.sections[x.shndx]!.name, x.value])).toEqual([
      ["bump", 0, ".text", 0],
      ["bump_proto", 0, ".text", 88],
      ["count_sub", 1, "sk_lookup", 0],
      ["count_three", 1, "sk_lookup", 32],
    ]);
    // Program → subprogram: relocation against the .text section symbol, imm = callee slot - 1.
    const rels = e.rels.get(sk.index)!;
    expect(rels.map((r) => [r.offset, r.type, e.symbols[r.symbol]!.type, e.symbols[r.symbol]!.shndx])).toEqual([[8, 10, 3, text.index], [40, 10, 3, text.index]]);
    const imm = (data: Uint8Array, off: number) => new DataView(data.buffer, data.byteOffset).getInt32(off + 4, true);
    expect(imm(sk.data, 8)).toBe(88 / 8 - 1);
    expect(imm(sk.data, 40)).toBe(-1);
    // Subprogram → subprogram inside .text: resolved, no relocation (bump_proto's call at .text slot 15 → slot 0).
    expect(imm(text.data, 15 * 8)).toBe(-16);
    expect(e.rels.get(text.index)!.map((r) => r.type)).toEqual([1]);

    const obj = readObject(sub);
    const [countSub, countThree] = obj.programs;
    expect(countSub!.funcInfo.map((f) => [f.slot, f.name])).toEqual([[0, "count_sub"], [4, "bump_proto"], [10, "bump"]]);
    expect(countThree!.funcInfo.map((f) => [f.slot, f.name])).toEqual([[0, "count_three"], [4, "bump"]]);
    expect(countSub!.mapRelocs).toEqual([{ slot: 13, map: "hits" }]);
    // Every function of a linked program starts with a line record, as the kernel requires.
    for (const p of obj.programs) for (const f of p.funcInfo) expect(p.lineInfo.some((l) => l.slot === f.slot)).toBe(true);
  });

  describe("rejects bad input with ObjectError", () => {
    const base = sampleInput();
    const cases: [string, ObjectInput, RegExp][] = [
      ["no programs", { ...base, programs: [] }, /at least one program/],
      ["bad program name", { ...base, programs: [{ name: "a-b", insns: redirPort() }] }, /'a-b' is not a C identifier/],
      ["duplicate program", { ...base, programs: [{ name: "p", insns: countProto() }, { name: "p", insns: countProto() }] }, /'p' is defined twice/],
      ["program named _license", { ...base, programs: [{ name: "_license", insns: countProto() }] }, /'_license' is reserved/],
      ["map named _license", { ...base, maps: [...sampleMaps(), { ...sampleMaps()[1]!, name: "_license" }] }, /'_license' is reserved/],
      ["map named like a program", { ...base, programs: [{ name: "hits", insns: countProto() }] }, /'hits' names both/],
      ["unknown map", { ...base, maps: [] }, /unknown map 'hits'/],
      ["empty program", { ...base, programs: [{ name: "p", insns: [] }] }, /has no instructions/],
      ["bad section", { ...base, programs: [{ name: "p", section: ".text", insns: countProto() }] }, /'.text' cannot be a program section/],
      ["undefined jump label", { ...base, programs: [{ name: "p", insns: [{ ...mov64(0, 1), target: "nowhere", opcode: 0x05 }, exit()] }] }, /undefined label nowhere/],
      ["key type of the wrong size", { ...base, maps: [{ ...sampleMaps()[0]!, keyType: u64 }, sampleMaps()[1]!] }, /map 'sockets': key type is 8 bytes but key size is 4/],
      ["negative max_entries", { ...base, maps: [{ ...sampleMaps()[0]!, maxEntries: -1 }, sampleMaps()[1]!] }, /map 'sockets': max_entries -1 is not a u32/],
      ["BPF-to-BPF call to a label", { ...base, programs: [{ name: "p", insns: [callLocal("f"), exit(), withLabel(mov64(0, 1), "f"), exit()] }] }, /call at instruction 0 must name a subprogram/],
      ["call to an unknown function", { ...base, programs: [{ name: "p", insns: [callLocal("nope"), exit()] }] }, /call to 'nope', which is neither a label in it nor a subprogram/],
      ["subprogram named like a program", { ...base, subprograms: [{ name: "redir_port", insns: [exit()] }] }, /'redir_port' names both a subprogram and a program/],
      ["six parameters", { ...base, subprograms: [{ name: "f", insns: [exit()], params: ["a", "b", "c", "d", "e", "f"] }] }, /at most 5/],
    ];
    it.each(cases)("%s", (_n, input, message) => {
      expect(() => writeObject(input)).toThrow(ObjectError);
      expect(() => writeObject(input)).toThrow(message);
    });
  });
});

describeKernel("objects written by writeObject, checked by the kernel and LLVM tools", () => {
  it("bpftool prog loadall loads both programs as sk_lookup", () => {
    const obj = objectFile("sample.o");
    const pin = uniquePin("loadall");
    try {
      ok("bpftool", ["prog", "loadall", obj, pin]);
      const shown = JSON.parse(ok("bpftool", ["-j", "prog", "show", "pinned", `${pin}/redir_port`]));
      expect(shown).toMatchObject({ type: "sk_lookup", name: "redir_port", gpl_compatible: true });
      expect(shown.map_ids).toHaveLength(2);
      expect(JSON.parse(ok("bpftool", ["-j", "prog", "show", "pinned", `${pin}/count_proto`])).type).toBe("sk_lookup");
      // The kernel keeps our line info: the xlated dump carries the TypeScript lines.
      const xlated = ok("bpftool", ["prog", "dump", "xlated", "pinned", `${pin}/redir_port`, "linum"]);
      expect(xlated).toContain("; if (ctx.localPort !== 7007) return SK_PASS; [file:examples/redirect-port.ts line_num:5 line_col:3]");
    } finally {
      run("rm", ["-rf", pin]);
    }
  });

  it("creates the maps it defines: LPM trie with a struct key (with BTF), hash, pinned by name", () => {
    const key: IrType = { kind: "struct", name: "Key", size: 8, align: 4, fields: [{ name: "prefixLen", offset: 0, type: u32 }, { name: "addr", offset: 4, type: u32 }] };
    const trieObj = objectFile("trie.o", {
      ...sampleInput(),
      maps: [...sampleMaps(), { name: "trie", type: MapType.LPM_TRIE, keySize: 8, valueSize: 4, maxEntries: 16, flags: 0, pinning: 0, keyType: key, valueType: u32 }],
    });
    const pin = uniquePin("maps");
    const mapName = `pinned_${process.pid}`;
    try {
      const r = run("bpftool", ["prog", "loadall", trieObj, pin, "pinmaps", `${pin}_maps`]);
      expect(r.stderr).not.toContain("Retrying without BTF");
      expect(r.stderr + `exit ${r.status}`).toBe("exit 0");
      const trie = JSON.parse(ok("bpftool", ["-j", "map", "show", "pinned", `${pin}_maps/trie`]));
      expect(trie).toMatchObject({ type: "lpm_trie", bytes_key: 8, bytes_value: 4, max_entries: 16, flags: 1 });
      expect(trie.btf_id).toBeGreaterThan(0);
      // LIBBPF_PIN_BY_NAME: libbpf pins the map under /sys/fs/bpf/<name> by itself.
      const pinnedObj = objectFile("pinned.o", {
        ...sampleInput(),
        maps: [...sampleMaps(), { name: mapName, type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 8, flags: 0, pinning: 1, keyType: u32 }],
      });
      const r2 = run("bpftool", ["prog", "loadall", pinnedObj, `${pin}_2`]);
      expect(r2.stderr + `exit ${r2.status}`).toBe("exit 0");
      expect(JSON.parse(ok("bpftool", ["-j", "map", "show", "pinned", `/sys/fs/bpf/${mapName}`]))).toMatchObject({ type: "hash", max_entries: 8 });
    } finally {
      run("rm", ["-rf", pin, `${pin}_2`, `${pin}_maps`, `/sys/fs/bpf/${mapName}`]);
    }
  });

  it("loads programs with BPF-to-BPF calls; the kernel shows each function with its BTF prototype", () => {
    const obj = objectFile("subprograms.o", subprogramInput());
    const pin = uniquePin("sub");
    try {
      ok("bpftool", ["prog", "loadall", obj, pin]);
      const xlated = ok("bpftool", ["prog", "dump", "xlated", "pinned", `${pin}/count_sub`]);
      expect(xlated).toContain("int count_sub(struct bpf_sk_lookup * ctx):");
      expect(xlated).toContain("long bump_proto(unsigned long long proto):");
      expect(xlated).toContain("long bump(unsigned long long idx):");
      expect(xlated).toMatch(/call pc\+\d+#bpf_prog_[0-9a-f]+_bump_proto/);
    } finally {
      run("rm", ["-rf", pin]);
    }
  });

  it("libbpf's static linker (bpftool gen object) accepts our objects, and the linked object loads", () => {
    const linked = join(tmp.dir, "linked.o");
    ok("bpftool", ["gen", "object", linked, objectFile("to-link.o", subprogramInput())]);
    const pin = uniquePin("linked");
    try {
      ok("bpftool", ["prog", "loadall", linked, pin]);
      expect(ok("ls", [pin]).split("\n").filter(Boolean).sort()).toEqual(["count_sub", "count_three"]);
    } finally {
      run("rm", ["-rf", pin]);
    }
    // What the linker wrote reads back like ours.
    expect(readObject(new Uint8Array(readFileSync(linked))).programs.map((p) => p.funcInfo.map((f) => f.name))).toEqual([
      ["count_sub", "bump_proto", "bump"],
      ["count_three", "bump"],
    ]);
  });

  it("bpftool btf dump shows the maps and the function types", () => {
    const out = ok("bpftool", ["btf", "dump", "file", objectFile("btf.o")]);
    expect(out).toMatchSnapshot();
    expect(out).toMatch(/VAR 'sockets' type_id=\d+, linkage=global/);
    expect(out).toMatch(/VAR 'hits' type_id=\d+, linkage=global/);
    expect(out).toMatch(/FUNC 'redir_port' type_id=\d+ linkage=global/);
    expect(out).toMatch(/FUNC 'count_proto' type_id=\d+ linkage=global/);
    expect(out).toMatch(/DATASEC '.maps' size=64 vlen=2/);
    expect(out).toContain("STRUCT 'bpf_sk_lookup' size=72 vlen=10");
    // libbpf reads exactly the types we meant to write.
    expect(formatBtf(decodeBtf(readObject(writeObject(sampleInput())).btf!))).toBe(out);
  });

  it("bpftool gen skeleton output compiles with gcc against libbpf, and the program loads through it", () => {
    const obj = objectFile("sample.o");
    const skel = ok("bpftool", ["gen", "skeleton", obj, "name", "sample"]);
    writeFileSync(join(tmp.dir, "sample.skel.h"), skel);
    writeFileSync(
      join(tmp.dir, "main.c"),
      `#include <stdio.h>
#include <bpf/libbpf.h>
#include "sample.skel.h"
int main(void) {
  struct sample *s = sample__open_and_load();
  if (!s) { fprintf(stderr, "open_and_load failed\\n"); return 1; }
  printf("%d %u %u\\n", bpf_program__fd(s->progs.redir_port) >= 0, bpf_map__max_entries(s->maps.sockets), bpf_map__max_entries(s->maps.hits));
  sample__destroy(s);
  return 0;
}
`,
    );
    const cc = run("gcc", ["-Wall", "-Werror", "-o", "main", "main.c", "-lbpf"], { cwd: tmp.dir });
    expect(cc.stderr).toBe("");
    expect(cc.status).toBe(0);
    expect(ok(join(tmp.dir, "main"), [])).toBe("1 32 4\n");
  });

  it("llvm-objdump-16 -d agrees line by line with our disassembler", () => {
    const path = objectFile("objdump.o");
    const bytes = writeObject(sampleInput());
    const llvm = ok("llvm-objdump-16", ["-d", path]).split("\n").filter((l) => /^\s+\d+:\t/.test(l));
    const ours: string[] = [];
    let base = 0;
    for (const p of readObject(bytes).programs) {
      const name = (pc: number) => `${p.name}+0x${(pc * 8).toString(16)}`;
      for (const line of disassemble(p.insns, p.bytes, { target: name })) {
        const pc = Number(line.slice(0, line.indexOf(":")));
        ours.push(`${String(pc + base).padStart(8)}${line.slice(line.indexOf(":"))}`);
      }
      base += p.insns.length;
    }
    expect(ours).toEqual(llvm);
    expect(ours.length).toBeGreaterThan(40);
  });

  it("when the kernel rejects a program, the verifier log shows the TypeScript source line", () => {
    const loc = (line: number) => ({ file: FILE, line, column: 3 });
    const obj = objectFile("bad.o", {
      fileName: FILE,
      source: SOURCE,
      license: "GPL",
      maps: [],
      programs: [{ name: "bad", insns: [
        { ...mov64(Reg.R0, 1), loc: loc(4) },
        // A 4-byte load at ctx+4 (inside `sk`) is rejected: invalid bpf_context access off=4 size=4.
        { ...ldx(Size.W, Reg.R2, Reg.R1, 4), loc: loc(5) },
        { ...exit(), loc: loc(11) },
      ] }],
    });
    const pin = uniquePin("bad");
    const r = run("bpftool", ["-d", "prog", "load", obj, pin]);
    run("rm", ["-f", pin]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("; if (ctx.localPort !== 7007) return SK_PASS; @ redirect-port.ts:5");
    expect(r.stderr).toContain("invalid bpf_context access off=4 size=4");
  });
});
