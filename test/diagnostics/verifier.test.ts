/**
 * A program the DSL's types allow but upstream kernels refuse (an unchecked SOCKMAP lookup handed to ctx.assign) is
 * caught by compile()'s verifier pass at the TypeScript expression for the default target (Linux 5.10). Built anyway,
 * the running kernel's verdict equals tsbpf's verdict for `--target-kernel host`: builds that type SOCKMAP lookups
 * sock_or_null accept it, the others refuse it with the same message.
 */
import { readFileSync } from "node:fs";
import { expect, test } from "vitest";
import { compile } from "../../compiler/index.ts";
import { openKernel } from "../../runtime/kernel/open.ts";
import { resolveTarget } from "../../compiler/target/index.ts";
import { describeKernel } from "../support/kernel.ts";

const FILE = "test/diagnostics/cases/verifier-unchecked.ts";

test("compile() reports the verifier's rejection at the TS call, with the verifier's reasoning in notes", () => {
  const r = compile({ fileName: FILE });
  expect(r.object).toBeUndefined();
  expect(r.diagnostics).toHaveLength(1);
  const d = r.diagnostics[0]!;
  expect(d).toMatchObject({ file: FILE, line: 5, column: 10, code: "TSBPF3002" });
  expect(d.message).toBe("program 'p' would be rejected by the kernel verifier of Linux 5.10: R2 type=map_value_or_null expected=sock");
  expect(d.notes).toContain("R2 type=map_value_or_null expected=sock");
  expect(d.notes?.[0]).toMatch(/^\d+: call 0x7c$/);
});

describeKernel("the kernel agrees with the verifier pass for the running kernel", () => {
  test("the same object (built with verify: false) gets the kernel verdict tsbpf gives for --target-kernel host", () => {
    const source = readFileSync(FILE, "utf8");
    const r = compile({ fileName: FILE, source }, { verify: false });
    expect(r.diagnostics).toEqual([]);
    let message: string | undefined;
    try {
      openKernel().load(r.object!).close();
    } catch (err) {
      message = String((err as Error).message) + String((err as { log?: string }).log ?? "");
    }
    const host = resolveTarget("host");
    const ours = compile({ fileName: FILE, source }, { target: host });
    expect({ loads: message === undefined, compiles: ours.object !== undefined }).toEqual({
      loads: host.skAssignAcceptsUncheckedLookup,
      compiles: host.skAssignAcceptsUncheckedLookup,
    });
    if (message !== undefined) {
      expect(ours.diagnostics[0]?.notes).toContain(`R2 type=${host.sockmapLookupType} expected=sock`);
      expect(message).toContain(`R2 type=${host.sockmapLookupType} expected=sock`);
    }
  });
});
