/**
 * Every program of every example loads into the running kernel through bpftool (libbpf infers the program type from
 * the `sk_lookup` section). A rejection fails the test with bpftool's output, which carries the kernel verifier's log
 * (with our TypeScript source lines from BTF line info) — checked here on a program that upstream kernels refuse and
 * that builds typing SOCKMAP lookups sock_or_null accept (the probed host target says which this kernel is).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { compile } from "../../compiler/index.ts";
import { resolveTarget } from "../../compiler/target/index.ts";
import { openKernel } from "../../runtime/kernel/open.ts";
import { describeKernel } from "../support/kernel.ts";
import { EXAMPLES } from "./examples.ts";

/** `bpftool -d prog loadall OBJ PIN`: "" on success, else bpftool's output minus libbpf's ELF-parsing chatter. */
function loadAll(obj: string, pin: string): string {
  try {
    execFileSync("bpftool", ["-d", "prog", "loadall", obj, pin], { stdio: "pipe" });
    return "";
  } catch (err) {
    const out = String((err as { stderr?: Buffer }).stderr ?? err);
    return out.split("\n").filter((l) => !/^libbpf: (elf|sec|map|prog '.*': found|CO-RE|looking for|collected)/.test(l)).join("\n");
  }
}

describeKernel("examples load into the kernel (bpftool prog loadall)", () => {
  const work = mkdtempSync(join(tmpdir(), "tsbpf-examples-"));
  const pins: string[] = [];
  const pinFor = (name: string) => {
    const pin = `/sys/fs/bpf/tsbpf-examples-${process.pid}-${name}`;
    pins.push(pin);
    return pin;
  };
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
      const pin = pinFor(name);
      const log = loadAll(obj, pin);
      expect(log, `the kernel rejected ${name}:\n${log}`).toBe("");
      expect(readdirSync(pin).sort()).toEqual([...want.programs].sort());
    });
  }

  test("the kernel's verifier log carries TypeScript source lines, in a rejection where the running kernel refuses", () => {
    // Built with our verifier off: an unchecked SOCKMAP lookup passed to assign (released when non-NULL).
    const r = compile({ fileName: "test/diagnostics/cases/verifier-unchecked.ts" }, { verify: false });
    const obj = join(work, "unchecked.bpf.o");
    writeFileSync(obj, r.object!);
    const log = loadAll(obj, pinFor("unchecked"));
    const line = "; return ctx.assign(sockets.lookup(0)) === 0 ? SK_PASS : SK_DROP; @ verifier-unchecked.ts:5";
    const host = resolveTarget("host");
    if (host.skAssignAcceptsUncheckedLookup) {
      expect(log, "this kernel types SOCKMAP lookups sock_or_null, so bpf_sk_assign takes the unchecked result").toBe("");
      const loaded = openKernel().load(r.object!, { logLevel: 2 }); // level 2: every instruction, with source lines
      try {
        expect(loaded.program("p").log).toContain(line);
      } finally {
        loaded.close();
      }
    } else {
      expect(log).toContain("-- BEGIN PROG LOAD LOG --");
      expect(log).toContain(`R2 type=${host.sockmapLookupType} expected=sock`);
      expect(log).toContain(line);
    }
  });
});
