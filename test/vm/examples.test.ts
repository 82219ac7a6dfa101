/**
 * The five examples (compiled by tsbpf) and their clang twins (bench/c) run in the VM on both tiers: the example's
 * hit path from bench/examples.ts must behave as the table says, and over a grid of other lookups (ports, protocols,
 * families, addresses, empty maps) the tsbpf object and the clang twin must give the same verdict and selection.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { EXAMPLES } from "../../bench/examples.ts";
import { compile } from "../../compiler/index.ts";
import { VmObject } from "../../runtime/vm/object.ts";
import { fillBenchMaps } from "../../runtime/vm/bench.ts";
import { TIERS } from "./harness.ts";

const root = join(import.meta.dirname, "..", "..");
type Prog = (typeof EXAMPLES)[number]["programs"][number];

function fill(obj: VmObject, prog: Prog): void {
  expect(fillBenchMaps(obj, prog.fills)).toBe("");
}

/** Variations of a hit ctx that take the other paths. */
function grid(ctx: Prog["ctx"]): Prog["ctx"][] {
  const v6 = ctx.family === "inet6";
  return [
    ctx,
    { ...ctx, localPort: ctx.localPort + 1 },
    { ...ctx, localPort: 22 },
    { ...ctx, protocol: ctx.protocol === "tcp" ? "udp" : "tcp" },
    { ...ctx, localIp: v6 ? "fd00::2" : "192.0.3.1" },
    { ...ctx, localIp: v6 ? "fd00:1::1" : "127.0.2.200", localPort: 80 },
    v6 ? { ...ctx, family: "inet", remoteIp: "127.0.0.2", localIp: "127.0.0.1" } : { ...ctx, family: "inet6", remoteIp: "::2", localIp: "::1" },
  ];
}

for (const ex of EXAMPLES) {
  describe(ex.source, () => {
    const out = compile({ fileName: join(root, ex.source) });
    const ours = out.object;
    const twin = readFileSync(join(root, ex.twinObject));
    test("compiles without diagnostics", () => {
      expect(out.diagnostics).toEqual([]);
      expect(ours).toBeDefined();
    });
    for (const prog of ex.programs) {
      for (const tier of TIERS) {
        test(`${prog.name}: hit path and grid agree with the clang twin [${tier}]`, () => {
          const a = VmObject.fromBytes(ours!);
          const b = VmObject.fromBytes(twin);
          fill(a, prog);
          fill(b, prog);
          const hit = a.run(prog.name, prog.ctx, { tier });
          expect(hit.verdict).toBe(prog.verdict);
          expect(hit.selected !== null).toBe(prog.selects);
          for (const ctx of grid(prog.ctx)) {
            const ra = a.run(prog.name, ctx, { tier });
            const rb = b.run(prog.name, ctx, { tier });
            expect([ra.verdict, ra.selected?.name ?? null, ra.leakedRefs], JSON.stringify(ctx)).toEqual([rb.verdict, rb.selected?.name ?? null, rb.leakedRefs]);
          }
          // Empty maps: no socket anywhere.
          const ea = VmObject.fromBytes(ours!).run(prog.name, prog.ctx, { tier });
          const eb = VmObject.fromBytes(twin).run(prog.name, prog.ctx, { tier });
          expect([ea.verdict, ea.selected]).toEqual([eb.verdict, eb.selected]);
        });
      }
    }
  });
}
