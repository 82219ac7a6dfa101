/**
 * The backend on the real examples (through the whole compiler): golden disassembly of every program (bless with
 * `npx vitest run test/backend -u`), instruction counts held against clang -O2 on the C twins in bench/c, and the
 * running kernel's verifier work (instructions processed) held against the same twins.
 */
import { readFileSync, readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { decode, disassemble, encode, LDDW } from "../../compiler/asm/index.ts";
import { readObject } from "../../compiler/elf/index.ts";
import { compile } from "../../compiler/index.ts";
import { openKernel } from "../../runtime/kernel/open.ts";
import { describeKernel } from "../support/kernel.ts";

const root = new URL("../../", import.meta.url);
const examples = readdirSync(new URL("examples/", root)).filter((f) => f.endsWith(".ts")).sort();

/** Instructions as llvm-objdump counts them (a lddw is one). */
const count = (insns: { opcode: number }[], slotIndexed: boolean): number =>
  slotIndexed ? insns.filter((_, i) => i === 0 || insns[i - 1]!.opcode !== LDDW).length : insns.length;

/** Per program: how many instructions more than clang we accept (a ceiling that only tightens). */
const SLACK: Record<string, number> = {};

describe("examples through the backend", () => {
  const rows: string[] = [];
  for (const file of examples) {
    it(`${file}: golden disassembly, and no worse than clang -O2`, async () => {
      const r = compile({ fileName: new URL(`examples/${file}`, root).pathname });
      expect(r.diagnostics).toEqual([]);
      const twin = readObject(new Uint8Array(readFileSync(new URL(`bench/c/${file.replace(/\.ts$/, ".o")}`, root))));
      for (const [name, insns] of r.insns!) {
        const { bytes } = encode(insns);
        await expect(disassemble(decode(bytes), bytes).join("\n") + "\n").toMatchFileSnapshot(`./golden/examples/${file.replace(/\.ts$/, "")}.${name}.txt`);
        const clang = twin.programs.find((p) => p.name === name);
        expect(clang, `C twin of ${name}`).toBeDefined();
        const ours = count(insns, false);
        const theirs = count(clang!.insns, true);
        rows.push(`${name}: tsbpf ${ours}, clang ${theirs}`);
        expect(ours, `${name}: tsbpf ${ours} vs clang ${theirs}`).toBeLessThanOrEqual(theirs + (SLACK[name] ?? 0));
      }
    }, 60_000); // the first compile loads TypeScript's checker
  }
  it("prints the comparison table", () => {
    console.log(rows.join("\n"));
    expect(rows.length).toBeGreaterThanOrEqual(examples.length);
  });
});

/** `processed N insns` of each program of an object, from the running kernel's verifier (BPF_LOG_STATS). */
function kernelProcessed(bytes: Uint8Array): Map<string, number> {
  const loaded = openKernel().load(readObject(bytes), { logLevel: 4 });
  try {
    return new Map([...loaded.programs].map(([name, p]) => [name, Number(/processed (\d+) insns/.exec(p.log)?.[1] ?? NaN)]));
  } finally {
    loaded.close();
  }
}

describeKernel("examples on the kernel verifier", () => {
  for (const file of examples) {
    it(`${file}: the kernel processes no more instructions of ours than of clang's twin`, () => {
      const ours = kernelProcessed(compile({ fileName: new URL(`examples/${file}`, root).pathname }).object!);
      const clang = kernelProcessed(new Uint8Array(readFileSync(new URL(`bench/c/${file.replace(/\.ts$/, ".o")}`, root))));
      for (const [name, n] of ours) {
        expect(n, `${name}: processed`).toBeGreaterThan(0);
        expect(n, `${name}: tsbpf ${n} vs clang ${clang.get(name)}`).toBeLessThanOrEqual(clang.get(name)!);
      }
    }, 60_000);
  }
});
