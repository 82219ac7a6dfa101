/**
 * docs/LANGUAGE.md's reference snippets on the real kernel: every `ts valid` block's object loads (the kernel's
 * verifier accepts every program), and a block with `verdict=` returns that verdict under BPF_PROG_TEST_RUN and in
 * the VM (both tiers) for the documented lookup, so the arithmetic claims the snippets make hold on the kernel.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";
import { compile } from "../../compiler/index.ts";
import { openKernel } from "../../runtime/kernel/open.ts";
import { loadObject } from "../../runtime/index.ts";
import { describeKernel } from "../support/kernel.ts";
import { fencedBlocks } from "./markdown.ts";

const ROOT = join(import.meta.dirname, "../..");
const VALID = fencedBlocks(readFileSync(join(ROOT, "docs/LANGUAGE.md"), "utf8")).filter((b) => b.lang === "ts" && b.flags.has("valid"));
/** The lookup the doc's introduction names for `verdict=` blocks. */
const PACKET = { family: "inet", protocol: "tcp", remoteIp: "127.0.0.2", remotePort: 40000, localIp: "127.0.0.1", localPort: 7007 } as const;

describeKernel("docs/LANGUAGE.md snippets on the kernel", () => {
  test("some snippets carry a verdict", () => {
    expect(VALID.filter((b) => b.attrs.has("verdict")).length).toBeGreaterThanOrEqual(3);
  });

  for (const b of VALID) {
    const want = b.attrs.get("verdict");
    test(`line ${b.line}: loads${want ? ` and returns ${want}` : ""}`, () => {
      const r = compile({ fileName: "snippet.ts", source: b.body });
      expect(r.diagnostics).toEqual([]);
      const loaded = openKernel().load(r.object!);
      try {
        expect(loaded.programs.size).toBe(r.programs.length);
        if (!want) return;
        expect(["SK_PASS", "SK_DROP"]).toContain(want);
        const vm = loadObject(r.object!);
        for (const { name } of r.programs) {
          expect(loaded.program(name).testRun(PACKET).verdict, `${name} in the kernel`).toBe(want);
          expect(vm.run(name, PACKET, { tier: "interp" }).verdict, `${name} in the VM`).toBe(want);
          expect(vm.run(name, PACKET, { tier: "jit" }).verdict, `${name} in the VM's JIT`).toBe(want);
        }
      } finally {
        loaded.close();
      }
    });
  }
});
