import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { formatObject, run } from "../../compiler/cli/objdump.ts";
import { readObject, writeObject } from "../../compiler/elf/index.ts";
import { fixture, tempDir } from "./helpers.ts";
import { sampleInput, subprogramInput } from "./programs.ts";

describe("tsbpf objdump listing", () => {
  it("shows our object with TypeScript lines, relocations and maps", async () => {
    const text = formatObject(readObject(writeObject(sampleInput())), "redirect-port.bpf.o");
    await expect(text).toMatchFileSnapshot("__snapshots__/objdump-sample.txt");
    expect(text).toContain(";   if (ctx.localPort !== 7007) return SK_PASS;\n       1:\t61 61 3c 00 00 00 00 00\tr1 = *(u32 *)(r6 + 0x3c)");
    expect(text).toContain("r1 = 0x0 ll\n\t\tR_BPF_64_64\tsockets\n");
    expect(text).toMatch(/^ {2}sockets +sockmap +key 4 +value 8 +max_entries 32 +flags 0x0$/m);
  });

  it("shows our subprograms after the programs that call them, with their own headers", () => {
    const text = formatObject(readObject(writeObject(subprogramInput())), "sub.o");
    expect(text).toContain("Disassembly of program count_sub (section sk_lookup, 21 slots):");
    expect(text).toMatch(/\n0000000000000020 <bump_proto>:\n;   hits\.increment\(ctx\.protocol === 6 \? 1 : 2\);\n {7}4:\t/);
    expect(text).toMatch(/\n0000000000000050 <bump>:\n/);
    expect(text).toContain("call 0x2\n");
  });

  it("shows clang's objects, subprograms linked with their own headers", async () => {
    const text = formatObject(readObject(fixture("subprog.o")), "subprog.o");
    await expect(text).toMatchFileSnapshot("__snapshots__/objdump-subprog.txt");
    expect(text).toContain("\n0000000000000138 <bump>:\n; static __attribute__((noinline)) int bump(__u32 label)\n      39:\t");
    expect(text).toContain("call 0x13");
    expect(text).toContain("pinned by name");
    await expect(formatObject(readObject(fixture("redir.o")), "redir.o")).toMatchFileSnapshot("__snapshots__/objdump-redir.txt");
  });
});

describe("tsbpf objdump command", () => {
  const tmp = tempDir();
  afterAll(() => tmp.cleanup());
  let out = "";
  let err = "";
  beforeEach(() => {
    out = err = "";
    vi.spyOn(process.stdout, "write").mockImplementation((s) => ((out += String(s)), true));
    vi.spyOn(process.stderr, "write").mockImplementation((s) => ((err += String(s)), true));
  });
  afterEach(() => vi.restoreAllMocks());

  it("prints the listing and exits 0", async () => {
    const path = join(tmp.dir, "x.o");
    writeFileSync(path, writeObject(sampleInput()));
    expect(await run([path])).toBe(0);
    expect(out).toBe(formatObject(readObject(writeObject(sampleInput())), path));
    expect(err).toBe("");
  });

  it("--btf appends the BTF types as bpftool prints them", async () => {
    const path = join(tmp.dir, "btf.o");
    writeFileSync(path, writeObject(sampleInput()));
    expect(await run([path, "--btf"])).toBe(0);
    expect(out).toContain("\nBTF:\n[1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED\n");
    expect(out).toMatch(/\[\d+\] FUNC 'redir_port' type_id=\d+ linkage=global\n/);
  });

  it("--help prints usage on stdout and exits 0", async () => {
    expect(await run(["--help"])).toBe(0);
    expect(out).toMatch(/^usage: tsbpf objdump FILE\.o/);
  });

  it("a missing or unreadable file is a one-line error, exit 1", async () => {
    expect(await run([join(tmp.dir, "missing.o")])).toBe(1);
    expect(err).toBe(`tsbpf objdump: ${join(tmp.dir, "missing.o")}: no such file\n`);
    err = "";
    const junk = join(tmp.dir, "junk.o");
    writeFileSync(junk, "not an object, but long enough to hold an ELF64 header if it were one.");
    expect(await run([junk])).toBe(1);
    expect(err).toBe(`tsbpf objdump: ${junk}: not an ELF object: bad magic\n`);
    err = "";
    expect(await run([tmp.dir])).toBe(1);
    expect(err).toBe(`tsbpf objdump: ${tmp.dir}: is a directory\n`);
  });

  it("an unsupported object names the problem, exit 1", async () => {
    const path = join(tmp.dir, "legacy.o");
    writeFileSync(path, fixture("legacy.o"));
    expect(await run([path])).toBe(1);
    expect(err).toMatch(/legacy map definitions in section 'maps' are not supported/);
    expect(err.split("\n")).toHaveLength(2);
  });

  it("bad usage throws UsageError (exit 2 in main)", async () => {
    await expect(run([])).rejects.toThrow("missing FILE.o");
    await expect(run(["a.o", "b.o"])).rejects.toThrow("expects exactly one object file");
    await expect(run(["--bogus"])).rejects.toThrow("unknown option '--bogus'");
  });
});
