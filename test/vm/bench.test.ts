/** benchVm/measureVm produce sane figures (the timing itself is checked by `npm run bench`, not here). */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";
import { benchVm, corpusCases, measureVm } from "../../runtime/vm/bench.ts";

const root = join(import.meta.dirname, "..", "..");

test("benchVm measures both tiers for corpus cases", () => {
  const cases = corpusCases(join(root, "test/fixtures/c")).filter((c) => ["pass", "redir_port", "dispatch"].includes(c.program));
  const rows = benchVm(cases, 2_000, 1_000);
  expect(rows.map((r) => r.program)).toEqual(["pass", "redir_port", "dispatch"]);
  for (const r of rows) {
    expect(r.interpNs).toBeGreaterThan(0);
    expect(r.jitNs).toBeGreaterThan(0);
    expect(r.insns).toBeGreaterThan(1);
  }
});

test("measureVm checks behaviour and reports a mismatch", () => {
  const bytes = readFileSync(join(root, "test/fixtures/c/basic.o"));
  const ctx = { family: "inet", protocol: "tcp", remoteIp: "127.0.0.2", remotePort: 8008, localIp: "127.0.0.1", localPort: 7007 } as const;
  const fills = [{ map: "sockets", kind: "socket", key: 0, socket: { family: "inet", protocol: "tcp" } }] as const;
  const ok = measureVm(bytes, { name: "redir_port", ctx, fills, verdict: "SK_PASS", selects: true }, "jit", 1_000, 1_000);
  expect(ok.mismatch).toBe("");
  expect(ok.nsPerRun).toBeGreaterThan(0);
  const bad = measureVm(bytes, { name: "redir_port", ctx: { ...ctx, localPort: 7008 }, fills, verdict: "SK_PASS", selects: true }, "interp", 100, 100);
  expect(bad.mismatch).toBe("no socket selected");
});
