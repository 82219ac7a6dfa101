/**
 * Each issue-10 construct against the spelling users needed before it (test/frontend/forms.ts): both programs give
 * the same verdict, selection and `out` values on the VM's interpreter, its JIT and the kernel, for empty and filled
 * maps and two lookups, and the new form is never longer. The instruction counts are printed as the before/after
 * table of the closing note.
 */
import { afterAll, beforeAll, expect, test } from "vitest";
import { describeKernel } from "../support/kernel.ts";
import { FORMS, formSource } from "./forms.ts";
import { TCP4, Tiers, type Fill } from "./tiers.ts";

const FILLS: Fill[] = [{}, { counts: [[1, 3]], primary: [[0, "A"], [1, "A"]], backup: [[0, "B"]] }, { counts: [[1, 0]], backup: [[0, "B"]] }];
const CTXS = [TCP4, { ...TCP4, protocol: "udp" as const, localPort: 7004 }];

describeKernel("new forms mean what the old spellings meant (interp, JIT, kernel)", () => {
  const rows: string[] = [];
  const compiled = FORMS.map((f) => ({ f, t: new Tiers(formSource(f), "form.ts") }));
  beforeAll(async () => {
    for (const c of compiled) await c.t.start();
  });
  afterAll(() => {
    for (const c of compiled) c.t.stop();
    console.log(["| construct | before (insns) | after (insns) |", "| --- | --- | --- |", ...rows].join("\n"));
  });

  for (const { f, t } of compiled) {
    test(f.construct, () => {
      for (const fill of FILLS) {
        for (const ctx of CTXS) {
          const before = t.run("before", fill, ctx, 1);
          const after = t.run("after", fill, ctx, 1);
          expect(after, `${JSON.stringify(fill)} ${ctx.protocol}:${ctx.localPort}`).toEqual(before);
          expect(after.jit).toEqual(after.interp);
          expect(after.kernel).toEqual(after.interp);
        }
      }
      rows.push(`| ${f.construct} | ${t.insns.get("before")} | ${t.insns.get("after")} |`);
      // The direct form never costs more than the workaround (struct parameters rely on slotptr.ts for this).
      expect(t.insns.get("after")!).toBeLessThanOrEqual(t.insns.get("before")!);
    });
  }
});
