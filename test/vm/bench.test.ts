/** benchVm/measureVm and bench:vm's kernel side produce sane figures (the timing itself is `npm run bench`'s, not checked here). */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "vitest";
import { measureCorpusCase } from "../../bench/corpus-kernel.ts";
import { benchVm, corpusCases, measureVm } from "../../runtime/vm/bench.ts";
import { describeKernel } from "../support/kernel.ts";

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

describeKernel("bench:vm's kernel column (BPF_PROG_TEST_RUN on corpus cases)", () => {
  test("fills the case's maps like the corpus tests, checks the expected result and times it", async () => {
    const dir = join(root, "test/fixtures/c");
    for (const program of ["pass", "redir_port", "sockhash_select"]) {
      const c = corpusCases(dir).find((x) => x.program === program)!;
      const k = await measureCorpusCase(dir, c.program, c.name, 1_000, 1);
      expect(k.mismatch, program).toBe("");
      expect(k.nsPerRun, program).toBeGreaterThan(0);
    }
  });

  test("reports a run that differs from the case's expectation", async () => {
    const dir = join(root, "test/fixtures/c");
    // redir_port's hit case with the local port changed in a copy of the manifest: no socket is selected.
    const tmp = mkdtempSync(join(tmpdir(), "tsbpf-benchvm-"));
    try {
      const corpus = JSON.parse(readFileSync(join(dir, "corpus.json"), "utf8"));
      const prog = corpus.programs.find((p: { name: string }) => p.name === "redir_port");
      const c = corpusCases(dir).find((x) => x.program === "redir_port")!;
      prog.cases.find((x: { name: string }) => x.name === c.name).ctx.localPort = 1;
      writeFileSync(join(tmp, "corpus.json"), JSON.stringify(corpus));
      copyFileSync(join(dir, prog.object), join(tmp, prog.object));
      const k = await measureCorpusCase(tmp, "redir_port", c.name, 100, 1);
      expect(k.mismatch).toBe("selected null, expected A");
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
