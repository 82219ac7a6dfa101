/** Map key/value codec: layouts from BTF (clang's and ours), network-order fields, round trips and typed errors. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { compile } from "../../compiler/index.ts";
import { MapAccessError, VmObject } from "../../runtime/vm/object.ts";

const root = join(import.meta.dirname, "..", "..");

describe("codec", () => {
  const clang = VmObject.fromBytes(readFileSync(join(root, "test/fixtures/c/dispatch.o")));
  test("clang struct key: field names and offsets from BTF; __be16/__be32 in network order", () => {
    const lpm = clang.map("prefixes");
    expect(lpm.keyLayout.fields?.map((f) => [f.name, f.offset, f.size, f.bigEndian])).toEqual([
      ["prefixlen", 0, 4, false],
      ["protocol", 4, 2, true],
      ["port", 6, 2, true],
      ["addr", 8, 4, true],
    ]);
    const key = lpm.key({ prefixlen: 56, protocol: 6, port: 80, addr: "127.0.2.0" });
    expect(Array.from(key)).toEqual([56, 0, 0, 0, 0, 6, 0, 80, 127, 0, 2, 0]);
    lpm.set(JSON.stringify({ prefixlen: 56, protocol: 6, port: 80, addr: "127.0.2.0" }), 9);
    expect(lpm.entries()).toEqual([[{ prefixlen: 56, protocol: 6, port: 80, addr: "127.0.2.0" }, 9]]);
    const ports = clang.map("ports");
    expect(Array.from(ports.key({ protocol: 17, port: 53 }))).toEqual([17, 0, 0, 0, 53, 0, 0, 0]);
  });
  test("signed values read back signed; 64-bit values as bigint, small or past 2^53", () => {
    const assign = VmObject.fromBytes(readFileSync(join(root, "test/fixtures/c/assign.o")));
    assign.map("results").set(0, -17);
    expect(assign.map("results").get(0)).toBe(-17n); // a 64-bit signed value
    const hits = clang.map("hits");
    hits.set(1, 2n ** 64n - 1n);
    expect(hits.get(1)).toBe(2n ** 64n - 1n);
    hits.set(1, 5);
    expect(hits.get(1)).toBe(5n);
  });
  test("our LPM key: fields after prefixLen are network order (docs/ARCHITECTURE.md)", () => {
    const out = compile({ fileName: join(root, "examples/dispatcher.ts") });
    const ours = VmObject.fromBytes(out.object!);
    const f = ours.map("bindings").keyLayout.fields!;
    expect(f[0]).toMatchObject({ name: "prefixLen", bigEndian: false });
    expect(f.slice(1).every((x) => x.bigEndian)).toBe(true);
  });
  test("bad keys and values are MapAccessErrors naming the problem", () => {
    const lpm = clang.map("prefixes");
    expect(() => lpm.key({ prefixlen: 8, bogus: 1 })).toThrow(new MapAccessError("key of prefixes: no field 'bogus' (fields: prefixlen, protocol, port, addr)"));
    expect(() => lpm.key({ port: 70000 })).toThrow(/does not fit in 2 bytes/);
    expect(() => lpm.key({ addr: "::1" })).toThrow(/needs 16 bytes, the field has 4/);
    expect(() => lpm.key("{not json")).toThrow(MapAccessError);
    expect(() => clang.map("hits").set(0, 1.5)).toThrow(/not an integer/);
    expect(() => clang.map("hits").set("zero", 1)).toThrow(/cannot encode "zero"/);
    expect(() => clang.map("nope")).toThrow(/no map 'nope'.*maps: /);
  });
  test("set throws with the errno name; update returns it", () => {
    expect(() => clang.map("hits").set(99, 1)).toThrow(expect.objectContaining({ errno: "E2BIG" }));
    expect(clang.map("hits").update(0, 1, 1)).toBe(-17);
  });
});
