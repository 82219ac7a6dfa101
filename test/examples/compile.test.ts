/**
 * Every example compiles without diagnostics to the programs and maps docs/ARCHITECTURE.md lists; the IR of each
 * (after socket-release insertion) is pinned as a golden file (bless with `npx vitest run test/examples -u`).
 */
import { describe, expect, test } from "vitest";
import { compile } from "../../compiler/index.ts";
import { MapType } from "../../compiler/abi/maps.ts";
import { EXAMPLES } from "./examples.ts";

describe("examples compile", () => {
  for (const [name, want] of Object.entries(EXAMPLES)) {
    test(name, async () => {
      const r = compile({ fileName: `examples/${name}.ts` }, { dump: ["ir-release"] });
      expect(r.diagnostics).toEqual([]);
      expect(r.object).toBeInstanceOf(Uint8Array);
      expect(r.programs.map((p) => p.name)).toEqual(want.programs);
      for (const p of r.programs) expect(p.insnCount).toBeGreaterThan(3);
      expect(Object.fromEntries(r.maps.map((m) => [m.name, m.type]))).toEqual(want.maps);
      expect(r.ir?.license).toBe("GPL");
      await expect(r.dumps["ir-release"]).toMatchFileSnapshot(`../golden/examples/${name}.ir`);
    });
  }

  test("LPM keys carry BPF_F_NO_PREALLOC and the C layout of the key interface", () => {
    const r = compile({ fileName: "examples/dispatcher.ts" });
    const lpm = r.maps.find((m) => m.name === "bindings")!;
    expect(lpm).toMatchObject({ type: MapType.LPM_TRIE, keySize: 12, valueSize: 4, maxEntries: 4096, flags: 1 });
    expect(r.ir!.maps.find((m) => m.name === "bindings")!.keyType).toMatchObject({
      kind: "struct", name: "BindingKey", size: 12,
      fields: [{ name: "prefixLen", offset: 0 }, { name: "protocol", offset: 4 }, { name: "port", offset: 6 }, { name: "addr", offset: 8 }],
    });
  });
});

describe("map declarations", () => {
  test("pin: \"byName\" sets LIBBPF_PIN_BY_NAME; every map kind gets its type, sizes and flags", () => {
    const source = `import { type SkLookup, type Verdict, SK_PASS, SockMap, SockHash, HashMap, ArrayMap, LpmTrie, type u16, type u32, type u64 } from "tsbpf";
interface K { a: u16; b: u32 }
interface L { prefixLen: u32; addr: u32 }
const N = 8;
export const sm = new SockMap({ maxEntries: N * 2, pin: "byName" });
export const sh = new SockHash<K>({ maxEntries: N });
export const hm = new HashMap<K, u64>({ maxEntries: 1024 });
export const am = new ArrayMap<K>({ maxEntries: 4 });
export const lpm = new LpmTrie<L, u16>({ maxEntries: 64 });
export function p(ctx: SkLookup): Verdict {
  return SK_PASS;
}`;
    const r = compile({ fileName: "maps.ts", source });
    expect(r.diagnostics).toEqual([]);
    const byName = Object.fromEntries(r.maps.map((m) => [m.name, { type: m.type, keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries, flags: m.flags, pinning: m.pinning }]));
    expect(byName).toEqual({
      sm: { type: MapType.SOCKMAP, keySize: 4, valueSize: 8, maxEntries: 16, flags: 0, pinning: 1 },
      sh: { type: MapType.SOCKHASH, keySize: 8, valueSize: 8, maxEntries: 8, flags: 0, pinning: 0 },
      hm: { type: MapType.HASH, keySize: 8, valueSize: 8, maxEntries: 1024, flags: 0, pinning: 0 },
      am: { type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 4, flags: 0, pinning: 0 },
      lpm: { type: MapType.LPM_TRIE, keySize: 8, valueSize: 2, maxEntries: 64, flags: 1, pinning: 0 },
    });
  });
});

describe("compile() options", () => {
  test("dump collects each requested stage; irOnly stops before the back end", () => {
    const r = compile({ fileName: "examples/redirect-port.ts" }, { dump: ["ir", "ir-release", "ir-opt", "regalloc", "asm"] });
    expect(Object.keys(r.dumps).sort()).toEqual(["asm", "ir", "ir-opt", "ir-release", "regalloc"]);
    expect(r.dumps.ir).not.toContain("helper#86"); // releases are inserted by the next pass
    expect(r.dumps["ir-release"]).toContain("helper#86");
    expect(r.dumps.asm).toContain("; program redir_port");
    const ir = compile({ fileName: "examples/redirect-port.ts" }, { irOnly: true });
    expect(ir.object).toBeUndefined();
    expect(ir.diagnostics).toEqual([]);
    expect(ir.ir?.functions.map((f) => f.name)).toEqual(["redir_port"]);
  });

  test("source text overrides the file; instruction locations point into it", () => {
    const r = compile({ fileName: "virtual/dir/x.ts", source: "import { type SkLookup, type Verdict, SK_DROP } from \"tsbpf\";\nexport function drop_all(ctx: SkLookup): Verdict {\n  return SK_DROP;\n}\n" });
    expect(r.diagnostics).toEqual([]);
    expect(r.programs).toEqual([{ name: "drop_all", insnCount: 2 }]);
    expect(r.insns?.get("drop_all")?.some((i) => i.loc?.file === "virtual/dir/x.ts" && i.loc.line === 3)).toBe(true);
  });
});
