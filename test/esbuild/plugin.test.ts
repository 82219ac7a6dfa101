import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";
import { afterAll, describe, expect, it } from "vitest";
import tsbpf from "../../compiler/esbuild-plugin.ts";
import { readObject } from "../../compiler/elf/index.ts";

const dir = mkdtempSync(join(tmpdir(), "tsbpf-esbuild-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("esbuild plugin", () => {
  it("turns `import obj from './x.bpf.ts'` into the compiled object's bytes", async () => {
    copyFileSync(new URL("../../examples/redirect-port.ts", import.meta.url), join(dir, "handler.bpf.ts"));
    writeFileSync(join(dir, "app.ts"), `import obj from "./handler.bpf.ts";\nexport default obj;\n`);
    const out = join(dir, "app.mjs");
    await build({ entryPoints: [join(dir, "app.ts")], bundle: true, outfile: out, format: "esm", platform: "node", plugins: [tsbpf()], logLevel: "silent" });
    const bytes: Uint8Array = (await import(pathToFileURL(out).href)).default;
    expect(bytes).toBeInstanceOf(Uint8Array);
    const obj = readObject(bytes);
    expect(obj.programs.map((p) => p.name)).toEqual(["redir_port"]);
    expect(obj.maps.map((m) => m.name)).toEqual(["sockets"]);
  });

  it("compiles `import obj from './x.ts?object'` (the typed form) whatever the file's name, relative or by package", async () => {
    copyFileSync(new URL("../../examples/redirect-port.ts", import.meta.url), join(dir, "redirect.ts"));
    mkdirSync(join(dir, "node_modules/handlers"), { recursive: true });
    writeFileSync(join(dir, "node_modules/handlers/package.json"), `{ "name": "handlers", "version": "1.0.0" }\n`);
    copyFileSync(new URL("../../examples/cidr-all-ports.ts", import.meta.url), join(dir, "node_modules/handlers/cidr.ts"));
    writeFileSync(
      join(dir, "typed.ts"),
      `import a from "./redirect.ts?object";\nimport b from "handlers/cidr.ts?object";\nexport default [a, b];\n`,
    );
    const out = join(dir, "typed.mjs");
    await build({ entryPoints: [join(dir, "typed.ts")], bundle: true, outfile: out, format: "esm", platform: "node", plugins: [tsbpf()], logLevel: "silent" });
    const [a, b]: Uint8Array[] = (await import(pathToFileURL(out).href)).default;
    expect(readObject(a).programs.map((p) => p.name)).toEqual(["redir_port"]);
    expect(readObject(b).programs.map((p) => p.name)).toEqual(["serve_range"]);
  });

  it("reports a `?object` import of a missing file as esbuild's resolution error", async () => {
    writeFileSync(join(dir, "missing.ts"), `import a from "missing-pkg/x.ts?object";\nexport default a;\n`);
    const err = await build({ entryPoints: [join(dir, "missing.ts")], bundle: true, write: false, plugins: [tsbpf()], logLevel: "silent" }).then(
      () => undefined,
      (e: { errors: { text: string }[] }) => e,
    );
    expect(err?.errors.map((e) => e.text)).toEqual(['Could not resolve "missing-pkg/x.ts"']);
  });

  it("fails the bundle with the handler's diagnostics at their source location", async () => {
    writeFileSync(
      join(dir, "bad.bpf.ts"),
      `import { type SkLookup, type Verdict, SK_PASS } from "tsbpf";\nexport function p(ctx: SkLookup): Verdict {\n  const s = "x";\n  return SK_PASS;\n}\n`,
    );
    writeFileSync(join(dir, "bad.ts"), `import obj from "./bad.bpf.ts";\nexport default obj;\n`);
    const err = await build({ entryPoints: [join(dir, "bad.ts")], bundle: true, write: false, plugins: [tsbpf()], logLevel: "silent" }).then(
      () => undefined,
      (e: { errors: { text: string; location: { file: string; line: number; column: number } | null }[] }) => e,
    );
    expect(err?.errors.map((e) => [e.text.split(":")[0], e.location?.line, e.location?.column])).toEqual([["TSBPF1001", 3, 12]]);
  });
});
