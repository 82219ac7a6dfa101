/**
 * Global data in clang objects, as the ELF reader turns it into libbpf's internal maps: one ARRAY map per
 * .rodata* / .data* / .bss section, and every reference rewritten to a BPF_PSEUDO_MAP_VALUE lddw with the offset in
 * the second slot. Fixtures: test/fixtures/c/rodata.o (a bpf_printk format) and globaldata.o (all three sections).
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { BtfKind, decodeBtf } from "../../compiler/btf/index.ts";
import { MapType } from "../../compiler/abi/maps.ts";
import { formatObject } from "../../compiler/cli/objdump.ts";
import { internalMapName, objectNameOf } from "../../compiler/elf/global-data.ts";
import { parseElf } from "../../compiler/elf/elf64.ts";
import { ObjectError, readObject } from "../../compiler/elf/index.ts";

const C = new URL("../fixtures/c/", import.meta.url);
const bytes = (f: string): Uint8Array => new Uint8Array(readFileSync(new URL(f, C)));
const hex = (b: Uint8Array | undefined): string => Buffer.from(b ?? []).toString("hex");
/** The raw 16 bytes of the lddw at `slot`. */
const lddwHex = (p: { bytes: Uint8Array }, slot: number): string => hex(p.bytes.subarray(slot * 8, slot * 8 + 16));

describe("global data: reader", () => {
  it("rodata.o: the format string becomes a frozen, read-only .rodata map referenced by a MAP_VALUE lddw", () => {
    const obj = readObject(bytes("rodata.o"));
    expect(obj.maps).toHaveLength(1);
    const [m] = obj.maps;
    expect({ ...m, initialValue: undefined }).toEqual({
      name: ".rodata",
      type: MapType.ARRAY,
      keySize: 4,
      valueSize: 27,
      maxEntries: 1,
      flags: 0x480, // BPF_F_MMAPABLE | BPF_F_RDONLY_PROG, as libbpf 1.1 creates it (bpftool map show)
      pinning: 0,
      valueTypeId: m!.valueTypeId,
      initialValue: undefined,
      frozen: true,
      vars: [{ name: "trace_rodata.____fmt", offset: 0, size: 27, typeId: m!.vars![0]!.typeId }],
    });
    expect(new TextDecoder().decode(m!.initialValue)).toBe("sk_lookup proto %u port %u\0");
    // valueTypeId is the DATASEC of the section, as libbpf records it.
    const btf = decodeBtf(obj.btf!);
    expect(btf.types[m!.valueTypeId!]).toMatchObject({ kind: BtfKind.DATASEC, name: ".rodata" });
    const [p] = obj.programs;
    expect(p!.mapRelocs).toEqual([{ slot: 2, map: ".rodata", kind: "value", offset: 0 }]);
    // r1 = lddw with src_reg 2 (BPF_PSEUDO_MAP_VALUE), imm 0 (the loader's fd), second imm 0 (offset).
    expect(lddwHex(p!, 2)).toBe("18210000000000000000000000000000");
    expect(p!.insns[2]).toMatchObject({ opcode: 0x18, dst: 1, src: 2, imm: 0 });
  });

  it("globaldata.o: .rodata, .data and .bss maps with the section bytes, after user maps and in section order", () => {
    const obj = readObject(bytes("globaldata.o"));
    expect(obj.maps.map((m) => [m.name, m.valueSize, m.flags, m.frozen, hex(m.initialValue)])).toEqual([
      // blocked_port = 7008 (0x1b60), then the 18-byte format "call %llu port %u\0" at offset 4.
      [".rodata", 22, 0x480, true, `601b0000${hex(new TextEncoder().encode("call %llu port %u\0"))}`],
      // calls = 100 (u64) at 0, static runs = 1 (u32) at 8.
      [".data", 12, 0x400, false, "640000000000000001000000"],
      // .bss is NOBITS: zeros, 16 bytes (last_port at 0, printed at 8).
      [".bss", 16, 0x400, false, "00".repeat(16)],
    ]);
    // The variables, from the section's symbols (offsets) and the DATASEC's VARs (types).
    expect(obj.maps.map((m) => m.vars!.map((v) => [v.name, v.offset, v.size]))).toEqual([
      [["blocked_port", 0, 4], ["count_globals.____fmt", 4, 18]],
      [["calls", 0, 8], ["runs", 8, 4]],
      [["last_port", 0, 4], ["printed", 8, 8]],
    ]);
    const btf = decodeBtf(obj.btf!);
    for (const v of obj.maps.flatMap((m) => m.vars!)) expect(v.typeId, v.name).toBeGreaterThan(0);
    expect(btf.types[obj.maps[2]!.vars![1]!.typeId]).toMatchObject({ kind: BtfKind.INT, name: "long" });
    // Each initial value is a copy, not a view into the caller's buffer.
    const data = obj.maps[1]!.initialValue!;
    expect(data.byteOffset).toBe(0);
    expect(data.buffer.byteLength).toBe(12);
  });

  it("globaldata.o: every relocation kind gets libbpf's offset (symbol value + original imm)", () => {
    const [p] = readObject(bytes("globaldata.o")).programs;
    expect(p!.mapRelocs).toEqual([
      { slot: 1, map: ".data", kind: "value", offset: 8 }, // static runs: section symbol .data, imm 8
      { slot: 8, map: ".data", kind: "value", offset: 0 }, // global calls: its own symbol, value 0
      { slot: 13, map: ".bss", kind: "value", offset: 0 }, // last_port
      { slot: 17, map: ".rodata", kind: "value", offset: 4 }, // the format: section symbol .rodata, imm 4
      { slot: 21, map: ".bss", kind: "value", offset: 8 }, // printed: symbol value 8, imm 0
      { slot: 25, map: ".rodata", kind: "value", offset: 0 }, // blocked_port
    ]);
    for (const r of p!.mapRelocs) {
      const view = new DataView(p!.bytes.buffer, p!.bytes.byteOffset + r.slot * 8, 16);
      expect(view.getUint8(1) >> 4, `slot ${r.slot} src_reg`).toBe(2);
      expect(view.getInt32(4, true), `slot ${r.slot} imm`).toBe(0);
      expect(view.getInt32(12, true), `slot ${r.slot} second imm`).toBe(r.offset);
    }
  });

  it("an unreferenced .rodata.str1.1 still becomes a map, after the .maps maps (features.o, as libbpf does)", () => {
    const obj = readObject(bytes("features.o"));
    const names = obj.maps.map((m) => m.name);
    expect(names[names.length - 1]).toBe(".rodata.str1.1");
    expect(obj.maps.filter((m) => m.initialValue).map((m) => m.name)).toEqual([".rodata.str1.1"]);
    expect(obj.programs.flatMap((p) => p.mapRelocs).some((r) => r.kind === "value")).toBe(false);
  });

  it("refuses a reference whose offset falls before the section (a negative addend)", () => {
    const copy = bytes("globaldata.o");
    const elf = parseElf(copy);
    const text = elf.sections.find((s) => s.name === "sk_lookup")!;
    // The format's lddw (slot 17) relocates against the .rodata section symbol with imm 4; make the imm -100.
    new DataView(copy.buffer, copy.byteOffset).setInt32(text.offset + 17 * 8 + 4, -100, true);
    expect(() => readObject(copy)).toThrow(ObjectError);
    expect(() => readObject(copy)).toThrow(/offset 136 \(function 'count_globals'\): reference to '\.rodata' at offset -100 of \.rodata is out of range/);
  });

  it("refuses a .bss too large to allocate, and mutated copies of globaldata.o give only checked ObjectErrors, quickly", () => {
    const copy = bytes("globaldata.o");
    const elf = parseElf(copy);
    const bss = elf.sections.find((s) => s.name === ".bss")!;
    // Section header entry sh_size (offset 32 within the 64-byte header).
    const shoff = Number(new DataView(copy.buffer, copy.byteOffset).getBigUint64(0x28, true));
    new DataView(copy.buffer, copy.byteOffset).setBigUint64(shoff + bss.index * 64 + 32, 0x7fffffffn, true);
    expect(() => readObject(copy)).toThrow("section .bss is 2147483647 bytes; global data larger than 67108864 bytes is not supported");

    let seed = 7;
    const rnd = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const base = bytes("globaldata.o");
    let rejected = 0;
    for (let i = 0; i < 500; i++) {
      const b = base.slice();
      for (let e = 0; e < 1 + Math.floor(rnd() * 4); e++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      const t0 = performance.now();
      try {
        readObject(b);
      } catch (err) {
        expect(err).toBeInstanceOf(ObjectError);
        expect((err as Error).message).not.toMatch(/^malformed object:/);
        rejected++;
      }
      expect(performance.now() - t0).toBeLessThan(250);
    }
    expect(rejected).toBeGreaterThan(10);
  });

  it("names internal maps as libbpf does (checked against bpftool in run.test.ts)", () => {
    expect(internalMapName("globaldata", ".rodata")).toBe("globalda.rodata");
    expect(internalMapName("globaldata", ".data")).toBe("globalda.data");
    expect(internalMapName("globaldata", ".bss")).toBe("globalda.bss");
    expect(internalMapName("rodata", ".rodata")).toBe("rodata.rodata");
    expect(internalMapName("ab", ".bss")).toBe("ab.bss");
    // A second dot: the section name alone; at most 15 characters; characters the kernel refuses become '_'.
    expect(internalMapName("features", ".rodata.str1.1")).toBe(".rodata.str1.1");
    expect(internalMapName("x", ".rodata.a_very_long_name")).toBe(".rodata.a_very_");
    expect(internalMapName("my-obj", ".bss")).toBe("my_obj.bss");
    expect(objectNameOf("/tmp/dir.d/globaldata.o")).toBe("globaldata");
    expect(objectNameOf("x.bpf.o")).toBe("x");
    expect(objectNameOf("plain")).toBe("plain");
  });
});

describe("global data: objdump", () => {
  it("shows each reference as its section and offset, and marks global-data maps", async () => {
    const text = formatObject(readObject(bytes("globaldata.o")), "globaldata.o");
    await expect(text).toMatchFileSnapshot("__snapshots__/objdump-globaldata.txt");
    expect(text).toContain("\t18 21 00 00 00 00 00 00 00 00 00 00 08 00 00 00\tr1 = 0x8 ll\n\t\tR_BPF_64_64\t.data+0x8 (map value)\n");
    expect(text).toContain("r1 = 0x4 ll\n\t\tR_BPF_64_64\t.rodata+0x4 (map value)\n");
    expect(text).toMatch(/^ {2}\.rodata +array +key 4 +value 22 +max_entries 1 +flags 0x480 +global data, frozen$/m);
    expect(text).toMatch(/^ {2}\.bss +array +key 4 +value 16 +max_entries 1 +flags 0x400 +global data$/m);
    // Map relocations keep their old form.
    expect(formatObject(readObject(bytes("basic.o")), "basic.o")).toMatch(/r1 = 0x0 ll\n\t\tR_BPF_64_64\tsockets\n/);
  });
});
