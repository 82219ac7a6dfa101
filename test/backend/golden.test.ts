/**
 * Golden disassembly of the backend's output for each representative program (bless with `vitest -u`). Each golden
 * file holds the IR as received, the IR after the backend's rewrites, the register allocation, and the encoded
 * program disassembled llvm-objdump-16 style (`disassemble(decode(encode(insns).bytes))`).
 */
import { describe, expect, it } from "vitest";
import { decode, disassemble, encode } from "../../compiler/asm/index.ts";
import { generate } from "../../compiler/backend/index.ts";
import { cases } from "./programs.ts";

/** clang -O2 instruction counts for the same behaviour (shared/kernel-facts.md), where a program has a C twin. */
const CLANG: Record<string, number> = { redir_port: 25, serve_range: 28, redir_ip6: 35 };

describe("backend golden output", () => {
  for (const c of cases()) {
    it(`${c.name}`, async () => {
      const stages: string[] = [];
      const { insns, stackSize } = generate(c.fn, c.module, { dump: (stage, text) => stage !== "asm" && stages.push(`; ---- ${stage}\n${text.trimEnd()}`) });
      const { bytes } = encode(insns);
      const asm = disassemble(decode(bytes), bytes).join("\n");
      const text = `${stages.join("\n")}\n; ---- asm (${insns.length} instructions, ${stackSize} stack bytes)\n${asm}\n`;
      await expect(text).toMatchFileSnapshot(`./golden/${c.name}.txt`);
    });
  }

  it("is at least as short as clang -O2 on the programs with a C twin", () => {
    const counts = Object.fromEntries(cases().map((c) => [c.name, generate(c.fn, c.module).insns.length]));
    for (const [name, clang] of Object.entries(CLANG)) expect(counts[name], name).toBeLessThanOrEqual(clang);
  });
});
