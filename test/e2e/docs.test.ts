/** docs/attach.md's runnable example, run as written (imports pointed at this checkout) in a throwaway netns. */
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeKernel } from "../support/kernel.ts";
import { type LoaderBundle, Netns, bundleLoader } from "./netns.ts";

const ROOT = join(import.meta.dirname, "../..");

/** The fenced blocks of a markdown text with their language tag. */
function blocks(md: string): Array<{ lang: string; body: string }> {
  return [...md.matchAll(/^```(\w*)\n([\s\S]*?)^```/gm)].map((m) => ({ lang: m[1]!, body: m[2]! }));
}

/** Builds examples/redirect-port.ts with our compiler into `dir`, or falls back to the clang twin without it. */
async function buildExample(dir: string): Promise<string> {
  mkdirSync(join(dir, "examples"), { recursive: true });
  const out = join(dir, "examples/redirect-port.bpf.o");
  if (existsSync(join(ROOT, "compiler/index.ts"))) {
    const { compile } = (await import(join(ROOT, "compiler/index.ts"))) as {
      compile(o: { fileName: string }): { object?: Uint8Array; diagnostics: unknown[] };
    };
    const r = compile({ fileName: join(ROOT, "examples/redirect-port.ts") });
    if (!r.object) throw new Error(`examples/redirect-port.ts did not compile: ${JSON.stringify(r.diagnostics)}`);
    writeFileSync(out, r.object);
    return "tsbpf compiler";
  }
  copyFileSync(join(ROOT, "test/fixtures/c/basic.o"), out);
  return "clang twin";
}

describeKernel("docs/attach.md", () => {
  let bundle: LoaderBundle;
  let ns: Netns;
  beforeAll(async () => {
    bundle = await bundleLoader();
    ns = Netns.create();
  });
  afterAll(() => {
    ns?.close();
    bundle?.dispose();
  });

  it("the serve.mjs example prints what the doc says", async () => {
    const md = readFileSync(join(ROOT, "docs/attach.md"), "utf8");
    const all = blocks(md);
    const script = all.find((b) => b.lang === "js" && b.body.startsWith("// serve.mjs"));
    const expected = all.find((b) => b.lang === "text");
    expect(script, "a ```js block starting with // serve.mjs").toBeDefined();
    expect(expected).toBeDefined();
    expect(script!.body).toContain('from "tsbpf/runtime"');
    await buildExample(bundle.dir);
    writeFileSync(join(bundle.dir, "serve.mjs"), script!.body.replace('"tsbpf/runtime"', JSON.stringify(bundle.module)));
    const stdout = execFileSync("ip", ["netns", "exec", ns.name, process.execPath, "serve.mjs"], {
      cwd: bundle.dir,
      encoding: "utf8",
      timeout: 20_000,
      env: { ...process.env, TSBPF_NATIVE_ADDON: join(ROOT, "build/Release/tsbpf_bpf.node") },
    });
    expect(stdout).toBe(expected!.body);
  });
});
