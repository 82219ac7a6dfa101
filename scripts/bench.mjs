#!/usr/bin/env node
// `npm run bench`: code size, compile time, run time and verifier time of the examples, each next to its reference
// (clang -O2 on the C twins in bench/c, the kernel's BPF_PROG_TEST_RUN and verifier).
//
// Node 20 cannot import TypeScript, so each part is bundled with esbuild (already a dev dependency) into
// node_modules/.cache/tsbpf-bench/ and imported from there; npm packages stay external and resolve from the repo.
// Optional parts (compiler, VM, verifier, kernel bridge) are bundled one by one: a part that is missing or does not
// build yet makes its columns "n/a" (or its section "skipped") with a one-line reason instead of failing the run.
//
// Flags: --quick (fewer repetitions), --smoke (fewest; for tests), --json (also print the sections as JSON),
// --only=a,b,c,d,e (the goals table of issue 12 comes last, from the sections that ran)
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outDir = join(root, "node_modules", ".cache", "tsbpf-bench");
const args = process.argv.slice(2);
const smoke = args.includes("--smoke");
const quick = smoke || args.includes("--quick");
const json = args.includes("--json");
const only = (args.find((a) => a.startsWith("--only="))?.slice(7) ?? "a,b,c,d,e").split(",");

/** Bundles `entry` and imports it; on failure returns a one-line reason. */
async function load(entry) {
  const outfile = join(outDir, relative(root, entry).replace(/[\\/]/g, "_").replace(/\.ts$/, ".mjs"));
  try {
    await build({
      entryPoints: [entry],
      outfile,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      packages: "external",
      logLevel: "silent",
    });
  } catch (err) {
    const first = err.errors?.[0];
    const where = first?.location ? `${first.location.file}:${first.location.line}: ` : "";
    return `not built yet (${where}${first?.text ?? String(err).split("\n")[0]})`;
  }
  try {
    // A fresh query string keeps Node from serving a module cached by an earlier run in the same process.
    return await import(`${pathToFileURL(outfile).href}?t=${Date.now()}`);
  } catch (err) {
    return `fails to load (${String(err?.message ?? err).split("\n")[0]})`;
  }
}

/** Writes a generated glue module into the cache (so modules that do not exist yet never break `tsc`) and loads it. */
async function loadGlue(name, code) {
  const file = join(outDir, `${name}.glue.ts`);
  writeFileSync(file, code);
  return load(file);
}

mkdirSync(outDir, { recursive: true });
const sections = await load(join(root, "bench", "sections.ts"));
const report = await load(join(root, "bench", "report.ts"));
if (typeof sections === "string" || typeof report === "string") {
  console.error(`bench: the harness itself does not build: ${typeof sections === "string" ? sections : report}`);
  process.exit(1);
}

const providers = {};
const compiler = await loadGlue("compiler", `export { compile } from ${JSON.stringify(join(root, "compiler", "index.ts"))};\n`);
providers.compile = typeof compiler === "string" ? `compiler/index.ts ${compiler}` : compiler.compile;
const kernel = await load(join(root, "bench", "providers", "kernel.ts"));
providers.kernel = typeof kernel === "string" ? `kernel bridge ${kernel}` : (kernel.unavailable() ?? kernel);
// Parts only some sections use are built only when those sections run.
const vm = only.includes("c") || only.includes("e") ? await load(join(root, "bench", "providers", "vm.ts")) : "not needed";
providers.vm = typeof vm === "string" ? `VM ${vm}` : vm;
// The verifier's bench entry: \`verifyTime(objectBytes, program, runs)\` → { ms, processed?, error? } (see
// bench/sections/common.ts VerifierProvider). Until it exists, the section says which exports the verifier has.
const verifier = !only.includes("d") ? "not needed" : await loadGlue(
  "verifier",
  `import * as v from ${JSON.stringify(join(root, "compiler", "verifier", "index.ts"))};
export function verifyTime(bytes, program, runs) {
  const fn = v.benchVerify ?? v.verifyTime;
  if (typeof fn !== "function") throw new Error("compiler/verifier has no benchVerify(objectBytes, program, runs) (exports: " + Object.keys(v).join(", ") + ")");
  return fn(bytes, program, runs);
}
`,
);
providers.verifier = typeof verifier === "string" ? `verifier ${verifier}` : verifier;

// The CLI as a user runs it: bin/tsbpf.js after `npm run build` (dist/ and the start-up snapshot rebuilt from the
// sources now, so the cold figures are of this checkout).
if (!only.includes("b")) providers.cli = "not needed";
else {
  const r = spawnSync(process.execPath, [join(root, "scripts", "build.mjs")], { cwd: root, encoding: "utf8" });
  providers.cli = r.status === 0 ? { path: join(root, "bin", "tsbpf.js") } : `npm run build failed (${(r.stderr || "").trim().split("\n").pop()})`;
}

const options = { root, quick, smoke };
console.log(`tsbpf bench${smoke ? " (smoke)" : quick ? " (quick)" : ""} — ${new Date().toISOString()}, node ${process.version}\n`);
const objects = await sections.compileExamples(providers, options);
const results = [];
const show = (s) => {
  results.push(s);
  console.log(report.renderSection(s) + "\n");
};
if (only.includes("a")) show(sections.sizeSection(providers, objects, options));
if (only.includes("b")) show(await sections.compileTimeSection(providers, objects, options));
if (only.includes("c")) show(await sections.runtimeSection(providers, objects, options));
if (only.includes("d")) show(sections.verifierSection(providers, objects, options));
if (only.includes("e")) show(await sections.lpmScaleSection(providers, options));
show(sections.goalsSection(results));
if (json) console.log(JSON.stringify(results, null, 2));
// Sockets and the kernel bridge may hold the event loop; the report is complete.
process.exit(0);
