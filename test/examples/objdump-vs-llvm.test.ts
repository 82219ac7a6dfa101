/**
 * `tsbpf objdump` agrees with `llvm-objdump-16 -d` on every example object, line by line (address, bytes, text).
 * llvm-objdump-16 cannot decode two instruction kinds that clang-16 never emits but the kernel accepts: BPF_ST
 * (store immediate, opcodes 0x62/0x6a/0x72/0x7a) and JSET (0x45/0x4d/0x46/0x4e); it prints `<unknown>` for them.
 * For those lines only the bytes are compared, and the opcode must be one of those. Addresses are left out: llvm
 * numbers slots from the start of the section, tsbpf from the start of each program.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { compile } from "../../compiler/index.ts";
import { formatObject } from "../../compiler/cli/objdump.ts";
import { readObject } from "../../compiler/elf/index.ts";
import { EXAMPLES } from "./examples.ts";

const LLVM_UNDECODABLE = new Set([0x62, 0x6a, 0x72, 0x7a, 0x45, 0x4d, 0x46, 0x4e]);
const insnLine = /^\s+\d+:\t/;
/** An instruction line without its address column. */
const body = (line: string): string => line.replace(insnLine, "");

let llvm: string | undefined;
try {
  execFileSync("llvm-objdump-16", ["--version"], { stdio: "pipe" });
  llvm = "llvm-objdump-16";
} catch {
  console.warn("[skip] objdump vs llvm: llvm-objdump-16 is not installed (apt-get install llvm-16)");
}

const dir = mkdtempSync(join(tmpdir(), "tsbpf-objdump-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!llvm)("tsbpf objdump agrees with llvm-objdump-16", () => {
  for (const name of Object.keys(EXAMPLES)) {
    it(name, () => {
      const path = new URL(`../../examples/${name}.ts`, import.meta.url).pathname;
      const { object, diagnostics } = compile({ fileName: path });
      expect(diagnostics).toEqual([]);
      const file = join(dir, "x.o");
      writeFileSync(file, object!);
      const theirs = execFileSync(llvm!, ["-d", file], { encoding: "utf8" }).split("\n").filter((l) => insnLine.test(l)).map(body);
      const ours = formatObject(readObject(object!), file).split("\n").filter((l) => insnLine.test(l)).map(body);
      expect(ours.length).toBe(theirs.length);
      expect(ours.length).toBeGreaterThan(5);
      let undecodable = 0;
      theirs.forEach((line, i) => {
        if (line.endsWith("\t<unknown>")) {
          const [bytes] = line.split("\t");
          expect(ours[i]!.startsWith(`${bytes}\t`)).toBe(true);
          expect(LLVM_UNDECODABLE.has(parseInt(bytes!.slice(0, 2), 16))).toBe(true);
          undecodable++;
        } else {
          expect(ours[i]).toBe(line);
        }
      });
      expect(undecodable).toBeLessThan(ours.length / 4);
    });
  }
});
