/**
 * Every program of every example loads into the running kernel through bpftool (libbpf infers the program type from
 * the `sk_lookup` section). A rejection fails the test with bpftool's output, which carries the verifier log.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { compile } from "../../compiler/index.ts";
import { describeKernel } from "../support/kernel.ts";
import { EXAMPLES } from "./examples.ts";

describeKernel("examples load into the kernel (bpftool prog loadall)", () => {
  const work = mkdtempSync(join(tmpdir(), "tsbpf-examples-"));
  const pins: string[] = [];
  afterAll(() => {
    for (const p of pins) rmSync(p, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  for (const [name, want] of Object.entries(EXAMPLES)) {
    test(name, () => {
      const r = compile({ fileName: `examples/${name}.ts` });
      expect(r.diagnostics).toEqual([]);
      const obj = join(work, `${name}.bpf.o`);
      writeFileSync(obj, r.object!);
      const pin = `/sys/fs/bpf/tsbpf-examples-${process.pid}-${name}`;
      pins.push(pin);
      let log = "";
      try {
        // -d makes libbpf print the verifier log on failure.
        execFileSync("bpftool", ["-d", "prog", "loadall", obj, pin], { stdio: "pipe" });
      } catch (err) {
        log = String((err as { stderr?: Buffer }).stderr ?? err);
      }
      expect(log, `the kernel rejected ${name}:\n${log.split("\n").filter((l) => !/^libbpf: (elf|sec|map|prog '.*': found|CO-RE)/.test(l)).join("\n")}`).toBe("");
      expect(readdirSync(pin).sort()).toEqual([...want.programs].sort());
    });
  }
});
