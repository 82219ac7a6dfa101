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
import { kernelVerdict, hostTarget } from "./kernel-harness.ts";

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

/** A program whose counted loop the compiler keeps as a real loop (more than 64 iterations). */
const loopSource = (n: number, body: string): string => `import { type SkLookup, type Verdict, SK_PASS, SK_DROP, type u32 } from "tsbpf";
export function p(ctx: SkLookup): Verdict {
  let n: u32 = 0;
  for (let j = 0; j < ${n}; j++) { ${body} }
  return n === 0 ? SK_PASS : SK_DROP;
}
`;

describeKernel("compiled loops: tsbpf's verdict equals the kernel's", () => {
  const shapes: [string, string][] = [
    ["accumulate", "n += ctx.localPort;"],
    ["branch", "if (ctx.localPort === j) n++;"],
  ];
  // A branch in a 100-iteration loop already exceeds both verifiers' one million instructions (one case suffices).
  const rows = [
    ...[100, 1000, 8192].map((n) => [`${shapes[0]![0]} x${n}`, n, shapes[0]![1]] as const),
    [`${shapes[1]![0]} x100`, 100, shapes[1]![1]] as const,
  ];
  test.each(rows)("%s", (_label, n, body) => {
    const r = compile({ fileName: "loop.ts", source: loopSource(n, body) }, { verify: false });
    expect(r.diagnostics.map((d) => d.message)).toEqual([]);
    const obj = readObject(r.object!);
    // The branchy loop runs into the instruction limit; a smaller budget gets tsbpf there faster and can only make
    // it reject more (the full one-million budget is exercised by the corpus's unbounded loop).
    const ours = verifyObject(obj, { target: hostTarget(), ...(body.includes("if") ? { maxInsns: 200_000 } : {}) }).get("p")!;
    const k = kernelVerdict(obj, "p");
    expect({ ok: ours.ok, error: ours.error?.message }).toMatchObject({ ok: k.ok });
  });
});
