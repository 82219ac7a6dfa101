/**
 * The examples, compiled by tsbpf, serving real connections in throwaway namespaces. Each namespace gets exactly the
 * addresses its example answers for (192.0.2.0/24, fd00::1, fd00:1::/64 ...) on its own loopback.
 */
import { join } from "node:path";
import { existsSync } from "node:fs";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { describeKernel } from "../support/kernel.ts";
import { Agent, type LoaderBundle, Netns, bundleLoader } from "./netns.ts";
import { compileTs } from "./handlers.ts";
import { be16, cat, hex, u32 } from "../differential/cases.ts";
import { parseIp4 } from "../../runtime/kernel/ctx.ts";

const ROOT = join(import.meta.dirname, "../..");
const HAVE_COMPILER = existsSync(join(ROOT, "compiler/index.ts"));

describeKernel("e2e: the examples on real traffic", () => {
  let bundle: LoaderBundle;
  const cleanups: Array<() => Promise<void> | void> = [];

  async function scenario(example: string, addresses: string[], extra: string[][] = []) {
    const ns = Netns.create(addresses);
    cleanups.push(() => ns.close());
    for (const args of extra) ns.ip(...args);
    const agent = Agent.start(ns, bundle);
    cleanups.push(() => agent.stop());
    const object = await compileTs(join(ROOT, "examples", example));
    if (!object) throw new Error("compiler missing");
    const { obj } = await agent.do({ op: "load", path: bundle.writeObject(example.replace(/\W/g, "_"), object) });
    return { agent, obj };
  }

  beforeAll(async () => {
    bundle = await bundleLoader();
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  afterAll(() => bundle?.dispose());

  it.skipIf(!HAVE_COMPILER)("cidr-all-ports.ts: every port of 192.0.2.0/24 reaches one listener", async () => {
    const { agent, obj } = await scenario("cidr-all-ports.ts", ["192.0.2.1/24", "198.51.100.1/24"]);
    const srv = await agent.do({ op: "listen", proto: "tcp", host: "127.0.0.1" });
    await agent.do({ op: "setSocket", obj, map: "sockets", key: 0, sock: srv.sock });
    await agent.do({ op: "attach", obj, prog: "serve_range" });
    for (const [host, port] of [["192.0.2.1", 80], ["192.0.2.77", 443], ["192.0.2.254", 65000], ["192.0.2.0", 1]] as const) {
      expect(await agent.do({ op: "connect", host, port })).toMatchObject({ connected: true, server: srv.sock, local: `${host}:${port}` });
    }
    // Outside the range (but local): the normal lookup, where nothing listens.
    expect(await agent.do({ op: "connect", host: "198.51.100.1", port: 80 })).toMatchObject({ connected: false, code: "ECONNREFUSED" });
  });

  it.skipIf(!HAVE_COMPILER)("redirect-ip6.ts: [fd00::1]:7007 and every port of fd00:1::/64", async () => {
    // An IPv6 prefix on lo is not local as a whole (unlike IPv4): add a local route for the /64.
    const { agent, obj } = await scenario("redirect-ip6.ts", ["fd00::1/128"], [["-6", "route", "add", "local", "fd00:1::/64", "dev", "lo"]]);
    const s0 = await agent.do({ op: "listen", proto: "tcp", host: "::1" });
    const s1 = await agent.do({ op: "listen", proto: "tcp", host: "::1" });
    await agent.do({ op: "setSocket", obj, map: "sockets", key: 0, sock: s0.sock });
    await agent.do({ op: "setSocket", obj, map: "sockets", key: 1, sock: s1.sock });
    await agent.do({ op: "attach", obj, prog: "redir_ip6" });
    await agent.do({ op: "attach", obj, prog: "redir_ip6_range" });
    expect(await agent.do({ op: "connect", host: "fd00::1", port: 7007 })).toMatchObject({ connected: true, server: s0.sock, local: "[fd00::1]:7007" });
    expect(await agent.do({ op: "connect", host: "fd00::1", port: 7008 })).toMatchObject({ connected: false, code: "ECONNREFUSED" });
    for (const [host, port] of [["fd00:1::1", 80], ["fd00:1::abcd", 443], ["fd00:1::ffff:1", 7007]] as const) {
      expect(await agent.do({ op: "connect", host, port })).toMatchObject({ connected: true, server: s1.sock, local: `[${host}]:${port}` });
    }
  });

  it.skipIf(!HAVE_COMPILER)("l7-proxy.ts: all TCP ports of v4 and v6 to one dual-stack proxy, except 22; hits per family", async () => {
    const { agent, obj } = await scenario("l7-proxy.ts", ["127.0.2.1/24"]);
    // Dual-stack: bound to :: without IPV6_V6ONLY (inside the test's own namespace).
    const proxy = await agent.do({ op: "listen", proto: "tcp", host: "::", v6only: false });
    await agent.do({ op: "setSocket", obj, map: "proxy", key: 0, sock: proxy.sock });
    await agent.do({ op: "attach", obj, prog: "proxy_all" });
    const v4 = [["127.0.0.1", 80], ["127.0.2.9", 8443], ["127.0.0.1", 21]] as const;
    const v6 = [["::1", 80], ["::1", 65535]] as const;
    for (const [host, port] of v4) {
      // A dual-stack socket reports v4 peers as v4-mapped v6 addresses.
      expect(await agent.do({ op: "connect", host, port })).toMatchObject({ connected: true, server: proxy.sock, local: `[::ffff:${host}]:${port}` });
    }
    for (const [host, port] of v6) {
      expect(await agent.do({ op: "connect", host, port })).toMatchObject({ connected: true, server: proxy.sock, local: `[${host}]:${port}` });
    }
    expect(await agent.do({ op: "connect", host: "127.0.0.1", port: 22 })).toMatchObject({ connected: false, code: "ECONNREFUSED" });
    expect((await agent.do({ op: "mapLookup", obj, map: "hits", key: 0 })).value).toBe(String(v4.length));
    expect((await agent.do({ op: "mapLookup", obj, map: "hits", key: 1 })).value).toBe(String(v6.length));
  });

  it.skipIf(!HAVE_COMPILER)("dispatcher.ts: LPM bindings to labels to sockets, TCP and UDP, exact port before port 0", async () => {
    const { agent, obj } = await scenario("dispatcher.ts", ["127.0.2.1/24"]);
    const key = (prefixLen: number, protocol: number, port: number, addr: string) => hex(cat(u32(prefixLen), be16(protocol), be16(port), parseIp4(addr)));
    const bind = (k: string, label: number) => agent.do({ op: "mapUpdateHex", obj, map: "bindings", key: k, value: hex(u32(label)) });
    await bind(key(56, 6, 0, "127.0.2.0"), 1); // tcp, any port, 127.0.2.0/24
    await bind(key(64, 6, 7007, "127.0.2.5"), 2); // tcp 127.0.2.5:7007 exactly
    await bind(key(64, 17, 53, "127.0.0.1"), 3); // udp 127.0.0.1:53
    await bind(key(64, 6, 9, "127.0.0.1"), 4); // bound label without a socket: refused
    const web = await agent.do({ op: "listen", proto: "tcp", host: "127.0.0.1" });
    const special = await agent.do({ op: "listen", proto: "tcp", host: "127.0.0.1" });
    const dns = await agent.do({ op: "listen", proto: "udp", host: "127.0.0.1" });
    await agent.do({ op: "setSocket", obj, map: "destinations", key: 1, sock: web.sock });
    await agent.do({ op: "setSocket", obj, map: "destinations", key: 2, sock: special.sock });
    await agent.do({ op: "setSocket", obj, map: "destinations", key: 3, sock: dns.sock });
    await agent.do({ op: "attach", obj, prog: "dispatch" });
    expect(await agent.do({ op: "connect", host: "127.0.2.9", port: 80 })).toMatchObject({ server: web.sock, local: "127.0.2.9:80" });
    expect(await agent.do({ op: "connect", host: "127.0.2.5", port: 7007 })).toMatchObject({ server: special.sock, local: "127.0.2.5:7007" });
    expect(await agent.do({ op: "connect", host: "127.0.2.5", port: 7008 })).toMatchObject({ server: web.sock });
    expect(await agent.do({ op: "connect", host: "127.0.0.1", port: 9 })).toMatchObject({ connected: false, code: "ECONNREFUSED" });
    expect(await agent.do({ op: "connect", host: "127.0.0.1", port: 80 })).toMatchObject({ connected: false, code: "ECONNREFUSED" });
    await agent.do({ op: "udpSend", host: "127.0.0.1", port: 53, payload: "query" });
    expect((await agent.do({ op: "udpRecv", sock: dns.sock })).messages).toEqual([expect.objectContaining({ data: "query" })]);
    const hits = async (label: number) => (await agent.do({ op: "mapLookup", obj, map: "hits", key: label })).value;
    expect([await hits(1), await hits(2), await hits(3), await hits(4)]).toEqual(["2", "1", "1", "1"]);
  });

  it.skipIf(!HAVE_COMPILER)("redirect-port.ts twice: TCP and UDP on port 7007, the UDP original destination intact", async () => {
    const { agent, obj: tcpObj } = await scenario("redirect-port.ts", []);
    // A second instance of the same object, for the UDP socket (each has its own sockets map).
    const object = await compileTs(join(ROOT, "examples/redirect-port.ts"));
    const { obj: udpObj } = await agent.do({ op: "load", path: bundle.writeObject("redirect_port_udp", object!) });
    const tcp = await agent.do({ op: "listen", proto: "tcp", host: "127.0.0.1" });
    const udp = await agent.do({ op: "listen", proto: "udp", host: "127.0.0.1", origdst: true });
    await agent.do({ op: "setSocket", obj: tcpObj, map: "sockets", key: 0, sock: tcp.sock });
    await agent.do({ op: "setSocket", obj: udpObj, map: "sockets", key: 0, sock: udp.sock });
    await agent.do({ op: "closeOurCopies" });
    await agent.do({ op: "attach", obj: tcpObj, prog: "redir_port" });
    await agent.do({ op: "attach", obj: udpObj, prog: "redir_port" });
    expect(await agent.do({ op: "connect", host: "127.0.0.1", port: 7007 })).toMatchObject({ server: tcp.sock, local: "127.0.0.1:7007" });
    // For UDP the first program's assign fails (a TCP socket: EPROTOTYPE) and it drops; the second selects the UDP
    // socket, and a selection beats a drop.
    await agent.do({ op: "udpSend", host: "127.0.0.1", port: 7007, payload: "dgram" });
    const r = await agent.do({ op: "udpRecv", sock: udp.sock });
    expect(r.messages).toEqual([expect.objectContaining({ data: "dgram", origDst: "127.0.0.1:7007" })]);
  });
});
