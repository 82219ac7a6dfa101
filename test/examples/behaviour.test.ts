/**
 * The examples do what docs/ARCHITECTURE.md says, on the real kernel: each compiled object is loaded with the
 * runtime's kernel loader, its maps are filled with real Node sockets, and BPF_PROG_TEST_RUN reports the verdict and
 * the cookie of the socket the program selected.
 */
import { once } from "node:events";
import { createServer, type Server } from "node:net";
import { createSocket, type Socket as DgramSocket } from "node:dgram";
import { afterAll, beforeAll, expect, test } from "vitest";
import { compile } from "../../compiler/index.ts";
import { openKernel } from "../../runtime/kernel/open.ts";
import type { LoadedObject } from "../../runtime/kernel/load.ts";
import { describeKernel } from "../support/kernel.ts";

type Ctx = { family: "inet" | "inet6"; protocol: "tcp" | "udp"; localIp: string; localPort: number; remoteIp: string; remotePort: number };
const tcp4 = (localIp: string, localPort: number): Ctx => ({ family: "inet", protocol: "tcp", localIp, localPort, remoteIp: "127.0.0.2", remotePort: 40000 });
const udp4 = (localIp: string, localPort: number): Ctx => ({ ...tcp4(localIp, localPort), protocol: "udp" });
const tcp6 = (localIp: string, localPort: number): Ctx => ({ family: "inet6", protocol: "tcp", localIp, localPort, remoteIp: "::2", remotePort: 40000 });

function load(name: string): LoadedObject {
  const r = compile({ fileName: `examples/${name}.ts` });
  expect(r.diagnostics).toEqual([]);
  return openKernel().load(r.object!);
}

async function listen(host: string): Promise<Server> {
  const s = createServer().listen(0, host);
  await once(s, "listening");
  return s;
}

describeKernel("examples behave as documented (BPF_PROG_TEST_RUN)", () => {
  const objects: LoadedObject[] = [];
  const servers: (Server | DgramSocket)[] = [];
  let v4: Server, v6: Server, dual: Server, udp: DgramSocket;
  const cookie = (s: Server | DgramSocket) => openKernel().socketCookie(s);

  beforeAll(async () => {
    v4 = await listen("127.0.0.1");
    v6 = await listen("::1");
    dual = await listen("::");
    udp = createSocket("udp4").bind(0, "127.0.0.1");
    await once(udp, "listening");
    servers.push(v4, v6, dual, udp);
  });
  afterAll(() => {
    for (const o of objects) o.close();
    for (const s of servers) s.close();
  });
  const open = (name: string) => {
    const o = load(name);
    objects.push(o);
    return o;
  };

  test("redirect-port: port 7007 → sockets[0], TCP and UDP", () => {
    const o = open("redirect-port");
    const p = o.program("redir_port");
    expect(p.testRun(tcp4("127.0.0.1", 7007))).toMatchObject({ verdict: "SK_PASS", cookie: 0n }); // empty slot
    o.map("sockets").setSocket(0, v4);
    expect(p.testRun(tcp4("127.0.0.1", 7007))).toMatchObject({ verdict: "SK_PASS", cookie: cookie(v4) });
    expect(p.testRun(tcp4("10.1.2.3", 7007))).toMatchObject({ verdict: "SK_PASS", cookie: cookie(v4) });
    expect(p.testRun(tcp4("127.0.0.1", 7008))).toMatchObject({ verdict: "SK_PASS", cookie: 0n });
    // A TCP listener for a UDP lookup: assign fails (-EPROTOTYPE) and the program drops.
    expect(p.testRun(udp4("127.0.0.1", 7007))).toMatchObject({ verdict: "SK_DROP", cookie: 0n });
    o.map("sockets").setSocket(0, udp);
    expect(p.testRun(udp4("127.0.0.1", 7007))).toMatchObject({ verdict: "SK_PASS", cookie: cookie(udp) });
  });

  test("cidr-all-ports: any port of 192.0.2.0/24 → sockets[0]", () => {
    const o = open("cidr-all-ports");
    const p = o.program("serve_range");
    o.map("sockets").setSocket(0, v4);
    for (const [ip, port] of [["192.0.2.0", 1], ["192.0.2.7", 80], ["192.0.2.255", 65535]] as const) {
      expect(p.testRun(tcp4(ip, port))).toMatchObject({ verdict: "SK_PASS", cookie: cookie(v4) });
    }
    for (const ip of ["192.0.3.7", "192.0.1.255", "10.0.2.7", "2.0.192.7"]) {
      expect(p.testRun(tcp4(ip, 80))).toMatchObject({ verdict: "SK_PASS", cookie: 0n });
    }
    expect(p.testRun(udp4("192.0.2.7", 80))).toMatchObject({ verdict: "SK_PASS", cookie: 0n });
    expect(p.testRun(tcp6("::ffff:192.0.2.7", 80))).toMatchObject({ verdict: "SK_PASS", cookie: 0n });
  });

  test("l7-proxy: every TCP port but 22, v4 and v6, counted per family", () => {
    const o = open("l7-proxy");
    const p = o.program("proxy_all");
    const hits = o.map("hits");
    expect(p.testRun(tcp4("127.0.0.1", 80))).toMatchObject({ verdict: "SK_PASS", cookie: 0n });
    o.map("proxy").setSocket(0, dual);
    expect(p.testRun(tcp4("127.0.0.1", 80))).toMatchObject({ verdict: "SK_PASS", cookie: cookie(dual) });
    expect(p.testRun(tcp4("198.51.100.1", 443))).toMatchObject({ verdict: "SK_PASS", cookie: cookie(dual) });
    expect(p.testRun(tcp6("fd00::9", 8080))).toMatchObject({ verdict: "SK_PASS", cookie: cookie(dual) });
    expect(p.testRun(tcp4("127.0.0.1", 22))).toMatchObject({ verdict: "SK_PASS", cookie: 0n });
    expect(p.testRun(udp4("127.0.0.1", 53))).toMatchObject({ verdict: "SK_PASS", cookie: 0n });
    expect(hits.lookupInt(0)).toBe(2n);
    expect(hits.lookupInt(1)).toBe(1n);
  });

  test("dispatcher: LPM (protocol, port, prefix) → label → socket, port-0 fallback, hit counters", () => {
    const o = open("dispatcher");
    const p = o.program("dispatch");
    /** LPM key: prefixLen (host u32), then protocol, port, address in network order. */
    const key = (bits: number, protocol: number, port: number, ip: [number, number, number, number]) => {
      const b = new Uint8Array(12);
      new DataView(b.buffer).setUint32(0, bits, true);
      new DataView(b.buffer).setUint16(4, protocol, false);
      new DataView(b.buffer).setUint16(6, port, false);
      b.set(ip, 8);
      return b;
    };
    const bindings = o.map("bindings");
    bindings.update(key(32 + 24, 6, 0, [192, 0, 2, 0]), 3); // all ports of 192.0.2.0/24 → label 3
    bindings.update(key(32 + 32, 6, 443, [192, 0, 2, 1]), 5); // 192.0.2.1:443 exactly → label 5
    bindings.update(key(32 + 8, 17, 53, [10, 0, 0, 0]), 7); // udp 10/8 port 53 → label 7 (no socket)
    o.map("destinations").setSocket(3, v4);
    o.map("destinations").setSocket(5, dual);
    const hits = o.map("hits");
    expect(p.testRun(tcp4("192.0.2.9", 80))).toMatchObject({ verdict: "SK_PASS", cookie: cookie(v4) });
    expect(p.testRun(tcp4("192.0.2.1", 443))).toMatchObject({ verdict: "SK_PASS", cookie: cookie(dual) });
    expect(p.testRun(tcp4("192.0.2.1", 444))).toMatchObject({ verdict: "SK_PASS", cookie: cookie(v4) });
    expect(p.testRun(tcp4("192.0.3.1", 80))).toMatchObject({ verdict: "SK_PASS", cookie: 0n }); // not ours
    expect(p.testRun(udp4("10.9.8.7", 53))).toMatchObject({ verdict: "SK_DROP", cookie: 0n }); // label without socket
    expect(p.testRun(udp4("10.9.8.7", 54))).toMatchObject({ verdict: "SK_PASS", cookie: 0n });
    expect([hits.lookupInt(3), hits.lookupInt(5), hits.lookupInt(7), hits.lookupInt(0)]).toEqual([2n, 1n, 1n, 0n]);
  });

  test("redirect-ip6: [fd00::1]:7007 → sockets[0]; fd00:1::/64 any port → sockets[1]", () => {
    const o = open("redirect-ip6");
    o.map("sockets").setSocket(0, v6);
    o.map("sockets").setSocket(1, dual);
    const one = o.program("redir_ip6");
    const range = o.program("redir_ip6_range");
    expect(one.testRun(tcp6("fd00::1", 7007))).toMatchObject({ verdict: "SK_PASS", cookie: cookie(v6) });
    expect(one.testRun(tcp6("fd00::2", 7007))).toMatchObject({ verdict: "SK_PASS", cookie: 0n });
    expect(one.testRun(tcp6("fd00::1", 7008))).toMatchObject({ verdict: "SK_PASS", cookie: 0n });
    expect(one.testRun(tcp6("fd01::1", 7007))).toMatchObject({ verdict: "SK_PASS", cookie: 0n });
    expect(one.testRun(tcp4("127.0.0.1", 7007))).toMatchObject({ verdict: "SK_PASS", cookie: 0n });
    expect(range.testRun(tcp6("fd00:1::5", 80))).toMatchObject({ verdict: "SK_PASS", cookie: cookie(dual) });
    expect(range.testRun(tcp6("fd00:1:0:0:ffff:ffff:ffff:ffff", 1))).toMatchObject({ verdict: "SK_PASS", cookie: cookie(dual) });
    expect(range.testRun(tcp6("fd00:1:0:1::5", 80))).toMatchObject({ verdict: "SK_PASS", cookie: 0n });
    expect(range.testRun(tcp6("fd00::1", 80))).toMatchObject({ verdict: "SK_PASS", cookie: 0n });
  });
});
