import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { decode, disassemble, encode } from "../../compiler/asm/index.ts";

const fixture = (name: string) => new URL(`../fixtures/asm/${name}`, import.meta.url);

describe("instruction model", () => {
  const raw = new Uint8Array(readFileSync(fixture("sample.bin")));
  const expected = readFileSync(fixture("sample.objdump.txt"), "utf8").trimEnd().split("\n");

  it("disassembles clang's bytes exactly as llvm-objdump-16 does", () => {
    expect(disassemble(decode(raw), raw)).toEqual(expected);
  });

  it("re-encodes decoded bytecode to the same bytes", () => {
    const decoded = decode(raw);
    const emitted = decoded.filter((_, pc) => pc === 0 || decoded[pc - 1]!.opcode !== 0x18);
    expect(encode(emitted).bytes).toEqual(raw);
  });
});
