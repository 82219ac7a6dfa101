/**
 * tsbpf's own code generation never trips its verifier: every example compiles (with verification off, so that a
 * rejection shows here rather than as a compile diagnostic), every program is accepted by tsbpf's verifier, and the
 * kernel agrees.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";
import { compile } from "../../compiler/index.ts";
import { readObject } from "../../compiler/elf/reader.ts";
import { verifyObject } from "../../compiler/verifier/index.ts";
import { describeKernel } from "../support/kernel.ts";
import { kernelVerdict } from "./kernel-harness.ts";

const examples = join(import.meta.dirname, "..", "..", "examples");
const files = readdirSync(examples).filter((f) => f.endsWith(".ts"));

describeKernel("examples: accepted by tsbpf's verifier and by the kernel", () => {
  test.each(files)("%s", (file) => {
    const r = compile({ fileName: join(examples, file) }, { verify: false });
    expect(r.diagnostics.map((d) => d.message)).toEqual([]);
    const obj = readObject(r.object!);
    expect(obj.programs.length).toBeGreaterThan(0);
    for (const [name, v] of verifyObject(obj)) {
      expect({ name, ok: v.ok, error: v.error?.message }).toEqual({ name, ok: true, error: undefined });
      const k = kernelVerdict(obj, name);
      expect({ name, kernel: k.ok }).toEqual({ name, kernel: true });
      // Both count instructions over explored paths; ours explores at least as much as the kernel prunes to.
      expect(v.insnsProcessed).toBeGreaterThan(0);
    }
  });
});
