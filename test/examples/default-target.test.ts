/**
 * A default build (target Linux 5.10) of every example, every DSL fixture under test/ and every `ts valid` snippet of
 * the docs asks nothing of the kernel that 5.10 lacks: no cpu-v4 instruction, no atomic fetch form, no helper or BTF
 * kind newer than 5.10 (compiler/target/requirements.ts reads them off the object). And the running kernel loads
 * every one of those objects, and every one built for it (`host`).
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { compile } from "../../compiler/index.ts";
import { readObject } from "../../compiler/elf/index.ts";
import { minimumVersion, objectRequirements } from "../../compiler/target/requirements.ts";
import { formatVersion } from "../../compiler/target/index.ts";
import { openKernel } from "../../runtime/kernel/open.ts";
import { describeKernel } from "../support/kernel.ts";
import { fencedBlocks } from "../docs/markdown.ts";

const ROOT = join(import.meta.dirname, "../..");
const ts = (dir: string) => readdirSync(join(ROOT, dir)).filter((f) => f.endsWith(".ts")).map((f) => `${dir}/${f}`);

/** Inputs that must compile: examples, handler fixtures, the docs' valid snippets. */
const MUST_COMPILE: { name: string; fileName: string; source?: string }[] = [
  ...ts("examples"),
  ...ts("test/e2e/handlers"),
  ...ts("test/testing/handlers"),
].map((f) => ({ name: f, fileName: join(ROOT, f) }));
for (const doc of ["README.md", ...readdirSync(join(ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)]) {
  for (const b of fencedBlocks(readFileSync(join(ROOT, doc), "utf8"))) {
    if (b.lang === "ts" && b.flags.has("valid")) MUST_COMPILE.push({ name: `${doc}:${b.line}`, fileName: "snippet.ts", source: b.body });
  }
}
/** The diagnostics fixtures: most are meant to fail; those that compile are scanned too. */
const MAY_COMPILE: { name: string; fileName: string; source?: string }[] = ts("test/diagnostics/cases").map((f) => ({ name: f, fileName: join(ROOT, f) }));

const objects = new Map<string, Uint8Array>();
for (const input of MUST_COMPILE) {
  const r = compile({ fileName: input.fileName, source: input.source });
  if (r.object) objects.set(input.name, r.object);
}
const failedToCompile = MUST_COMPILE.filter((i) => !objects.has(i.name)).map((i) => i.name);
for (const input of MAY_COMPILE) {
  const r = compile({ fileName: input.fileName });
  if (r.object) objects.set(input.name, r.object);
}

describe("a default build targets Linux 5.10", () => {
  it("compiles every example, fixture and valid doc snippet", () => {
    expect(failedToCompile).toEqual([]);
    expect(objects.size).toBeGreaterThanOrEqual(MUST_COMPILE.length);
    expect(MUST_COMPILE.length).toBeGreaterThanOrEqual(20); // 5 examples, 2 handlers, 13 doc snippets today
  });

  it("asks for no instruction, atomic form, helper or BTF kind newer than 5.10", () => {
    const found = [...objects].flatMap(([name, bytes]) =>
      objectRequirements(readObject(bytes)).map((r) => `${name}: ${r.what} (${r.since ? formatVersion(r.since) : "no modelled release"})`),
    );
    expect(found).toEqual([]);
    for (const bytes of objects.values()) expect(formatVersion(minimumVersion(objectRequirements(readObject(bytes))))).toBe("5.10");
  });
});

describeKernel("default builds on the running kernel", () => {
  const loaded: { close(): void }[] = [];
  afterAll(() => loaded.forEach((o) => o.close()));

  it("loads every object", () => {
    const kernel = openKernel();
    const refused: string[] = [];
    for (const [name, bytes] of objects) {
      try {
        loaded.push(kernel.load(bytes));
      } catch (err) {
        refused.push(`${name}: ${(err as Error).message.split("\n")[0]}`);
      }
    }
    expect(refused).toEqual([]);
  });

  it("loads every input built for the running kernel (--target-kernel host: cpu-v4 forms, fewer NULL tests)", () => {
    const kernel = openKernel();
    const refused: string[] = [];
    let built = 0;
    for (const input of [...MUST_COMPILE, ...MAY_COMPILE]) {
      const r = compile({ fileName: input.fileName, source: input.source }, { target: "host" });
      if (!r.object) {
        if (MUST_COMPILE.includes(input)) refused.push(`${input.name}: ${r.diagnostics[0]?.message}`);
        continue;
      }
      built++;
      try {
        loaded.push(kernel.load(r.object));
      } catch (err) {
        refused.push(`${input.name}: ${(err as Error).message.split("\n")[0]}`);
      }
    }
    expect(refused).toEqual([]);
    // At least the default build's inputs; the host may accept more (verifier-unchecked.ts on a sock_or_null kernel).
    expect(built).toBeGreaterThanOrEqual(objects.size);
  });
});
