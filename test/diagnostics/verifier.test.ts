/**
 * A program the DSL's types allow but the kernel refuses (an unchecked SOCKMAP lookup handed to ctx.assign) is caught
 * by compile()'s verifier pass at the TypeScript expression, and the kernel agrees when the object is built anyway.
 */
import { readFileSync } from "node:fs";
import { expect, test } from "vitest";
import { compile } from "../../compiler/index.ts";
import { openKernel } from "../../runtime/kernel/open.ts";
import { describeKernel } from "../support/kernel.ts";

const FILE = "test/diagnostics/cases/verifier-unchecked.ts";

test("compile() reports the verifier's rejection at the TS call, with the verifier's reasoning in notes", () => {
  const r = compile({ fileName: FILE });
  expect(r.object).toBeUndefined();
  expect(r.diagnostics).toHaveLength(1);
  const d = r.diagnostics[0]!;
  expect(d).toMatchObject({ file: FILE, line: 5, column: 10, code: "TSBPF3002" });
  expect(d.notes).toContain("R2 type=map_value_or_null expected=sock");
  expect(d.notes?.[0]).toMatch(/^\d+: call 0x7c$/);
});

describeKernel("the kernel agrees with the verifier pass", () => {
  test("the same object (built with verify: false) is rejected by the kernel with the same message", () => {
    const r = compile({ fileName: FILE, source: readFileSync(FILE, "utf8") }, { verify: false });
    expect(r.diagnostics).toEqual([]);
    let message = "";
    try {
      openKernel().load(r.object!).close();
    } catch (err) {
      message = String((err as Error).message) + String((err as { log?: string }).log ?? "");
    }
    expect(message).toContain("R2 type=map_value_or_null expected=sock");
  });
});
