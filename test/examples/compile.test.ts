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
