/**
 * tsbpf/testing on the examples: handlers compiled from DSL files (and a clang object), sockets in their namespace,
 * single runs and namespace lookups, both VM tiers, and the matchers' messages.
 */
import { beforeAll, describe, expect, test } from "vitest";
import {
  CompileError,
  HandlerAssertionError,
  HandlerError,
  assertDrops,
  assertPasses,
  assertSelects,
  handler,
  installMatchers,
  parsePacket,
  describePacket,
  type Handler,
} from "../../runtime/testing/index.ts";
import { CtxError } from "../../runtime/index.ts";

installMatchers(expect);

describe("redirect-port (one program)", () => {
  let h: Handler;
  beforeAll(async () => {
    h = await handler("examples/redirect-port.ts");
  });

  test("load handler, add sockets, look up a packet, expect socket A", () => {
    const t = h.fresh();
    const a = t.socket({ name: "A", family: "inet", protocol: "tcp", state: "listen", ip: "127.0.0.1", port: 1234 });
    t.map("sockets").set(0, a);
    const r = t.lookup({ protocol: "tcp", localIp: "127.0.0.1", localPort: 7007 });
    expect(r).toSelect("A");
    expect(r).toSelect(a);
    expect(r).toPass();
    expect(r).toMatchObject({ kind: "lookup", outcome: "selected", verdict: "SK_PASS", selected: "A", socket: a });
    expect(r.runs).toHaveLength(1);
    expect(r.runs[0]).toMatchObject({ program: "redir_port", verdict: "SK_PASS", selected: "A", leakedRefs: [] });
  });

  test("an empty slot passes; the regular lookup then finds a listener bound to the port, or nothing", () => {
    const t = h.fresh();
    expect(t.lookup("tcp 127.0.0.1:7007")).toSelect(null);
    const c = t.socket({ name: "C", ip: "127.0.0.1", port: 7007 });
    const r = t.lookup("tcp 127.0.0.2:40000 -> 127.0.0.1:7007");
    expect(r).toMatchObject({ outcome: "regular", selected: "C", socket: c, verdict: "SK_PASS" });
    expect(t.lookup("tcp 127.0.0.1:7008")).toMatchObject({ outcome: "regular", selected: null });
  });

  test("a program's selection beats the regular listener; UDP to a TCP socket is dropped", () => {
    const t = h.fresh();
    t.socket({ name: "C", ip: "0.0.0.0", port: 7007 });
    t.map("sockets").set(0, t.socket({ name: "A", ip: "127.0.0.1", port: 1234 }));
    expect(t.lookup("tcp 10.1.2.3:7007")).toSelect("A");
    const udp = t.lookup("udp 127.0.0.1:7007");
    expect(udp).toDrop();
    expect(udp).toSelect(null);
    expect(udp.outcome).toBe("refused");
    t.map("sockets").set(0, t.socket({ name: "U", protocol: "udp", ip: "127.0.0.1", port: 5353 }));
    expect(t.lookup("udp 127.0.0.1:7007")).toSelect("U");
  });

  test("run(): one program on one packet, as BPF_PROG_TEST_RUN reports it", () => {
    const t = h.fresh();
    const a = t.socket({ name: "A", ip: "127.0.0.1", port: 1234 });
    t.map("sockets").set(0, a);
    const r = t.run("tcp 127.0.0.1:7007");
    expect(r).toMatchObject({ kind: "run", program: "redir_port", verdict: "SK_PASS", selected: "A", socket: a });
    expect(r.insnsExecuted).toBeGreaterThan(5);
    expect(t.run("udp 127.0.0.1:7007")).toMatchObject({ verdict: "SK_DROP", selected: null });
    // A selection made earlier (ctx.sk) makes assign fail with -EEXIST, so the program drops.
    const b = t.socket({ name: "B", ip: "127.0.0.1", port: 4321 });
    expect(t.run("tcp 127.0.0.1:7007", { selected: b })).toDrop();
  });

  test("both tiers agree", () => {
    const t = h.fresh();
    t.map("sockets").set(0, t.socket({ name: "A", ip: "127.0.0.1", port: 1234 }));
    for (const p of ["tcp 127.0.0.1:7007", "udp 127.0.0.1:7007", "tcp 127.0.0.1:80", "tcp [::1]:7007"]) {
      const i = t.lookup(p, { tier: "interp" });
      const j = t.lookup(p, { tier: "jit" });
      expect({ ...j, runs: j.runs.map((x) => ({ ...x, insnsExecuted: 0 })) }).toEqual({ ...i, runs: i.runs.map((x) => ({ ...x, insnsExecuted: 0 })) });
    }
  });

  test("fresh() gives empty maps and an empty namespace", () => {
    const t = h.fresh();
    t.map("sockets").set(0, t.socket({ name: "A", ip: "127.0.0.1", port: 1234 }));
    const u = t.fresh();
    expect(u.map("sockets").get(0)).toBeNull();
    expect(u.net.ns.sockets).toHaveLength(0);
    expect(u.lookup("tcp 127.0.0.1:7007")).toSelect(null);
  });
});

describe("the other examples", () => {
  test("dispatcher: LPM bindings by object keys with address strings, labels to sockets, hit counters", async () => {
    const h = await handler("examples/dispatcher.ts");
    const v4 = h.socket({ name: "web", ip: "127.0.0.1", port: 8080 });
    const exact = h.socket({ name: "tls", ip: "127.0.0.1", port: 8443 });
    const bindings = h.map("bindings");
    bindings.set({ prefixLen: 32 + 24, protocol: 6, port: 0, addr: "192.0.2.0" }, 3);
    bindings.set({ prefixLen: 32 + 32, protocol: 6, port: 443, addr: "192.0.2.1" }, 5);
    bindings.set({ prefixLen: 32 + 8, protocol: 17, port: 53, addr: "10.0.0.0" }, 7);
    h.map("destinations").set(3, v4).set(5, exact);
    expect(h.lookup("tcp 192.0.2.9:80")).toSelect("web");
    expect(h.lookup("tcp 192.0.2.1:443")).toSelect("tls");
    expect(h.lookup("tcp 192.0.2.1:444")).toSelect("web");
    expect(h.lookup("tcp 192.0.3.1:80")).toMatchObject({ outcome: "regular", selected: null });
    expect(h.lookup("udp 10.9.8.7:53")).toDrop(); // a label without a socket
    expect(h.lookup("udp 10.9.8.7:54")).toPass();
    expect([3, 5, 7, 0].map((i) => h.map("hits").get(i))).toEqual([2n, 1n, 1n, 0n]); // u64 counters read as bigint
  });

  test("redirect-ip6: two programs; run() names one, lookup() runs both in object order", async () => {
    const h = await handler("examples/redirect-ip6.ts");
    expect(h.programs).toEqual(["redir_ip6", "redir_ip6_range"]);
    h.map("sockets").set(0, h.socket({ name: "one", ip: "fd00::1", port: 1 })).set(1, h.socket({ name: "range", ip: "::", port: 2 }));
    expect(h.run("tcp [fd00::1]:7007", { program: "redir_ip6" })).toSelect("one");
    expect(h.run("tcp [fd00::1]:7007", { program: "redir_ip6_range" })).toSelect(null);
    expect(h.lookup("tcp [fd00:1::5]:80")).toSelect("range");
    // Each run reports the selection after it ran: the second program starts with (and keeps) the first one's.
    expect(h.lookup("tcp [fd00::1]:7007").runs.map((r) => r.selected)).toEqual(["one", "one"]);
    expect(() => h.run("tcp [fd00::1]:7007")).toThrow(HandlerError);
    expect(() => h.run("tcp [fd00::1]:7007")).toThrow(/2 programs \(redir_ip6, redir_ip6_range\)/);
  });

  test("l7-proxy: a dual-stack proxy takes v4 and v6 but not port 22; counters per family", async () => {
    const h = await handler(new URL("../../examples/l7-proxy.ts", import.meta.url), { tier: "jit" });
    h.map("proxy").set(0, h.socket({ name: "proxy", ip: "::", port: 3128 }));
    const sshd = h.socket({ name: "sshd", ip: "0.0.0.0", port: 22 });
    expect(h.lookup("tcp 198.51.100.1:443")).toSelect("proxy");
    expect(h.lookup("tcp [fd00::9]:8080")).toSelect("proxy");
    expect(h.lookup("tcp 127.0.0.1:22")).toSelect(sshd);
    expect(h.lookup("udp 127.0.0.1:53")).toSelect(null);
    expect([h.map("hits").get(0), h.map("hits").get(1)]).toEqual([1n, 1n]);
  });

  test("a clang object loads the same way (bench/c/redirect-port.o)", async () => {
    const h = await handler("bench/c/redirect-port.o");
    h.map("sockets").set(0, h.socket({ name: "A", ip: "127.0.0.1", port: 1234 }));
    expect(h.lookup("tcp 127.0.0.1:7007")).toSelect("A");
    expect(h.lookup("tcp 127.0.0.1:7008")).toSelect(null);
  });
});

describe("packets", () => {
  test("strings and fields, with family and protocol defaults", () => {
    expect(parsePacket("tcp 127.0.0.2:40000 -> 127.0.0.1:7007")).toEqual({ protocol: "tcp", remoteIp: "127.0.0.2", remotePort: 40000, localIp: "127.0.0.1", localPort: 7007 });
    expect(parsePacket("UDP [fd00::1]:53")).toEqual({ protocol: "udp", localIp: "fd00::1", localPort: 53 });
    expect(describePacket({ localIp: "fd00::1", localPort: 53, protocol: "udp" })).toBe("udp6 [fd00::1]:53");
    expect(describePacket("tcp 127.0.0.2:1 -> 127.0.0.1:2")).toBe("tcp 127.0.0.2:1 -> 127.0.0.1:2");
  });

  test("malformed packets are CtxErrors that say what to write", async () => {
    const h = await handler("examples/redirect-port.ts");
    expect(() => h.lookup("tcp 127.0.0.1")).toThrow(CtxError);
    expect(() => h.lookup("sctp 127.0.0.1:1")).toThrow(/expected PROTO \[REMOTE ->\] LOCAL/);
    expect(() => h.lookup({ localIp: "127.0.0.1", localPort: 70000 })).toThrow(/out of range/);
    expect(() => h.lookup({ family: "inet6", localIp: "127.0.0.1" })).toThrow(/does not match family/);
  });
});

describe("errors", () => {
  test("a file that does not compile throws CompileError with the formatted diagnostics", async () => {
    const err = await handler("test/diagnostics/cases/string.ts").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CompileError);
    expect((err as CompileError).message).toMatch(/string\.ts:3:16 - error TSBPF1001: strings are not supported here/);
    expect((err as CompileError).diagnostics.map((d) => d.code)).toEqual(["TSBPF1001"]);
  });

  test("missing files, unknown maps and programs, bad sockets are HandlerErrors", async () => {
    await expect(handler("examples/nope.ts")).rejects.toThrow(/cannot read .*nope\.ts: ENOENT/);
    await expect(handler("examples/nope.o")).rejects.toThrow(HandlerError);
    const h = await handler("examples/redirect-port.ts");
    expect(() => h.map("socket")).toThrow(/no map 'socket' in the object \(maps: sockets\)/);
    expect(() => h.run("tcp 127.0.0.1:1", { program: "redirect" })).toThrow(/no program 'redirect' \(programs: redir_port\)/);
    expect(() => h.socket({ ip: "127.0.0.1", port: 99999 })).toThrow(HandlerError);
    expect(() => h.socket({ ip: "127.0.0.1", prot: "tcp" } as never)).toThrow(/unknown socket field 'prot'/);
  });
});
