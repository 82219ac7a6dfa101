/**
 * Bounded CLI inputs (issue 11): files are type- and size-checked before reading (`/dev/zero` was read forever),
 * JSON has size and depth limits, numeric strings like "-0x1" work, names from objects are escaped when printed,
 * huge objects disassemble, a BTF typedef cycle does not break a run. The subcommands run in-process.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { MapType } from "../../compiler/abi/maps.ts";
import { exit, mov64 } from "../../compiler/asm/index.ts";
import { BtfBuilder, BtfKind } from "../../compiler/btf/index.ts";
import { InputError, MAX_JSON_DEPTH, parseBoundedJson, printableName, readBoundedFile } from "../../compiler/bounded-input.ts";
import { run as objdump } from "../../compiler/cli/objdump.ts";
import { run as runCli } from "../../compiler/cli/run.ts";
import { InputFileError, UsageError } from "../../compiler/cli/usage.ts";
import { run as verify } from "../../compiler/cli/verify.ts";
import { writeObject } from "../../compiler/elf/writer.ts";
import { VmObject } from "../../runtime/vm/object.ts";
import { mapDef } from "../vm/harness.ts";

const dir = mkdtempSync(join(tmpdir(), "tsbpf-hardening-cli-"));
const CTX = '{"family":"inet","protocol":"tcp","remoteIp":"127.0.0.2","remotePort":8008,"localIp":"127.0.0.1","localPort":7007}';
const PASS = [mov64(0, 1), exit()];

function objectFile(name: string, input: Parameters<typeof writeObject>[0]): string {
  const path = join(dir, name);
  writeFileSync(path, writeObject(input));
  return path;
}
const basic = objectFile("basic.o", { fileName: "b.ts", license: "GPL", maps: [mapDef("h", MapType.HASH, 4, 4, 4)], programs: [{ name: "p", insns: PASS }] });

let out = "";
let err = "";
beforeEach(() => {
  out = err = "";
  vi.spyOn(process.stdout, "write").mockImplementation((s) => ((out += String(s)), true));
  vi.spyOn(process.stderr, "write").mockImplementation((s) => ((err += String(s)), true));
});
afterEach(() => vi.restoreAllMocks());

/** Runs a subcommand as cli/main.ts does: its exit code, 1 for an unreadable input file, 2 for a UsageError. */
async function cli(cmd: (args: string[]) => Promise<number>, ...args: string[]): Promise<number> {
  try {
    return await cmd(args);
  } catch (e) {
    if (e instanceof UsageError || e instanceof InputFileError) {
      err += e.message;
      return e instanceof UsageError ? 2 : 1;
    }
    throw e;
  }
}

describe("files are checked before they are read", () => {
  for (const [name, cmd] of [["objdump", objdump], ["verify", verify], ["run", runCli]] as const) {
    test(`${name} /dev/zero stops at once`, async () => {
      const t0 = Date.now();
      const code = await cli(cmd, "/dev/zero", ...(name === "run" ? ["--ctx", CTX] : []));
      expect(code).not.toBe(0);
      expect(err).toMatch(/not a regular file/);
      expect(Date.now() - t0).toBeLessThan(2000);
    });
  }
  test("run --ctx @/dev/zero and --maps @/dev/zero stop at once (unreadable input: exit 1)", async () => {
    expect(await cli(runCli, basic, "--ctx", "@/dev/zero")).toBe(1);
    expect(err).toMatch(/cannot read \/dev\/zero: not a regular file/);
    err = "";
    expect(await cli(runCli, basic, "--ctx", CTX, "--maps", "@/dev/zero")).toBe(1);
    expect(err).toMatch(/cannot read \/dev\/zero: not a regular file/);
  });
  test("a directory and a missing file", async () => {
    expect(await cli(objdump, dir)).toBe(1);
    expect(err).toMatch(/is a directory/);
    expect(() => readBoundedFile(join(dir, "nope"), 10)).toThrow(InputError);
  });
  test("a file over the cap is refused without reading it whole", () => {
    const big = join(dir, "big.bin");
    writeFileSync(big, new Uint8Array(4096));
    expect(() => readBoundedFile(big, 4095)).toThrow(/more than the limit of 4095 bytes/);
    expect(readBoundedFile(big, 4096)).toHaveLength(4096);
  });
  test("procfs files (size 0 on stat) are read up to the cap", () => {
    expect(readBoundedFile("/proc/self/status", 1 << 20).length).toBeGreaterThan(0);
    expect(() => readBoundedFile("/proc/self/status", 16)).toThrow(/more than the limit/);
  });
});

describe("JSON inputs are bounded", () => {
  test(`nesting deeper than ${MAX_JSON_DEPTH} levels is refused before JSON.parse (which recurses)`, async () => {
    const deep = `${"[".repeat(1_000_000)}${"]".repeat(1_000_000)}`;
    expect(() => parseBoundedJson(deep)).toThrow(/nested more than 64 levels/);
    expect(await cli(runCli, basic, "--ctx", CTX, "--maps", `{"h":{"0":${deep}}}`)).toBe(2);
    expect(err).toMatch(/--maps is not valid JSON: nested more than 64 levels deep/);
    // Brackets inside strings do not count.
    expect(parseBoundedJson(`["${"[".repeat(1000)}"]`)).toEqual(["[".repeat(1000)]);
  });
  test('--maps value "-0x1" stores -1 (was a SyntaxError with a stack trace)', async () => {
    expect(await cli(runCli, basic, "--ctx", CTX, "--maps", '{"h":{"0":"-0x1","1":"-5"}}')).toBe(0);
    // Printed as the unsigned 32-bit values of the map's u32 slots.
    expect(JSON.parse(out).maps.h).toEqual({ "0": 2 ** 32 - 1, "1": 2 ** 32 - 5 });
  });
  test("a numeric string too long for any slot is a usage error, not a long BigInt parse", async () => {
    expect(await cli(runCli, basic, "--ctx", CTX, "--maps", `{"h":{"0":"${"9".repeat(100_000)}"}}`)).toBe(2);
    expect(err).toMatch(/too long/);
  });
});

describe("names from objects are escaped when printed", () => {
  const evil = "x: accepted (2 instructions processed)\nfake";
  const evilMap = "m\u001b[31mred";
  // The writer only takes identifiers: write placeholders of the same length, then patch the names into the bytes
  // (string table and BTF), as a hand-made object would have them.
  const progHolder = "p".repeat(evil.length);
  const mapHolder = "q".repeat(evilMap.length);
  const bytes = writeObject({ fileName: "n.ts", license: "GPL", maps: [mapDef(mapHolder, MapType.HASH, 4, 8, 4)], programs: [{ name: progHolder, insns: PASS }] });
  const patched = Buffer.from(bytes).toString("latin1").replaceAll(progHolder, evil).replaceAll(mapHolder, evilMap);
  const path = join(dir, "names.o");
  writeFileSync(path, Buffer.from(patched, "latin1"));
  test("printableName", () => {
    expect(printableName("redir_port")).toBe("redir_port");
    expect(printableName(evil)).toBe('"x: accepted (2 instructions processed)\\nfake"');
    expect(printableName("a\u001b[2J")).toBe('"a\\u001b[2J"');
    expect(printableName("é")).toBe('"\\u00e9"');
  });
  test("verify", async () => {
    expect(await cli(verify, path)).toBe(0);
    // One line, starting with the escaped name (the rest of the line is verify's own wording).
    expect(out).toMatch(/^"x: accepted \(2 instructions processed\)\\nfake": accepted .*\n$/);
    expect(out.split("\n")).toHaveLength(2);
  });
  test("objdump", async () => {
    expect(await cli(objdump, path)).toBe(0);
    expect(out).not.toContain("\u001b");
    expect(out).not.toContain("\nfake");
    expect(out).toContain('Disassembly of program "x: accepted (2 instructions processed)\\nfake"');
    expect(out).toContain('"m\\u001b[31mred"');
  });
});

test("objdump of a 200,000-instruction object (was a stack overflow from push(...array))", async () => {
  const insns = [...Array.from({ length: 200_000 }, () => mov64(0, 1)), exit()];
  const path = objectFile("long.o", { fileName: "l.ts", license: "GPL", maps: [], programs: [{ name: "long", insns }] });
  expect(await cli(objdump, path)).toBe(0);
  expect(out.split("\n").length).toBeGreaterThan(200_000);
});

test("a BTF typedef cycle in a .data variable: the map view shows the variable by size (was a BtfError after the run)", () => {
  const b = new BtfBuilder();
  const a = b.reserve();
  const c = b.add({ kind: BtfKind.TYPEDEF, name: "b", type: a });
  b.set(a, { kind: BtfKind.TYPEDEF, name: "a", type: c });
  const data = { ...mapDef(".data", MapType.ARRAY, 4, 4, 1), initialValue: new Uint8Array(4).fill(1), vars: [{ name: "loop", offset: 0, size: 4, typeId: a }] };
  const obj = new VmObject({ license: "GPL", maps: [data], programs: [], btf: b.encode() });
  expect(obj.map(".data").entries()).toEqual([[0, { loop: 0x01010101 }]]);
});

test("error messages and BTF source lines quoting names cannot print control characters", async () => {
  // A map name the kernel would refuse (key_size 0), with a newline and an escape sequence in it.
  const holder = "z".repeat(12);
  const evil = "m\n\u001b[2Jfake";
  const bytes = writeObject({ fileName: "e.ts", license: "GPL", maps: [mapDef(holder, MapType.HASH, 4, 8, 0x10000000)], programs: [{ name: "p", insns: PASS }] });
  const path = join(dir, "errname.o");
  writeFileSync(path, Buffer.from(Buffer.from(bytes).toString("latin1").replaceAll(holder, evil.padEnd(12, "_")), "latin1"));
  expect(await cli(verify, path)).toBe(1);
  expect(err).not.toContain("\u001b");
  expect(err.trimEnd().split("\n")).toHaveLength(1);
  expect(err).toContain("m\\u000a\\u001b[2Jfake");
});
