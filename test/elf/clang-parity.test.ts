/**
 * "Produce what clang emits": clang's redir.o is taken apart with readObject and written again with writeObject
 * from the same instructions and maps. Code, FUNC/OBJECT symbols, relocations, `.maps` layout, map definitions and
 * the programs' BTF prototypes must come out the same (DWARF and clang's jump-label symbols aside).
 */
import { describe, expect, it } from "vitest";
import { LDDW, type Instruction } from "../../compiler/asm/index.ts";
import { decodeBtf, formatBtf, parseBtfMaps } from "../../compiler/btf/index.ts";
import { readObject, writeObject } from "../../compiler/elf/index.ts";
import { parseElf, STT_FUNC, STT_OBJECT } from "../../compiler/elf/elf64.ts";
import type { IrMap } from "../../compiler/ir/ir.ts";
import { fixture } from "./helpers.ts";

/** Turns a decoded (slot-indexed) program back into emitted form: one entry per lddw, map loads as `mapRef`. */
function emitted(insns: Instruction[], relocs: { slot: number; map: string }[]): Instruction[] {
  const out: Instruction[] = [];
  for (let pc = 0; pc < insns.length; pc++) {
    const insn = { ...insns[pc]! };
    const map = relocs.find((r) => r.slot === pc)?.map;
    if (map) insn.mapRef = map;
    out.push(insn);
    if (insn.opcode === LDDW) pc++;
  }
  return out;
}

describe("writeObject matches clang for the same code (redir.o)", () => {
  const clangBytes = fixture("redir.o");
  const clang = readObject(clangBytes);
  const maps: IrMap[] = clang.maps.map((m) => ({
    ...m,
    keyType: { kind: "int", name: "__u32", bytes: 4, signed: false },
    valueType: { kind: "int", name: "__u64", bytes: 8, signed: false },
  }));
  const oursBytes = writeObject({
    fileName: "redir.c",
    license: clang.license,
    maps,
    programs: clang.programs.map((p) => ({ name: p.name, section: p.section, insns: emitted(p.insns, p.mapRelocs) })),
  });
  const a = parseElf(clangBytes);
  const b = parseElf(oursBytes);
  const section = (e: typeof a, name: string) => e.sections.find((s) => s.name === name)!;

  it("has the same program code and .maps size", () => {
    expect(section(b, "sk_lookup").data).toEqual(section(a, "sk_lookup").data);
    expect(section(b, ".maps").size).toBe(section(a, ".maps").size);
    expect(section(b, "license").data).toEqual(section(a, "license").data.subarray(0, section(b, "license").size));
  });

  it("has the same function and object symbols", () => {
    const syms = (e: typeof a) =>
      e.symbols
        .filter((s) => s.type === STT_FUNC || s.type === STT_OBJECT)
        .map((s) => [s.name, s.type, s.bind, e.sections[s.shndx]!.name, s.value, s.size])
        .sort((x, y) => String(x[0]).localeCompare(String(y[0])));
    expect(syms(b)).toEqual(syms(a));
  });

  it("has the same relocations", () => {
    const rels = (e: typeof a) => e.rels.get(section(e, "sk_lookup").index)!.map((r) => [r.offset, r.type, e.symbols[r.symbol]!.name]);
    expect(rels(b)).toEqual(rels(a));
  });

  it("defines the same maps and the same program prototypes in BTF", () => {
    const btfA = decodeBtf(section(a, ".BTF").data);
    const btfB = decodeBtf(section(b, ".BTF").data);
    const defs = (btf: typeof btfA) => parseBtfMaps(btf).map(({ keyTypeId: _k, valueTypeId: _v, datasecOffset: _d, ...m }) => m);
    expect(defs(btfB)).toEqual(defs(btfA));
    // The prototype and context struct lines, with type ids blanked.
    const protoLines = (btf: typeof btfA) =>
      formatBtf(btf)
        .split("\n")
        .filter((l) => /FUNC |FUNC_PROTO|'ctx'|STRUCT 'bpf_sk_lookup'|^\t'(family|protocol|remote_ip4|remote_ip6|remote_port|local_ip4|local_ip6|local_port|ingress_ifindex)'/.test(l))
        .map((l) => l.replace(/^\[\d+\]/, "[]").replace(/type_id=\d+/g, "type_id=N"));
    expect(protoLines(btfB)).toEqual(protoLines(btfA));
  });
});
