/**
 * Handlers written inline in a test (`handlerFromSource`): trace output in run and lookup reports, counters and
 * struct-keyed maps filled and read from the test, reuseport groups with and without ASSIGN_NO_REUSEPORT.
 */
import { expect, test } from "vitest";
import { CompileError, handlerFromSource, installMatchers } from "../../runtime/testing/index.ts";

installMatchers(expect);

const ROUTER = `
import { type SkLookup, type Verdict, SK_PASS, SK_DROP, SockHash, HashMap, ArrayMap, ASSIGN_NO_REUSEPORT, trace,
  type u16, type u32 } from "tsbpf";

interface Service { protocol: u32; port: u16 }
export const services = new SockHash<Service>({ maxEntries: 16 });
export const pinned = new HashMap<Service, u32>({ maxEntries: 16 });
export const seen = new ArrayMap<bigint>({ maxEntries: 1 });

export function route(ctx: SkLookup): Verdict {
  seen.increment(0);
  const key: Service = { protocol: ctx.protocol, port: ctx.localPort };
  const sk = services.lookup(key);
  if (sk === null) return SK_PASS;
  const flags = (pinned.lookup(key) ?? 0) === 1 ? ASSIGN_NO_REUSEPORT : 0;
  const err = ctx.assign(sk, flags);
  trace("route: port %u assign %d", ctx.localPort, err);
  return err === 0 ? SK_PASS : SK_DROP;
}
`;

test("trace lines, counters and struct keys", async () => {
  const h = await handlerFromSource(ROUTER);
  const web = h.socket({ name: "web", ip: "127.0.0.1", port: 8080 });
  h.map("services").set({ protocol: 6, port: 80 }, web);
  const r = h.run("tcp 127.0.0.1:80");
  expect(r).toSelect("web");
  expect(r.trace).toEqual(["route: port 80 assign 0"]);
  const udp = h.lookup("udp 127.0.0.1:80");
  expect(udp).toSelect(null);
  expect(udp.trace).toEqual([]);
  h.map("services").set({ protocol: 17, port: 80 }, web);
  const refused = h.lookup("udp 127.0.0.1:80");
  expect(refused).toDrop();
  expect(refused.trace).toEqual(["route: port 80 assign -91"]); // -EPROTOTYPE
  expect(h.map("seen").get(0)).toBe(3n);
});

test("a reuseport group spreads flows unless the program says ASSIGN_NO_REUSEPORT", async () => {
  const h = await handlerFromSource(ROUTER);
  const r1 = h.socket({ name: "r1", ip: "127.0.0.1", port: 9000, reuseport: "g" });
  h.socket({ name: "r2", ip: "127.0.0.1", port: 9000, reuseport: "g" });
  h.map("services").set({ protocol: 6, port: 443 }, r1);
  const chosen = new Set<string | null>();
  for (let port = 40000; port < 40032; port++) chosen.add(h.lookup(`tcp 127.0.0.2:${port} -> 127.0.0.1:443`).selected);
  expect([...chosen].sort()).toEqual(["r1", "r2"]);
  h.map("pinned").set({ protocol: 6, port: 443 }, 1);
  for (let port = 40000; port < 40032; port++) expect(h.lookup(`tcp 127.0.0.2:${port} -> 127.0.0.1:443`)).toSelect(r1);
});

test("inline source that does not compile names its file in the diagnostics", async () => {
  const err = await handlerFromSource(ROUTER.replace("const key: Service", "var key: Service"), { fileName: "router.ts" }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(CompileError);
  expect((err as Error).message).toMatch(/^router\.ts:12:3 - error TSBPF1018: 'var' is not supported; use let or const/);
});
