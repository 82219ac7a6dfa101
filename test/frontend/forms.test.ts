/**
 * Each issue-10 construct against the spelling users needed before it (test/frontend/forms.ts): both programs give
 * the same verdict, selection and `out` values on the VM's interpreter, its JIT and the kernel, for empty and filled
 * maps and two lookups, and the new form is never longer. The instruction counts are printed as the before/after
 * table of the closing note.
 */
import { describeKernel } from "../support/kernel.ts";
import { FORMS, formSource } from "./forms.ts";
import { TCP4, testFormPairs, type Fill } from "./tiers.ts";

const FILLS: Fill[] = [{}, { counts: [[1, 3]], primary: [[0, "A"], [1, "A"]], backup: [[0, "B"]] }, { counts: [[1, 0]], backup: [[0, "B"]] }];
const CTXS = [TCP4, { ...TCP4, protocol: "udp" as const, localPort: 7004 }];

describeKernel("new forms mean what the old spellings meant (interp, JIT, kernel)", () => {
  // The direct form never costs more than the workaround (struct parameters rely on slotptr.ts for this).
  testFormPairs(FORMS, formSource, "form.ts", FILLS, CTXS, 1, true);
});
