// The C twins of the examples (bench/c): each loads in the kernel with exactly the programs the bench table names,
// and bench/c/build.sh reproduces the committed objects byte for byte.
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { EXAMPLES } from "../../bench/examples.ts";
import { describeKernel } from "../support/kernel.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const TWINS = join(ROOT, "bench/c");
/** Pin names must not collide between test files that share a pid (worker threads). */
const TAG = randomBytes(3).toString("hex");

describe("bench twin table", () => {
  it("names an existing example, C source and object for every entry, and every twin object once", () => {
    for (const ex of EXAMPLES) {
      for (const p of [ex.source, ex.twinSource, ex.twinObject]) expect(existsSync(join(ROOT, p)), p).toBe(true);
      // Every program of the table is an exported function of the example.
      const src = readFileSync(join(ROOT, ex.source), "utf8");
      for (const prog of ex.programs) expect(src).toMatch(new RegExp(`export function ${prog.name}\\(`));
    }
    const objects = readdirSync(TWINS).filter((f) => f.endsWith(".o")).map((f) => `bench/c/${f}`).sort();
    expect(EXAMPLES.map((e) => e.twinObject).sort()).toEqual(objects);
  });
});

describeKernel("C twins in the kernel", () => {
  EXAMPLES.forEach((ex, n) => {
    it(`${ex.twinObject} loads with programs ${ex.programs.map((p) => p.name).join(", ")}`, () => {
      const pin = `/sys/fs/bpf/tsbpf-twin-${process.pid}-${TAG}-${n}`;
      try {
        const load = spawnSync("bpftool", ["prog", "loadall", join(ROOT, ex.twinObject), pin], { encoding: "utf8" });
        expect(load.status, `bpftool prog loadall ${ex.twinObject}:\n${load.stderr}`).toBe(0);
        expect(readdirSync(pin).sort()).toEqual(ex.programs.map((p) => p.name).sort());
      } finally {
        rmSync(pin, { recursive: true, force: true });
      }
    });
  });
});

const clangMissing = spawnSync("clang-16", ["--version"]).status !== 0 ? "clang-16 is not installed (apt-get install clang-16)" : null;
if (clangMissing) console.warn(`[skip] bench twin rebuild: ${clangMissing}`);

describe.skipIf(clangMissing !== null)("bench/c/build.sh", () => {
  it("reproduces every committed twin byte for byte", () => {
    const out = mkdtempSync(join(tmpdir(), "tsbpf-twins-"));
    try {
      execFileSync("sh", [join(TWINS, "build.sh")], { env: { ...process.env, OUT_DIR: out }, stdio: "pipe" });
      for (const ex of EXAMPLES) {
        const name = ex.twinObject.split("/").pop()!;
        expect(Buffer.compare(readFileSync(join(out, name)), readFileSync(join(ROOT, ex.twinObject))), `${name} differs`).toBe(0);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
