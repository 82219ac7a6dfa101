/**
 * Map limits (issue 11): the VM refuses at load what BPF_MAP_CREATE refuses, with the kernel's errno, and bounds the
 * memory an object's maps may take (ENOMEM); `tsbpf verify` refuses objects whose maps the kernel would not create.
 * The errno of every row is compared with the running kernel's (rows the kernel accepts allocate little).
 */
import { describe, expect, test, vi } from "vitest";
import { BPF_F_NO_PREALLOC, MapType, type MapDef } from "../../compiler/abi/maps.ts";
import { KMALLOC_MAX_SIZE, LPM_VAL_SIZE_MAX, mapCreateError } from "../../compiler/abi/map-limits.ts";
import { exit, mov64 } from "../../compiler/asm/index.ts";
import { writeObject } from "../../compiler/elf/writer.ts";
import { readObject } from "../../compiler/elf/reader.ts";
import { run as verifyCli } from "../../compiler/cli/verify.ts";
import { nativeBpf } from "../../runtime/kernel/native.ts";
import { MapError } from "../../runtime/maps/map.ts";
import { VmObject } from "../../runtime/vm/object.ts";
import { describeKernel } from "../support/kernel.ts";
import { TCP4, mapDef, objectOf } from "../vm/harness.ts";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [HASH, ARRAY, PERCPU_ARRAY, PERCPU_HASH, LRU_HASH, LPM_TRIE, SOCKMAP, SOCKHASH] = [
  MapType.HASH, MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.PERCPU_HASH, MapType.LRU_HASH, MapType.LPM_TRIE, MapType.SOCKMAP, MapType.SOCKHASH,
];
const NP = BPF_F_NO_PREALLOC;

/** [type, key_size, value_size, max_entries, flags, errno or "OK"]: every limit on both sides of its boundary. */
const ROWS: Array<[number, number, number, number, number, string]> = [
  [HASH, 0, 8, 1, NP, "EINVAL"],
  [HASH, 4, 0, 1, NP, "EINVAL"],
  [HASH, 4, 8, 0, NP, "EINVAL"],
  [HASH, 0xffffffff, 8, 4, 0, "E2BIG"], // the object: aborted the process after 45 s
  [HASH, 4, KMALLOC_MAX_SIZE - 48 - 5, 1, NP, "OK"],
  [HASH, 4, KMALLOC_MAX_SIZE - 48 - 4, 1, NP, "E2BIG"],
  [HASH, 513, 8, 1, NP, "OK"], // no MAX_BPF_STACK limit on hash keys since 5.11
  [HASH, 4, 8, 2 ** 27 + 1, NP, "E2BIG"],
  [HASH, 4, 8, 2 ** 31 + 1, NP, "E2BIG"],
  [HASH, 4, 8, 1, 0x8000000, "EINVAL"],
  [LRU_HASH, 4, 8, 1, 0x2, "OK"],
  [HASH, 4, 8, 1, 0x2, "EINVAL"],
  [PERCPU_HASH, 4, 32768, 1, NP, "OK"],
  [PERCPU_HASH, 4, 32769, 1, NP, "E2BIG"],
  [ARRAY, 8, 8, 1, 0, "EINVAL"],
  [ARRAY, 4, 0, 1, 0, "EINVAL"],
  [ARRAY, 4, 8, 0, 0, "EINVAL"],
  [ARRAY, 4, 0x80000000, 1, 0, "E2BIG"],
  [ARRAY, 4, 8, 1, 0x1, "EINVAL"],
  [PERCPU_ARRAY, 4, 32768, 1, 0, "OK"],
  [PERCPU_ARRAY, 4, 32769, 1, 0, "E2BIG"],
  [LPM_TRIE, 4, 8, 1, NP, "EINVAL"],
  [LPM_TRIE, 5, 8, 1, NP, "OK"],
  [LPM_TRIE, 260, 8, 1, NP, "OK"],
  [LPM_TRIE, 261, 8, 1, NP, "EINVAL"],
  [LPM_TRIE, 8, 8, 1, 0, "EINVAL"],
  [LPM_TRIE, 8, 0, 1, NP, "EINVAL"],
  [LPM_TRIE, 8, LPM_VAL_SIZE_MAX, 1, NP, "OK"],
  [LPM_TRIE, 8, LPM_VAL_SIZE_MAX + 1, 1, NP, "EINVAL"],
  [LPM_TRIE, 8, 8, 0xffffffff, NP, "OK"], // nothing preallocated
  [SOCKMAP, 8, 8, 1, 0, "EINVAL"],
  [SOCKMAP, 4, 16, 1, 0, "EINVAL"],
  [SOCKMAP, 4, 4, 1, 0, "OK"],
  [SOCKMAP, 4, 8, 0, 0, "EINVAL"],
  [SOCKHASH, 0, 8, 1, 0, "EINVAL"],
  [SOCKHASH, 512, 8, 1, 0, "OK"],
  [SOCKHASH, 513, 8, 1, 0, "E2BIG"],
  [SOCKHASH, 0xffffffff, 8, 1, 0, "E2BIG"],
  [SOCKHASH, 4, 8, 2 ** 27 + 1, 0, "EINVAL"],
];

const defOf = ([type, k, v, max, flags]: (typeof ROWS)[number]): MapDef => mapDef("m", type, k, v, max, flags);
const label = (r: (typeof ROWS)[number]): string => `type ${r[0]} key ${r[1]} value ${r[2]} max ${r[3]} flags 0x${r[4].toString(16)} → ${r[5]}`;

describe("the VM refuses what BPF_MAP_CREATE refuses, with its errno", () => {
  for (const row of ROWS) {
    test(label(row), () => {
      expect(mapCreateError(defOf(row))?.errno ?? "OK").toBe(row[5]);
      const load = (): VmObject => new VmObject(objectOf({ prog: [mov64(0, 1), exit()] }, [defOf(row)]));
      if (row[5] === "OK") {
        expect(load().run("prog", TCP4).verdict).toBe("SK_PASS");
      } else {
        expect(load).toThrow(MapError);
        try {
          load();
        } catch (e) {
          expect((e as MapError).errno).toBe(row[5]);
        }
      }
    });
  }
});

describeKernel("the kernel agrees on every row", () => {
  for (const row of ROWS) {
    test(label(row), () => {
      const [type, k, v, max, flags] = row;
      const bpf = nativeBpf();
      let got = "OK";
      try {
        bpf.close(bpf.mapCreate(type, k, v, max, flags, "tsbpf_limits"));
      } catch (e) {
        got = (e as { code?: string }).code ?? String(e);
      }
      expect(got).toBe(row[5]);
    });
  }
});

describe("map memory of one object is bounded (ENOMEM at load, or per element)", () => {
  test("ARRAY value_size 1 MiB x 4096 entries (4 GiB; used to abort `run`) fails at load with ENOMEM", () => {
    const file = objectOf({ prog: [mov64(0, 1), exit()] }, [mapDef("big", ARRAY, 4, 1 << 20, 4096)]);
    const t0 = Date.now();
    expect(() => new VmObject(file)).toThrow(/ENOMEM/);
    expect(Date.now() - t0).toBeLessThan(1000);
  });
  test("maps of one object add up", () => {
    const half = mapDef("a", ARRAY, 4, 1 << 20, 200);
    const file = objectOf({ prog: [mov64(0, 1), exit()] }, [half, { ...half, name: "b" }, { ...half, name: "c" }]);
    expect(() => new VmObject(file)).toThrow(/map c: .*ENOMEM/);
    expect(new VmObject(file, { mapMemoryLimit: 1 << 30 }).run("prog", TCP4).verdict).toBe("SK_PASS");
  });
  test("a map that allocates per element fails an insert with ENOMEM past the limit, and frees on delete", () => {
    const file = objectOf({ prog: [mov64(0, 1), exit()] }, [mapDef("h", HASH, 4, 4000, 1000, NP)]);
    const obj = new VmObject(file, { mapMemoryLimit: 64 * 1024 });
    const h = obj.map("h");
    let n = 0;
    while (h.update(n, new Uint8Array(4000)) === 0) n++;
    expect(h.update(n, new Uint8Array(4000))).toBe(-12);
    expect(n).toBeGreaterThan(10);
    expect(h.delete(0)).toBe(0);
    expect(h.update(n, new Uint8Array(4000))).toBe(0);
  });
});

describe("tsbpf verify refuses an object whose maps the kernel would not create", () => {
  test("HASH key_size 0xffffffff: exit 1 and the errno, in milliseconds", async () => {
    const obj = writeObject({ fileName: "big.ts", license: "GPL", maps: [mapDef("huge", HASH, 0xffffffff, 8, 4)], programs: [{ name: "p", insns: [mov64(0, 1), exit()] }] });
    expect(readObject(obj).maps[0]!.keySize).toBe(0xffffffff);
    const dir = mkdtempSync(join(tmpdir(), "tsbpf-limits-"));
    const path = join(dir, "big.o");
    writeFileSync(path, obj);
    const err = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const out = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    try {
      expect(await verifyCli([path])).toBe(1);
      expect(err.mock.calls.map((c) => String(c[0])).join("")).toContain(
        "hash map huge: key_size + value_size = 4294967303 must stay below KMALLOC_MAX_SIZE - sizeof(struct htab_elem) = 4194256 (the kernel refuses to create it: E2BIG)",
      );
    } finally {
      err.mockRestore();
      out.mockRestore();
    }
  });
});
