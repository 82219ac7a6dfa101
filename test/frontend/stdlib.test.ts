/**
 * The stdlib: `tsc` type-checks every example against stdlib/index.d.ts with the project's settings; every export
 * carries JSDoc; stdlib/index.js agrees with the compiler's compile-time evaluation (constants, ip4/ip6/cidr4/cidr6,
 * malformed literals rejected by both) and its map methods refuse to run outside BPF.
 */
import { execFileSync } from "node:child_process";
import { ts } from "@ts-morph/common";
import { describe, expect, test } from "vitest";
import * as rt from "../../stdlib/index.js";
import { parseCidr4, parseCidr6, parseIp4, parseIp6 } from "../../compiler/frontend/address.ts";
import { compile } from "../../compiler/index.ts";

describe("stdlib declarations", () => {
  test("tsc --noEmit type-checks every example and the stdlib with the project's tsconfig", () => {
    // test/frontend/tsconfig.examples.json: the project's settings, limited to examples/ and stdlib/.
    let out = "";
    try {
      execFileSync("npx", ["tsc", "--noEmit", "-p", "test/frontend/tsconfig.examples.json"], { stdio: "pipe" });
    } catch (err) {
      out = String((err as { stdout?: Buffer }).stdout ?? err);
    }
    expect(out).toBe("");
  });

  test("every export of index.d.ts has a JSDoc comment", () => {
    const sf = ts.createSourceFile("index.d.ts", ts.sys.readFile("stdlib/index.d.ts")!, ts.ScriptTarget.ES2022, true);
    const undocumented: string[] = [];
    for (const st of sf.statements) {
      const exported = (ts.getCombinedModifierFlags(st as unknown as ts.Declaration) & ts.ModifierFlags.Export) !== 0;
      if (!exported) continue;
      const names = ts.isVariableStatement(st) ? st.declarationList.declarations.map((d) => d.name.getText(sf)) : [(st as ts.DeclarationStatement).name?.getText(sf) ?? "?"];
      if (ts.getJSDocCommentsAndTags(ts.isVariableStatement(st) ? st.declarationList.declarations[0]! : st).length === 0) undocumented.push(...names);
    }
    expect(undocumented).toEqual([]);
  });

  test("the DSL names of the contract are all exported", () => {
    const names = Object.keys(rt);
    for (const n of ["SK_PASS", "SK_DROP", "SockMap", "SockHash", "HashMap", "ArrayMap", "LpmTrie", "AF_INET", "AF_INET6", "IPPROTO_TCP",
      "IPPROTO_UDP", "ASSIGN_REPLACE", "ASSIGN_NO_REUSEPORT", "ip4", "ip6", "cidr4", "cidr6", "ktimeGetNs", "getPrandomU32", "trace"]) {
      expect(names).toContain(n);
    }
  });
});

describe("stdlib/index.js at run time", () => {
  test("constants match what the compiler folds", () => {
    const consts = ["SK_PASS", "SK_DROP", "AF_INET", "AF_INET6", "IPPROTO_TCP", "IPPROTO_UDP", "ASSIGN_REPLACE", "ASSIGN_NO_REUSEPORT", "TCP_LISTEN", "BPF_NOEXIST"] as const;
    const src = `import { type SkLookup, type Verdict, ArrayMap, type u64, ${consts.join(", ")} } from "tsbpf";
export const out = new ArrayMap<u64>({ maxEntries: ${consts.length} });
export function p(ctx: SkLookup): Verdict {
${consts.map((c, i) => `  out.update(${i}, BigInt(${c}));`).join("\n")}
  return SK_PASS;
}`;
    const r = compile({ fileName: "consts.ts", source: src }, { dump: ["ir"] });
    expect(r.diagnostics).toEqual([]);
    consts.forEach((c) => expect(r.dumps.ir).toContain(`slot_store.8 s1+0, ${(rt as Record<string, unknown>)[c]}\n`));
  });

  test("ip4/ip6/cidr4/cidr6 agree with the compiler's parsers", () => {
    for (const a of ["0.0.0.0", "127.0.0.1", "192.0.2.1", "255.255.255.255"]) {
      const c = parseIp4(a);
      expect(c.ok && c.value).toBe(rt.ip4(a));
    }
    for (const a of ["::", "::1", "fd00::1", "fd00:1::5", "2001:db8:0:0:1:0:0:1", "::ffff:1.2.3.4", "1:2:3:4:5:6:7:8"]) {
      const c = parseIp6(a);
      expect(c.ok && [...c.value]).toEqual([...(rt.ip6(a) as unknown as { bytes: Uint8Array }).bytes]);
    }
    expect(rt.cidr4("192.0.2.0/24").has(rt.ip4("192.0.2.200"))).toBe(true);
    expect(rt.cidr4("192.0.2.0/24").has(rt.ip4("192.0.3.0"))).toBe(false);
    expect(rt.cidr4("0.0.0.0/0").has(rt.ip4("8.8.8.8"))).toBe(true);
    expect(rt.cidr6("fd00:1::/64").has(rt.ip6("fd00:1::ffff"))).toBe(true);
    expect(rt.cidr6("fd00:1::/64").has(rt.ip6("fd00:1:0:1::"))).toBe(false);
    expect(rt.ip6("fd00::1").equals(rt.ip6("fd00:0::1"))).toBe(true);
  });

  test("malformed literals are rejected by both", () => {
    const bad4 = ["1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "a.b.c.d", "", "1.2.3.-4"];
    const bad6 = ["1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "g::1", ":::", "1:2:3:4:5:6:7"];
    for (const a of bad4) {
      expect(parseIp4(a).ok, a).toBe(false);
      expect(() => rt.ip4(a), a).toThrow();
    }
    for (const a of bad6) {
      expect(parseIp6(a).ok, a).toBe(false);
      expect(() => rt.ip6(a), a).toThrow();
    }
    for (const p of ["10.0.0.1/8", "10.0.0.0/33", "10.0.0.0", "10.0.0.0/-1"]) {
      expect(parseCidr4(p).ok, p).toBe(false);
      expect(() => rt.cidr4(p), p).toThrow();
    }
    for (const p of ["fd00::1/64", "fd00::/129", "fd00::"]) {
      expect(parseCidr6(p).ok, p).toBe(false);
      expect(() => rt.cidr6(p), p).toThrow();
    }
    expect(parseCidr4("10.0.0.1/8")).toEqual({ ok: false, reason: "'10.0.0.1/8' has host bits set (did you mean 10.0.0.0/8?)" });
  });

  test("maps can be declared in plain JS but their methods and the helpers throw", () => {
    const m = new rt.SockMap({ maxEntries: 4 });
    expect(() => m.lookup(0)).toThrow("only available inside a compiled BPF program");
    expect(() => new rt.HashMap<number, number>({ maxEntries: 4 }).update(1, 2)).toThrow("only available inside a compiled BPF program");
    expect(() => rt.ktimeGetNs()).toThrow("only available inside a compiled BPF program");
    expect(() => rt.trace("x")).toThrow("only available inside a compiled BPF program");
  });
});
