import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  BtfBuilder,
  BtfError,
  BtfKind,
  type BtfType,
  IntEncoding,
  Linkage,
  StringTable,
  decodeBtf,
  decodeBtfExt,
  encodeBtf,
  encodeBtfExt,
  formatBtf,
  lineCol,
  resolveSize,
  skipModifiers,
  parseBtfMaps,
} from "../../compiler/btf/index.ts";
import { parseElf } from "../../compiler/elf/elf64.ts";

const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`../fixtures/elf/${name}`, import.meta.url)));
const section = (obj: Uint8Array, name: string) => parseElf(obj).sections.find((s) => s.name === name)!.data;

/** One type of every kind the kernel defines, referring to each other by id. */
function allKinds(): BtfType[] {
  return [
    /* 1 */ { kind: BtfKind.INT, name: "int", size: 4, bits: 32, offset: 0, encoding: IntEncoding.SIGNED },
    /* 2 */ { kind: BtfKind.PTR, name: "", type: 1 },
    /* 3 */ { kind: BtfKind.ARRAY, name: "", type: 1, indexType: 1, nelems: 7 },
    /* 4 */ {
      kind: BtfKind.STRUCT,
      name: "pair",
      size: 8,
      kindFlag: false,
      members: [
        { name: "a", type: 1, bitOffset: 0 },
        { name: "b", type: 1, bitOffset: 32 },
      ],
    },
    /* 5 */ {
      kind: BtfKind.UNION,
      name: "bits",
      size: 4,
      kindFlag: true,
      members: [
        { name: "lo", type: 1, bitOffset: 0, bitfieldSize: 3 },
        { name: "hi", type: 1, bitOffset: 3, bitfieldSize: 29 },
      ],
    },
    /* 6 */ { kind: BtfKind.ENUM, name: "color", size: 4, signed: true, values: [{ name: "RED", value: -1 }, { name: "GREEN", value: 2 }] },
    /* 7 */ { kind: BtfKind.FWD, name: "later", union: true },
    /* 8 */ { kind: BtfKind.TYPEDEF, name: "int_t", type: 1 },
    /* 9 */ { kind: BtfKind.VOLATILE, name: "", type: 8 },
    /* 10 */ { kind: BtfKind.CONST, name: "", type: 9 },
    /* 11 */ { kind: BtfKind.RESTRICT, name: "", type: 2 },
    /* 12 */ { kind: BtfKind.FUNC_PROTO, name: "", returnType: 1, params: [{ name: "x", type: 10 }, { name: "", type: 0 }] },
    /* 13 */ { kind: BtfKind.FUNC, name: "f", type: 12, linkage: Linkage.GLOBAL },
    /* 14 */ { kind: BtfKind.VAR, name: "v", type: 4, linkage: Linkage.GLOBAL },
    /* 15 */ { kind: BtfKind.DATASEC, name: ".data", size: 8, vars: [{ type: 14, offset: 0, size: 8 }] },
    /* 16 */ { kind: BtfKind.FLOAT, name: "double", size: 8 },
    /* 17 */ { kind: BtfKind.DECL_TAG, name: "tag", type: 4, componentIdx: 1 },
    /* 18 */ { kind: BtfKind.TYPE_TAG, name: "user", type: 1 },
    /* 19 */ { kind: BtfKind.ENUM64, name: "big", size: 8, signed: false, values: [{ name: "HUGE", value: 0xfedcba9876543210n }] },
  ];
}

describe("BTF encoder/decoder", () => {
  it("round-trips a type of every kind", () => {
    const types = allKinds();
    const decoded = decodeBtf(encodeBtf(types));
    expect(decoded.types.slice(1)).toEqual(types);
  });

  it("deduplicates strings and keeps offset 0 for the empty string", () => {
    const t = new StringTable();
    expect(t.add("")).toBe(0);
    const a = t.add("sockets");
    expect(t.add("sockets")).toBe(a);
    expect(t.add("hits")).toBe(a + "sockets".length + 1);
    expect(new TextDecoder().decode(t.bytes())).toBe("\0sockets\0hits\0");
  });

  it("builder reuses identical types but not FUNC_PROTOs (as clang)", () => {
    const b = new BtfBuilder();
    const i1 = b.add({ kind: BtfKind.INT, name: "int", size: 4, bits: 32, offset: 0, encoding: IntEncoding.SIGNED });
    const i2 = b.add({ kind: BtfKind.INT, name: "int", size: 4, bits: 32, offset: 0, encoding: IntEncoding.SIGNED });
    const p1 = b.add({ kind: BtfKind.FUNC_PROTO, name: "", returnType: i1, params: [] });
    const p2 = b.add({ kind: BtfKind.FUNC_PROTO, name: "", returnType: i1, params: [] });
    expect(i1).toBe(i2);
    expect(p1).not.toBe(p2);
    expect(b.types).toHaveLength(3);
  });

  it("resolves sizes through modifiers and arrays", () => {
    const btf = decodeBtf(encodeBtf(allKinds()));
    expect(skipModifiers(btf, 10)).toBe(1);
    expect(resolveSize(btf, 10)).toBe(4);
    expect(resolveSize(btf, 3)).toBe(28);
    expect(resolveSize(btf, 4)).toBe(8);
    expect(() => resolveSize(btf, 13)).toThrow(BtfError);
  });

  it("is accepted by libbpf: bpftool dumps every kind", () => {
    const dir = mkdtempSync(join(tmpdir(), "tsbpf-btf-"));
    try {
      const file = join(dir, "all.btf");
      writeFileSync(file, encodeBtf(allKinds()));
      const out = execFileSync("bpftool", ["btf", "dump", "file", file], { encoding: "utf8" });
      expect(out).toMatchSnapshot();
      for (const k of ["INT", "PTR", "ARRAY", "STRUCT", "UNION", "ENUM", "FWD", "TYPEDEF", "VOLATILE", "CONST", "RESTRICT", "FUNC", "FUNC_PROTO", "VAR", "DATASEC", "FLOAT", "DECL_TAG", "TYPE_TAG", "ENUM64"]) {
        expect(out).toMatch(new RegExp(`^\\[\\d+\\] ${k} `, "m"));
      }
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it("formats every clang object's BTF exactly as bpftool btf dump does", () => {
    const root = new URL("../../", import.meta.url);
    const files = ["test/fixtures/elf", "test/fixtures/c", "bench/c"].flatMap((d) =>
      readdirSync(new URL(d, root)).filter((f) => f.endsWith(".o")).map((f) => fileURLToPath(new URL(`${d}/${f}`, root))),
    );
    expect(files.length).toBeGreaterThan(10);
    for (const f of files) {
      const theirs = execFileSync("bpftool", ["btf", "dump", "file", f], { encoding: "utf8" });
      expect(formatBtf(decodeBtf(section(new Uint8Array(readFileSync(f)), ".BTF"))), f).toBe(theirs);
    }
    const dir = mkdtempSync(join(tmpdir(), "tsbpf-btf-"));
    try {
      writeFileSync(join(dir, "all.btf"), encodeBtf(allKinds()));
      expect(formatBtf(decodeBtf(encodeBtf(allKinds())))).toBe(execFileSync("bpftool", ["btf", "dump", "file", join(dir, "all.btf")], { encoding: "utf8" }));
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it("decodes clang's .BTF and re-encodes it to the same model", () => {
    for (const name of ["redir.o", "subprog.o"]) {
      const btf = decodeBtf(section(fixture(name), ".BTF"));
      const again = decodeBtf(encodeBtf(btf.types.slice(1) as BtfType[]));
      expect(again.types).toEqual(btf.types);
    }
  });

  it("reads BTF-defined maps from clang's .maps DATASEC like libbpf", () => {
    const btf = decodeBtf(section(fixture("subprog.o"), ".BTF"));
    const maps = parseBtfMaps(btf).map(({ keyTypeId: _k, valueTypeId: _v, ...m }) => m);
    expect(maps).toEqual([
      { name: "prefixes", type: 11, keySize: 12, valueSize: 4, maxEntries: 1024, flags: 1, pinning: 0, datasecOffset: 0 },
      { name: "targets", type: 18, keySize: 4, valueSize: 8, maxEntries: 16, flags: 0, pinning: 0, datasecOffset: 0 },
      { name: "counters", type: 1, keySize: 4, valueSize: 16, maxEntries: 64, flags: 0, pinning: 1, datasecOffset: 0 },
    ]);
  });

  describe("rejects malformed bytes with BtfError", () => {
    const good = encodeBtf(allKinds());
    const mutate = (f: (v: DataView, b: Uint8Array) => void): Uint8Array => {
      const b = good.slice();
      f(new DataView(b.buffer), b);
      return b;
    };
    const cases: [string, Uint8Array, RegExp][] = [
      ["short", good.subarray(0, 10), /shorter than its 24-byte header/],
      ["magic", mutate((v) => v.setUint16(0, 0x1234, true)), /magic 0x1234/],
      ["version", mutate((v) => v.setUint8(2, 2)), /version 2/],
      ["type section too long", mutate((v) => v.setUint32(12, 1 << 20, true)), /type section .* runs past the end/],
      ["string section too long", mutate((v) => v.setUint32(20, 1 << 20, true)), /string section .* runs past the end/],
      ["dangling reference", mutate((v) => v.setUint32(24 + 16 + 8, 99, true)), /type \[2\] \(anon\) refers to type id 99/],
      ["unknown kind", mutate((v) => v.setUint32(24 + 4, 31 << 24, true)), /unknown kind 31/],
      ["bad name offset", mutate((v) => v.setUint32(24, 1 << 20, true)), /string offset 1048576 is outside/],
      ["truncated type", mutate((v) => v.setUint32(12, 20, true)), /type \[2\] at offset 16 is truncated/],
    ];
    it.each(cases)("%s", (_name, bytes, message) => {
      expect(() => decodeBtf(bytes)).toThrow(BtfError);
      expect(() => decodeBtf(bytes)).toThrow(message);
    });
  });
});

describe("BTF decoder fuzz", () => {
  it("mutated .BTF and .BTF.ext bytes give a model or BtfError, nothing else", () => {
    let seed = 7;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const obj = fixture("subprog.o");
    const btf = section(obj, ".BTF");
    const ext = section(obj, ".BTF.ext");
    const strings = decodeBtf(btf).strings;
    let errors = 0;
    for (let i = 0; i < 2000; i++) {
      const target = i % 2 ? btf.slice() : ext.slice();
      const v = new DataView(target.buffer);
      for (let e = 0; e < 1 + (i % 3); e++) {
        const at = Math.floor(rnd() * (target.length - 4)) & ~3;
        v.setUint32(at, [0, 1, 0xffffffff, 0x7fffffff, Math.floor(rnd() * 2 ** 32)][Math.floor(rnd() * 5)]! >>> 0, true);
      }
      try {
        if (i % 2) {
          const d = decodeBtf(target);
          parseBtfMaps(d);
          for (let id = 1; id < d.types.length; id++) {
            try {
              resolveSize(d, id);
            } catch (err) {
              if (!(err instanceof BtfError)) throw err;
            }
          }
        } else decodeBtfExt(target, strings);
      } catch (err) {
        if (!(err instanceof BtfError)) throw err;
        errors++;
      }
    }
    expect(errors).toBeGreaterThan(100);
  });
});

describe(".BTF.ext", () => {
  it("packs line and column as line << 10 | column", () => {
    expect(lineCol(5, 3)).toBe((5 << 10) | 3);
    expect(lineCol(7, 5000)).toBe((7 << 10) | 1023);
  });

  it("round-trips func_info and line_info through the shared string table", () => {
    const strings = new StringTable();
    const ext = {
      funcInfo: [{ section: "sk_lookup", records: [{ insnOff: 0, typeId: 3 }, { insnOff: 64, typeId: 5 }] }],
      lineInfo: [
        {
          section: "sk_lookup",
          records: [
            { insnOff: 0, file: "a.ts", text: "export function f() {", line: 1, column: 1 },
            { insnOff: 8, file: "a.ts", text: "  return SK_PASS;", line: 2, column: 3 },
          ],
        },
      ],
    };
    const bytes = encodeBtfExt(ext, strings);
    expect(decodeBtfExt(bytes, strings.bytes())).toEqual(ext);
  });

  it("decodes clang's .BTF.ext (byte offsets, source text)", () => {
    const obj = fixture("redir.o");
    const btf = decodeBtf(section(obj, ".BTF"));
    const ext = decodeBtfExt(section(obj, ".BTF.ext"), btf.strings);
    expect(ext.funcInfo).toHaveLength(1);
    expect(ext.funcInfo[0]!.section).toBe("sk_lookup");
    expect(ext.funcInfo[0]!.records.map((r) => [r.insnOff, btf.types[r.typeId]!.name])).toEqual([[0, "redir_port"], [200, "count_all"]]);
    const lines = ext.lineInfo[0]!.records;
    expect(lines.find((l) => l.text.includes("ctx->local_port != 7007"))).toMatchObject({ insnOff: 16, line: 22, column: 11 });
    expect(lines.every((l) => l.file.endsWith("redir.c"))).toBe(true);
  });

  it("rejects truncated or inconsistent .BTF.ext with BtfError", () => {
    const strings = new StringTable();
    const good = encodeBtfExt({ funcInfo: [{ section: "s", records: [{ insnOff: 0, typeId: 1 }] }], lineInfo: [] }, strings);
    const bad = good.slice();
    new DataView(bad.buffer).setUint32(32 + 8, 1000, true); // record count
    expect(() => decodeBtfExt(bad, strings.bytes())).toThrow(/claims 1000 records/);
    expect(() => decodeBtfExt(good.subarray(0, 30), strings.bytes())).toThrow(BtfError);
    expect(() => decodeBtfExt(good, new Uint8Array(1))).toThrow(/outside the .BTF string section/);
  });
});
