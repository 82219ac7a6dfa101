import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { isPseudoCall } from "../../compiler/asm/index.ts";
import { MapType } from "../../compiler/abi/maps.ts";
import { ObjectError, readObject, writeObject } from "../../compiler/elf/index.ts";
import { parseElf } from "../../compiler/elf/elf64.ts";
import { describeKernel } from "../support/kernel.ts";
import { fixture, ok, run, tempDir, uniquePin } from "./helpers.ts";
import { sampleInput, subprogramInput } from "./programs.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));

describe("readObject on clang objects", () => {
  it("reads two programs sharing sk_lookup, their maps, relocations and line info (redir.o)", () => {
    const obj = readObject(fixture("redir.o"));
    expect(obj.license).toBe("GPL");
    expect(obj.maps).toEqual([
      { name: "sockets", type: MapType.SOCKMAP, keySize: 4, valueSize: 8, maxEntries: 32, flags: 0, pinning: 0, keyTypeId: 8, valueTypeId: 11 },
      { name: "hits", type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 4, flags: 0, pinning: 0, keyTypeId: 8, valueTypeId: 11 },
    ]);
    expect(obj.programs.map((p) => [p.name, p.section, p.insns.length, p.mapRelocs])).toEqual([
      ["redir_port", "sk_lookup", 25, [{ slot: 8, map: "sockets" }]],
      ["count_all", "sk_lookup", 15, [{ slot: 7, map: "hits" }]],
    ]);
    const redir = obj.programs[0]!;
    expect(redir.funcInfo).toEqual([{ slot: 0, name: "redir_port", typeId: 31 }]);
    expect(redir.lineInfo.find((l) => l.slot === 2)).toMatchObject({ line: 22, column: 11, text: "\tif (ctx->local_port != 7007)" });
    expect(redir.lineInfo[0]!.file).toMatch(/redir\.c$/);
    expect(obj.btf?.length).toBeGreaterThan(100);
  });

  it("links a static __noinline subprogram after each program that calls it, fixing the call (subprog.o)", () => {
    const obj = readObject(fixture("subprog.o"));
    const [dispatch, countOnly] = obj.programs;
    // dispatch: 39 own slots, then bump (10 slots) appended; the call at slot 19 now reaches slot 39.
    expect(dispatch!.insns).toHaveLength(49);
    const call = dispatch!.insns[19]!;
    expect(isPseudoCall(call)).toBe(true);
    expect(19 + call.imm + 1).toBe(39);
    expect(dispatch!.funcInfo.map((f) => [f.slot, f.name])).toEqual([[0, "dispatch"], [39, "bump"]]);
    // bump's own map relocation is re-based onto the linked program.
    expect(dispatch!.mapRelocs).toEqual([{ slot: 11, map: "prefixes" }, { slot: 22, map: "targets" }, { slot: 42, map: "counters" }]);
    expect(dispatch!.lineInfo.find((l) => l.slot === 39)).toMatchObject({ line: 42, text: "static __attribute__((noinline)) int bump(__u32 label)" });
    // count_only gets its own copy of bump right after its 4 slots.
    expect(countOnly!.insns).toHaveLength(14);
    expect(1 + countOnly!.insns[1]!.imm + 1).toBe(4);
    expect(countOnly!.funcInfo.map((f) => [f.slot, f.name])).toEqual([[0, "count_only"], [4, "bump"]]);
    expect(countOnly!.mapRelocs).toEqual([{ slot: 7, map: "counters" }]);
    expect(obj.maps.map((m) => [m.name, m.type, m.keySize, m.valueSize, m.flags, m.pinning])).toEqual([
      ["prefixes", MapType.LPM_TRIE, 12, 4, 1, 0],
      ["targets", MapType.SOCKHASH, 4, 8, 0, 0],
      ["counters", MapType.HASH, 4, 16, 0, 1],
    ]);
    expect(obj.license).toBe("Dual BSD/GPL");
  });

  it("appends callees depth-first like libbpf, via section-symbol, function-symbol and resolved calls (calls.o)", () => {
    const obj = readObject(fixture("calls.o"));
    const [order, onlySecond] = obj.programs;
    expect(order!.funcInfo.map((f) => [f.slot, f.name])).toEqual([[0, "order"], [14, "first"], [17, "leaf"], [20, "second"]]);
    expect(onlySecond!.funcInfo.map((f) => f.name)).toEqual(["only_second", "second"]);
    // Every pseudo call lands on the first instruction of a linked function.
    for (const p of obj.programs) {
      const starts = new Set(p.funcInfo.map((f) => f.slot));
      p.insns.forEach((insn, pc) => {
        if (isPseudoCall(insn)) expect(starts.has(pc + insn.imm + 1), `${p.name} call at ${pc}`).toBe(true);
      });
    }
    expect(obj.maps).toEqual([]);
  });

  it("scales: an object with 1500 programs and 500 subprograms reads in well under a second per thousand functions", () => {
    const input = subprogramInput();
    const programs = Array.from({ length: 1500 }, (_, i) => ({ ...input.programs[i % 2]!, name: `p${i}` }));
    const subprograms = [...input.subprograms!, ...Array.from({ length: 500 }, (_, i) => ({ name: `s${i}`, insns: input.subprograms![0]!.insns }))];
    const bytes = writeObject({ ...input, programs, subprograms });
    const t0 = performance.now();
    const obj = readObject(bytes);
    const ms = performance.now() - t0;
    expect(obj.programs).toHaveLength(1500);
    expect(obj.programs[1499]!.funcInfo.map((f) => f.name)).toEqual(["p1499", "bump"]);
    expect(ms).toBeLessThan(3000);
  });

  it("refuses a legacy 'maps' section, as libbpf 1.x does", () => {
    expect(() => readObject(fixture("legacy.o"))).toThrow(ObjectError);
    expect(() => readObject(fixture("legacy.o"))).toThrow(/legacy map definitions in section 'maps' are not supported/);
  });

  it("reads global data as an internal map and refuses references to other data sections, naming section and instruction", () => {
    const obj = readObject(fixture("globals.o"));
    expect(obj.maps.map((m) => [m.name, m.type, m.keySize, m.valueSize, m.maxEntries, m.flags, m.frozen])).toEqual([[".data", MapType.ARRAY, 4, 4, 1, 0x400, false]]);
    expect(obj.programs[0]!.mapRelocs).toEqual([{ slot: 0, map: ".data", kind: "value", offset: 0 }]);
    // The same object with .data renamed: a section libbpf makes no map of.
    const bytes = fixture("globals.o");
    const shstr = parseElf(bytes).sections[1]!;
    const at = new TextDecoder().decode(shstr.data).indexOf(".data\0");
    const copy = bytes.slice();
    copy[shstr.offset + at + 1] = "x".charCodeAt(0);
    expect(() => readObject(copy)).toThrow(
      /^section sk_lookup offset \d+ \(function 'global_port'\): reference to '.*' in section \.xata; only maps in \.maps and global data/,
    );
  });

  it("refuses CO-RE relocations instead of returning unrelocated code", () => {
    expect(() => readObject(fixture("core.o"))).toThrow("section sk_lookup offset 8 (function 'core_port'): CO-RE relocation (kind 0, access 0:8) is not supported");
  });

  it("refuses a static program function", () => {
    const bytes = fixture("redir.o");
    const elf = parseElf(bytes);
    const symtab = elf.sections.find((s) => s.type === 2)!;
    const sym = elf.symbols.find((s) => s.name === "count_all")!;
    const copy = bytes.slice();
    copy[symtab.offset + sym.index * 24 + 4] = (0 << 4) | 2; // STB_LOCAL, STT_FUNC
    expect(() => readObject(copy)).toThrow("program 'count_all' in section sk_lookup is static; programs must be global functions");
  });

  it("refuses .maps without BTF", () => {
    const bytes = fixture("redir.o");
    const shstr = parseElf(bytes).sections[1]!;
    const names = new TextDecoder().decode(shstr.data);
    const copy = bytes.slice();
    // Rename .BTF and .BTF.ext (clang shares their names with .rel.BTF / .rel.BTF.ext) so neither is found.
    for (const name of [".BTF\0", ".BTF.ext\0"]) copy[shstr.offset + names.indexOf(name) + 3] = "x".charCodeAt(0);
    expect(() => readObject(copy)).toThrow("section .maps needs BTF, but the object has no .BTF section (compile with -g)");
  });

  it("reads every clang object of the repository (corpus and bench twins) without error, except legacy maps and CO-RE", () => {
    const dirs = ["test/fixtures/c", "bench/c", "test/fixtures/elf"];
    let programs = 0;
    for (const dir of dirs) {
      for (const f of readdirSync(join(root, dir)).filter((f) => f.endsWith(".o"))) {
        const bytes = new Uint8Array(readFileSync(join(root, dir, f)));
        const elf = parseElf(bytes);
        const expected = elf.symbols.filter((s) => s.type === 2 && s.bind === 1 && elf.sections[s.shndx]?.name !== ".text").length;
        if (["legacy.o", "core.o"].includes(f)) {
          expect(() => readObject(bytes), f).toThrow(ObjectError);
          continue;
        }
        const obj = readObject(bytes);
        expect(obj.programs.length, f).toBe(expected);
        for (const p of obj.programs) {
          expect(p.funcInfo[0], `${f} ${p.name}`).toMatchObject({ slot: 0, name: p.name });
          expect(p.lineInfo[0]?.slot, `${f} ${p.name}`).toBe(0);
        }
        programs += obj.programs.length;
      }
    }
    expect(programs).toBeGreaterThan(25);
  });
});

describeKernel("readObject links exactly like libbpf", () => {
  const tmp = tempDir();
  afterAll(() => tmp.cleanup());

  /** libbpf's final instructions of every program (bpf_program__insns after bpf_object__load), by program name. */
  function libbpfInsns(objPath: string): Map<string, string[]> {
    const tool = join(tmp.dir, "dump-insns");
    ok("gcc", ["-O1", "-o", tool, fileURLToPath(new URL("../fixtures/elf/dump-insns.c", import.meta.url)), "-lbpf"]);
    const pin = uniquePin("libbpf");
    ok("mkdir", ["-p", pin]);
    try {
      const out = ok(tool, [objPath, pin]);
      const progs = new Map<string, string[]>();
      let cur: string[] = [];
      for (const line of out.trim().split("\n")) {
        const m = /^prog (\S+) \d+$/.exec(line);
        if (m) progs.set(m[1]!, (cur = []));
        else cur.push(line);
      }
      return progs;
    } finally {
      run("rm", ["-rf", pin]);
    }
  }

  /** Our linked bytes as hex slots, with map lddws normalized as libbpf leaves them minus the fd. */
  const hexSlots = (bytes: Uint8Array): string[] =>
    Array.from({ length: bytes.length / 8 }, (_, i) => Buffer.from(bytes.subarray(i * 8, i * 8 + 8)).toString("hex"));
  const normalizeLibbpf = (slots: string[]): string[] =>
    slots.map((s) => {
      // lddw with src_reg BPF_PSEUDO_MAP_FD: libbpf put the fd in imm and 1 in src_reg; blank both.
      if (s.startsWith("18") && (s[2] === "1" || s[2] === "2")) return `180${s[3]}0000${"0".repeat(8)}`;
      return s;
    });

  const objects = [
    ["test/fixtures/elf/subprog.o"],
    ["test/fixtures/elf/calls.o"],
    ["test/fixtures/elf/redir.o"],
    ["test/fixtures/c/features.o"],
    ["test/fixtures/c/dispatch.o"],
    ["test/fixtures/c/assign.o"],
    ["bench/c/dispatcher.o"],
    // Global data: libbpf's BPF_PSEUDO_MAP_VALUE lddws, whose second slot (the offset) is compared as is.
    ["test/fixtures/elf/globals.o"],
    ["test/fixtures/c/rodata.o"],
    ["test/fixtures/c/globaldata.o"],
  ];
  /** Compares readObject's linked programs of `path` with libbpf's, map lddws blanked on both sides. */
  function expectSameAsLibbpf(path: string): void {
    const ours = readObject(new Uint8Array(readFileSync(path)));
    const theirs = libbpfInsns(path);
    // libbpf truncates program names to BPF_OBJ_NAME_LEN - 1 characters.
    expect([...theirs.keys()].sort()).toEqual(ours.programs.map((p) => p.name.slice(0, 15)).sort());
    for (const p of ours.programs) {
      const mine = hexSlots(p.bytes);
      for (const r of p.mapRelocs) mine[r.slot] = `180${mine[r.slot]![3]}0000${"0".repeat(8)}`;
      expect(mine, p.name).toEqual(normalizeLibbpf(theirs.get(p.name.slice(0, 15))!));
    }
  }

  it.each(objects)("%s", (rel) => expectSameAsLibbpf(join(root, rel)));

  it("objects written by writeObject, with and without subprograms", () => {
    for (const [name, input] of [["sample.o", sampleInput()], ["sub.o", subprogramInput()]] as const) {
      const path = join(tmp.dir, name);
      writeFileSync(path, writeObject(input));
      expectSameAsLibbpf(path);
    }
  });
});

