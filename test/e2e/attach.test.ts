/**
 * End to end: programs loaded by our loader inside a throwaway network namespace steer real connections and
 * datagrams made by Node to Node servers. Each scenario gets its own namespace (loopback only, plus the addresses it
 * adds) and an agent process (agent.mjs) living in it.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { describeKernel } from "../support/kernel.ts";
import { SkLookupFlag } from "../../compiler/asm/index.ts";
import { Agent, type LoaderBundle, Netns, bundleLoader } from "./netns.ts";
import { cidr4Program, constProgram, nullReplaceProgram, selectObject, selectProgram } from "../kernel/asm-objects.ts";
import { Netns as VmNetns, VmObject } from "../../runtime/index.ts";
import { rangeObject } from "./handlers.ts";

describeKernel("e2e: sk_lookup programs attached to a throwaway netns", () => {
  let bundle: LoaderBundle;
  const cleanups: Array<() => Promise<void> | void> = [];

  /** A fresh namespace with `addresses` on lo and an agent in it; both are torn down after the test. */
  async function scenario(addresses: string[] = []): Promise<{ ns: Netns; agent: Agent }> {
    const ns = Netns.create(addresses);
    const agent = Agent.start(ns, bundle);
    cleanups.push(() => ns.close(), () => agent.stop());
    return { ns, agent };
  }

  beforeAll(async () => {
    bundle = await bundleLoader();
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  afterAll(() => bundle?.dispose());

  it("one TCP server receives connections to every port of 127.0.2.0/24", async () => {
    const { agent } = await scenario(["127.0.2.0/24"]);
    const { object, program, source } = await rangeObject();
    // With the compiler in the tree the handler must be the TypeScript one (TSBPF_E2E_ASM=1 forces the assembled twin).
    if (existsSync(join(import.meta.dirname, "../../compiler/index.ts")) && process.env.TSBPF_E2E_ASM !== "1") expect(source).toBe("tsbpf compiler");
    const { obj } = await agent.do({ op: "load", path: bundle.writeObject("range", object) });
    const srv = await agent.do({ op: "listen", proto: "tcp", host: "127.0.0.1", port: 0 });
    await agent.do({ op: "setSocket", obj, map: "sockets", key: 0, sock: srv.sock });
    // Before attaching, nothing listens on these addresses.
    expect(await agent.do({ op: "connect", host: "127.0.2.1", port: 80 })).toMatchObject({ connected: false, code: "ECONNREFUSED" });
    const { info } = await agent.do({ op: "attach", obj, prog: program });
    expect(info).toMatchObject({ type: 5, attachType: 36 });
    // Edges (first/last address and port) plus a deterministic spread over the range. 127.0.2.255 is the broadcast
    // address of the /24 on lo, which TCP cannot connect to; it is not part of the sample.
    const targets: Array<[string, number]> = [
      ["127.0.2.0", 1],
      ["127.0.2.1", 80],
      ["127.0.2.9", 443],
      ["127.0.2.77", 7007],
      ["127.0.2.200", 12345],
      ["127.0.2.254", 65535],
    ];
    for (let i = 0, x = 12345; i < 24; i++) {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      targets.push([`127.0.2.${x % 255}`, 1 + ((x >> 8) % 65535)]);
    }
    for (const [host, port] of targets) {
      const r = await agent.do({ op: "connect", host, port });
      // The accepted socket's local address is the dialled one: the server sees where the client meant to go.
      expect(r, `${host}:${port} via ${source}`).toMatchObject({ connected: true, server: srv.sock, local: `${host}:${port}` });
    }
    // Outside the range the normal lookup applies: nothing listens there.
    expect(await agent.do({ op: "connect", host: "127.0.3.1", port: 80 })).toMatchObject({ connected: false, code: "ECONNREFUSED" });
  });

  it("an all-ports handler, swapped in with a link update, serves every port of 127.0.0.1 until the link is closed", async () => {
    const { agent } = await scenario();
    const { obj } = await agent.do({
      op: "load",
      path: bundle.writeObject("allports", selectObject(selectProgram("all_ports", 0), constProgram("drop_all", 0))),
    });
    const srv = await agent.do({ op: "listen", proto: "tcp", host: "127.0.0.1", port: 0 });
    await agent.do({ op: "setSocket", obj, map: "sockets", key: 0, sock: srv.sock });
    // Start with a program that refuses everything (even the server's own port), then swap in the handler in place.
    const { link } = await agent.do({ op: "attach", obj, prog: "drop_all" });
    expect(await agent.do({ op: "connect", host: "127.0.0.1", port: srv.port as number })).toMatchObject({ connected: false, code: "ECONNREFUSED" });
    await agent.do({ op: "update", link, obj, prog: "all_ports" });
    for (const port of [1, 22, 80, 7007, 40000, 65535]) {
      expect(await agent.do({ op: "connect", host: "127.0.0.1", port })).toMatchObject({ connected: true, local: `127.0.0.1:${port}` });
    }
    // The program ran once per connection (hits[0] counts runs; drop_all does not count).
    expect((await agent.do({ op: "mapLookup", obj, map: "hits", key: 0 })).value).toBe("6");
    await agent.do({ op: "detach", link });
    expect(await agent.do({ op: "connect", host: "127.0.0.1", port: 80 })).toMatchObject({ connected: false, code: "ECONNREFUSED" });
  });

  it("delivers UDP to the bound socket with the original destination readable (v4 and v6)", async () => {
    const { agent } = await scenario();
    const { obj } = await agent.do({ op: "load", path: bundle.writeObject("udp", selectObject(selectProgram("udp7007", 7007, 0), selectProgram("udp7007_6", 7007, 1))) });
    const s4 = await agent.do({ op: "listen", proto: "udp", host: "127.0.0.1", port: 0, origdst: true });
    const s6 = await agent.do({ op: "listen", proto: "udp", host: "::1", port: 0, origdst: true });
    await agent.do({ op: "setSocket", obj, map: "sockets", key: 0, sock: s4.sock });
    await agent.do({ op: "setSocket", obj, map: "sockets", key: 1, sock: s6.sock });
    await agent.do({ op: "closeOurCopies" });
    const { link } = await agent.do({ op: "attach", obj, prog: "udp7007" });
    await agent.do({ op: "udpSend", host: "127.0.0.1", port: 7007, payload: "hello4" });
    const r4 = await agent.do({ op: "udpRecv", sock: s4.sock });
    expect(r4.messages).toEqual([expect.objectContaining({ data: "hello4", origDst: "127.0.0.1:7007" })]);
    // udp7007 selects the v4 socket for a v6 lookup too: sk_assign fails (EAFNOSUPPORT) and the datagram is dropped.
    await agent.do({ op: "udpSend", host: "::1", port: 7007, payload: "lost6" });
    expect((await agent.do({ op: "udpRecv", sock: s6.sock, timeoutMs: 300 })).messages).toEqual([]);
    // With the v6 handler attached instead, the v6 socket gets it and sees [::1]:7007 as the original destination.
    await agent.do({ op: "detach", link });
    await agent.do({ op: "attach", obj, prog: "udp7007_6" });
    await agent.do({ op: "udpSend", host: "::1", port: 7007, payload: "hello6" });
    const r6 = await agent.do({ op: "udpRecv", sock: s6.sock });
    expect(r6.messages).toEqual([expect.objectContaining({ data: "hello6", origDst: "[::1]:7007" })]);
  });

  it("combines two attached programs: the first selection wins unless a later one uses REPLACE", async () => {
    const { agent } = await scenario();
    const object = selectObject(
      selectProgram("sel_a", 7007, 0),
      selectProgram("sel_b", 7007, 1),
      selectProgram("sel_b_repl", 7007, 1, SkLookupFlag.REPLACE),
      constProgram("drop", 0),
    );
    const { obj } = await agent.do({ op: "load", path: bundle.writeObject("combine", object) });
    const a = await agent.do({ op: "listen", proto: "tcp", host: "127.0.0.1", port: 0 });
    const b = await agent.do({ op: "listen", proto: "tcp", host: "127.0.0.1", port: 0 });
    await agent.do({ op: "setSocket", obj, map: "sockets", key: 0, sock: a.sock });
    await agent.do({ op: "setSocket", obj, map: "sockets", key: 1, sock: b.sock });
    const cases: Array<[string[], number | null]> = [
      [["sel_a", "sel_b"], a.sock as number],
      [["sel_b", "sel_a"], b.sock as number],
      [["sel_a", "sel_b_repl"], b.sock as number],
      [["sel_b_repl", "sel_a"], b.sock as number],
      [["drop", "sel_a"], a.sock as number],
      [["sel_a", "drop"], a.sock as number],
      [["drop"], null],
    ];
    for (const [order, want] of cases) {
      const links: unknown[] = [];
      for (const prog of order) links.push((await agent.do({ op: "attach", obj, prog })).link);
      const r = await agent.do({ op: "connect", host: "127.0.0.1", port: 7007 });
      expect(r, order.join(",")).toMatchObject(want === null ? { connected: false, code: "ECONNREFUSED" } : { connected: true, server: want });
      for (const link of links) await agent.do({ op: "detach", link });
    }
  });

  it("agrees with the VM's netns on every attach order of two programs, with and without a regular listener", async () => {
    const { agent } = await scenario();
    const object = selectObject(
      selectProgram("sel_a", 7007, 0),
      selectProgram("sel_b", 7007, 1),
      selectProgram("sel_b_repl", 7007, 1, SkLookupFlag.REPLACE),
      nullReplaceProgram("null_repl"),
      constProgram("drop", 0),
      constProgram("pass", 1),
    );
    const names = object.programs.map((p) => p.name);
    const { obj } = await agent.do({ op: "load", path: bundle.writeObject("orders", object) });
    const a = await agent.do({ op: "listen", proto: "tcp", host: "127.0.0.1", port: 0 });
    const b = await agent.do({ op: "listen", proto: "tcp", host: "127.0.0.1", port: 0 });
    await agent.do({ op: "setSocket", obj, map: "sockets", key: 0, sock: a.sock });
    await agent.do({ op: "setSocket", obj, map: "sockets", key: 1, sock: b.sock });
    const realName = new Map<unknown, string>([[a.sock, "A"], [b.sock, "B"]]);

    // The same object in the VM, with the same sockets described.
    const vmObj = new VmObject(object);
    const ns = new VmNetns();
    const tcp = (name: string, port: number) => ns.socket({ name, family: "inet", protocol: "tcp", state: "listen", ip: "127.0.0.1", port });
    vmObj.map("sockets").set(0, tcp("A", a.port as number)).set(1, tcp("B", b.port as number));
    const ctx = { family: "inet", protocol: "tcp", localIp: "127.0.0.1", localPort: 7007, remoteIp: "127.0.0.1", remotePort: 40000 } as const;

    const orders: string[][] = [[], ...names.map((n) => [n]), ...names.flatMap((x) => names.map((y) => [x, y]))];
    let compared = 0;
    for (const withC of [false, true]) {
      if (withC) {
        const c = await agent.do({ op: "listen", proto: "tcp", host: "127.0.0.1", port: 7007 });
        realName.set(c.sock, "C");
        tcp("C", 7007);
      }
      for (const order of orders) {
        const links: unknown[] = [];
        for (const prog of order) links.push((await agent.do({ op: "attach", obj, prog })).link);
        const r = await agent.do({ op: "connect", host: "127.0.0.1", port: 7007 });
        for (const link of links) await agent.do({ op: "detach", link });
        const real = r.connected ? realName.get(r.server) : `refused:${String(r.code)}`;
        for (const p of [...ns.programs]) ns.detach(p);
        expect(ns.programs).toHaveLength(0);
        for (const prog of order) ns.attach(vmObj.program(prog));
        const sim = ns.lookup(ctx);
        const vm = sim.socket ? sim.socket.name : "refused:ECONNREFUSED";
        expect(vm, `${order.join(",") || "(none)"}${withC ? " + C" : ""}`).toBe(real);
        compared++;
      }
    }
    expect(compared).toBe(2 * (1 + names.length + names.length ** 2));
  });
});
