/**
 * The "Testing your handler" example in docs/LANGUAGE.md runs as written: its imports are replaced by this
 * checkout's modules and its `test(...)` bodies are awaited with vitest's real `expect`.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";
import * as testing from "../../runtime/testing/index.ts";
import { fencedBlocks } from "../docs/markdown.ts";

const ROOT = join(import.meta.dirname, "../..");

test("docs/LANGUAGE.md's tsbpf/testing example passes", async () => {
  const blocks = fencedBlocks(readFileSync(join(ROOT, "docs/LANGUAGE.md"), "utf8"));
  const example = blocks.find((b) => b.lang === "ts" && b.body.includes('from "tsbpf/testing"'));
  expect(example, "a ts block importing tsbpf/testing").toBeDefined();
  const imports = [...example!.body.matchAll(/^import \{([^}]*)\} from "([^"]+)";$/gm)];
  expect(imports.map((m) => m[2])).toEqual(["vitest", "tsbpf/testing"]);
  const names = imports[1]![1]!.split(",").map((s) => s.trim()).filter(Boolean);
  const body = example!.body.replace(/^import .*$/gm, "");
  const bodies: Array<() => Promise<void>> = [];
  const collect = (_name: string, fn: () => Promise<void>) => void bodies.push(fn);
  const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (...args: string[]) => (...a: unknown[]) => Promise<void>;
  const run = new AsyncFunction("expect", "test", ...names, body);
  await run(expect, collect, ...names.map((n) => (testing as Record<string, unknown>)[n]));
  expect(bodies.length).toBeGreaterThan(0);
  for (const b of bodies) await b();
});
