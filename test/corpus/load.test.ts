// The clang corpus against the real kernel: every object loads with libbpf (bpftool prog loadall), its programs
// and maps are exactly those the manifest lists, and build.sh reproduces the committed objects byte for byte.
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { describeKernel } from "../support/kernel.ts";
import { readObject } from "../../compiler/elf/reader.ts";
import { resolveTarget } from "../../compiler/target/index.ts";
import { verifyObject } from "../../compiler/verifier/index.ts";
import { CORPUS_DIR, corpusPath, loadCorpus } from "./manifest.ts";

const corpus = loadCorpus();
/** Pin names must not collide between test files that share a pid (worker threads). */
const TAG = randomBytes(3).toString("hex");

function bpftoolJson<T>(...args: string[]): T {
  return JSON.parse(execFileSync("bpftool", ["-j", ...args], { encoding: "utf8" })) as T;
}

describe("corpus manifest", () => {
  it("lists every .c source and every object exactly once", () => {
    const sources = readdirSync(CORPUS_DIR).filter((f) => f.endsWith(".c")).sort();
    expect(corpus.objects.map((o) => o.source).sort()).toEqual(sources);
    const objects = readdirSync(CORPUS_DIR).filter((f) => f.endsWith(".o")).sort();
    expect(corpus.objects.map((o) => o.file).sort()).toEqual(objects);
  });

  it("names each program once, in an object it lists, with maps that object defines", () => {
    const names = corpus.programs.map((p) => p.name);
    expect(new Set(names).size).toBe(names.length);
    for (const p of corpus.programs) {
      const obj = corpus.objects.find((o) => o.file === p.object);
      expect(obj, p.name).toBeDefined();
      for (const m of p.maps) expect(obj!.maps.map((d) => d.name), `${p.name} uses ${m}`).toContain(m);
      expect(p.cases.length, `${p.name} has cases`).toBeGreaterThan(0);
      for (const c of p.cases) {
        for (const m of [...Object.keys(c.maps ?? {}), ...Object.keys(c.expect.maps ?? {})]) {
          expect(obj!.maps.map((d) => d.name), `${p.name}/${c.name} fills or reads ${m}`).toContain(m);
        }
      }
    }
  });

  it("is what corpus.gen.mjs generates (no hand edits)", () => {
    const dir = mkdtempSync(join(tmpdir(), "tsbpf-manifest-"));
    try {
      const out = join(dir, "corpus.json");
      execFileSync(process.execPath, [join(CORPUS_DIR, "corpus.gen.mjs"), "--out", out], { stdio: "pipe" });
      expect(readFileSync(out, "utf8")).toBe(readFileSync(join(CORPUS_DIR, "corpus.json"), "utf8"));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("covers every program kernel-facts.md measured", () => {
    const measured = [
      "pass", "drop", "redir_port", "redir_ip4", "redir_ip6", "select_sock_a", "select_sock_b", "select_b_repl",
      "null_replace", "assign_eexist", "assign_replace", "assign_null", "access_ctx_sk", "cidr_all_ports", "dispatch",
      "dispatch_lpm", "assign_probe", "ctx_dump",
    ];
    expect(corpus.programs.map((p) => p.name)).toEqual(expect.arrayContaining(measured));
  });
});

interface ProgInfo {
  id: number;
  name: string;
  type: string;
  map_ids?: number[];
}
interface MapInfo {
  id: number;
  name: string;
  type: string;
  bytes_key: number;
  bytes_value: number;
  max_entries: number;
  flags: number;
}

describeKernel("corpus objects in the kernel", () => {
  const pins: string[] = [];
  afterAll(() => {
    for (const p of pins) rmSync(p, { recursive: true, force: true });
  });

  corpus.objects.forEach((obj, n) => {
    it(`${obj.file} loads every program with its maps`, () => {
      // bpffs refuses names containing '.', hence no file name in the pin path.
      const pin = `/sys/fs/bpf/tsbpf-corpus-${process.pid}-${TAG}-${n}`;
      pins.push(pin);
      try {
        const load = spawnSync("bpftool", ["prog", "loadall", corpusPath(obj.file), pin], { encoding: "utf8" });
        // On a verifier rejection bpftool prints libbpf's log (with the verifier's) on stderr: show it.
        expect(load.status, `bpftool prog loadall ${obj.file}:\n${load.stderr}`).toBe(0);
        const expected = corpus.programs.filter((p) => p.object === obj.file).map((p) => p.name).sort();
        expect(readdirSync(pin).sort()).toEqual(expected);

        const seen = new Map<string, MapInfo>();
        for (const name of expected) {
          const prog = bpftoolJson<ProgInfo>("prog", "show", "pinned", join(pin, name));
          expect(prog.type).toBe("sk_lookup");
          expect(prog.name).toBe(name.slice(0, 15));
          for (const id of prog.map_ids ?? []) {
            const m = bpftoolJson<MapInfo>("map", "show", "id", String(id));
            seen.set(m.name, m);
          }
          // A program references at least the maps the manifest says it uses (names are cut at 15 chars).
          const progMaps = (prog.map_ids ?? []).map((id) => bpftoolJson<MapInfo>("map", "show", "id", String(id)).name);
          const wanted = corpus.programs.find((p) => p.name === name)!.maps;
          expect(progMaps, name).toEqual(expect.arrayContaining(wanted.map((w) => w.slice(0, 15))));
        }
        for (const def of obj.maps) {
          const m = seen.get(def.name.slice(0, 15));
          expect(m, `map ${def.name} of ${obj.file}`).toBeDefined();
          expect({ type: m!.type, key: m!.bytes_key, value: m!.bytes_value, max: m!.max_entries, flags: m!.flags & 0xffff }).toEqual({
            type: def.type,
            key: def.keySize,
            value: def.valueSize,
            max: def.maxEntries,
            flags: def.flags,
          });
        }
      } finally {
        rmSync(pin, { recursive: true, force: true });
      }
    });
  });
});

const ERRNO_TEXT = { EACCES: "Permission denied", EINVAL: "Invalid argument" } as const;

describe("reject corpus manifest", () => {
  it("lists every reject/*.c once", () => {
    const sources = readdirSync(join(CORPUS_DIR, "reject")).filter((f) => f.endsWith(".c")).map((f) => `reject/${f}`).sort();
    expect(corpus.rejects.map((r) => r.source).sort()).toEqual(sources);
  });
});

describe("reject corpus for the default target (Linux 5.10)", () => {
  // The manifest's message is what the 5.10 verifier prints; tsbpf's verifier gives it for the default target.
  for (const r of corpus.rejects) {
    it(`${r.program} is refused with the manifest's message: ${r.why}`, () => {
      const ours = verifyObject(readObject(readFileSync(corpusPath(r.file)))).get(r.program)!;
      expect(ours).toMatchObject({ ok: false, target: "Linux 5.10" });
      expect(ours.error!.message.split("\n")).toContain(r.message);
    });
  }
});

describeKernel("reject corpus in the kernel: the verdict tsbpf gives for --target-kernel host", () => {
  // Kernel builds differ (a 6.18 build typing SOCKMAP lookups sock_or_null accepts unchecked_lookup_assign), so the
  // expected verdict and message come from tsbpf's verifier for the probed running kernel, not from the manifest.
  for (const r of corpus.rejects) {
    it(`${r.program}: ${r.why}`, () => {
      const ours = verifyObject(readObject(readFileSync(corpusPath(r.file))), { target: resolveTarget("host") }).get(r.program)!;
      const pin = `/sys/fs/bpf/tsbpf-reject-${process.pid}-${TAG}-${r.program}`;
      try {
        const load = spawnSync("bpftool", ["prog", "loadall", corpusPath(r.file), pin], { encoding: "utf8" });
        expect({ loads: load.status === 0, stderr: load.status === 0 ? "" : load.stderr.split("\n").slice(-6).join("\n") }).toMatchObject({ loads: ours.ok });
        if (ours.ok) return;
        // libbpf prints the errno as text, then the verifier log between BEGIN/END markers.
        expect(load.stderr).toMatch(new RegExp(`prog '${r.program}': BPF program load failed: (${Object.values(ERRNO_TEXT).join("|")})`));
        const log = load.stderr.slice(load.stderr.indexOf("BEGIN PROG LOAD LOG"), load.stderr.indexOf("END PROG LOAD LOG"));
        for (const line of ours.error!.message.split("\n")) expect(log.split("\n")).toContain(line);
      } finally {
        rmSync(pin, { recursive: true, force: true });
      }
    });
  }
});

const clang = spawnSync("clang-16", ["--version"], { encoding: "utf8" });
const clangMissing = clang.status !== 0 ? "clang-16 is not installed (apt-get install clang-16)" : null;
if (clangMissing) console.warn(`[skip] corpus rebuild: ${clangMissing}`);

describe.skipIf(clangMissing !== null)("build.sh", () => {
  it("reproduces every committed object byte for byte", () => {
    const out = mkdtempSync(join(tmpdir(), "tsbpf-corpus-"));
    try {
      execFileSync("sh", [join(CORPUS_DIR, "build.sh")], { env: { ...process.env, OUT_DIR: out }, stdio: "pipe" });
      for (const file of [...corpus.objects.map((o) => o.file), ...corpus.rejects.map((r) => r.file)]) {
        const rebuilt = readFileSync(join(out, file));
        expect(Buffer.compare(rebuilt, readFileSync(corpusPath(file))), `${file} differs from build.sh's output`).toBe(0);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
