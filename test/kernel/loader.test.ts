import { once } from "node:events";
import { createServer, Socket, type Server } from "node:net";
import { createSocket, type Socket as DgramSocket } from "node:dgram";
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeKernel } from "../support/kernel.ts";
import { openKernel } from "../../runtime/kernel/open.ts";
import { KernelError } from "../../runtime/kernel/native.ts";
import { MapValueError } from "../../runtime/kernel/codec.ts";
import { SocketFdError } from "../../runtime/kernel/sockets.ts";
import { CtxError } from "../../runtime/kernel/ctx.ts";
import type { LoadedObject } from "../../runtime/kernel/load.ts";
import { MapType } from "../../compiler/abi/maps.ts";
import { possibleCpuCount } from "../../runtime/kernel/map.ts";
import { badReturnProgram, constProgram, mapDef, selectObject, selectProgram, uninitProgram } from "./asm-objects.ts";

const tcp4 = (localPort: number) =>
  ({ family: "inet", protocol: "tcp", remoteIp: "127.0.0.2", remotePort: 40000, localIp: "127.0.0.1", localPort }) as const;

describeKernel("kernel loader: maps, test_run, sockets", () => {
  let obj: LoadedObject;
  let server: Server;
  let udp: DgramSocket;

  beforeAll(async () => {
    obj = openKernel().load(selectObject(selectProgram("sel7007", 7007), selectProgram("sel_any", 0, 1)));
    server = createServer().listen(0, "127.0.0.1");
    await once(server, "listening");
    udp = createSocket("udp4");
    udp.bind(0, "127.0.0.1");
    await once(udp, "listening");
  });
  afterAll(() => {
    obj?.close();
    server?.close();
    udp?.close();
  });

  it("runs a program with an empty SOCKMAP slot: SK_PASS, no cookie, one counted run", () => {
    const hits = obj.map("hits");
    hits.update(0, 0n);
    const r = obj.program("sel7007").testRun(tcp4(7007));
    expect(r).toMatchObject({ verdict: "SK_PASS", retval: 1, cookie: 0n });
    expect(r.ctxOut).toHaveLength(72);
    expect(hits.lookupInt(0)).toBe(1n);
  });

  it("selects a Node TCP listener by cookie, only on the program's port", () => {
    const sockets = obj.map("sockets");
    const cookie = sockets.setSocket(0, server);
    expect(cookie).toBeGreaterThan(0n);
    expect(cookie).toBe(openKernel().socketCookie(server));
    // A user-space lookup of a SOCKMAP with 8-byte values returns the socket cookie.
    expect(sockets.lookupInt(0)).toBe(cookie);
    expect(obj.program("sel7007").testRun(tcp4(7007)).cookie).toBe(cookie);
    expect(obj.program("sel7007").testRun(tcp4(7008))).toMatchObject({ verdict: "SK_PASS", cookie: 0n });
    // repeat: every run starts from a fresh selection, so the result is the same.
    const many = obj.program("sel7007").testRun(tcp4(7007), { repeat: 1000 });
    expect(many.cookie).toBe(cookie);
    expect(many.durationNs).toBeGreaterThan(0);
  });

  it("reports sk_assign failures as SK_DROP with no selection (TCP listener for a UDP or v6 lookup)", () => {
    obj.map("sockets").setSocket(0, server);
    expect(obj.program("sel7007").testRun({ ...tcp4(7007), protocol: "udp" })).toMatchObject({ verdict: "SK_DROP", cookie: 0n });
    const v6 = { family: "inet6", protocol: "tcp", remoteIp: "::1", localIp: "::1", localPort: 7007 } as const;
    expect(obj.program("sel7007").testRun(v6)).toMatchObject({ verdict: "SK_DROP", cookie: 0n });
  });

  it("puts a bound dgram socket into a slot and selects it for UDP", () => {
    const sockets = obj.map("sockets");
    const cookie = sockets.setSocket(1, udp);
    const r = obj.program("sel_any").testRun({ family: "inet", protocol: "udp", localIp: "127.0.0.9", localPort: 53 });
    expect(r).toMatchObject({ verdict: "SK_PASS", cookie });
    expect(sockets.delete(1)).toBe(true);
    // Kernel fact: deleting an empty SOCKMAP slot is EINVAL (not ENOENT as for hash maps).
    expect(captureError(() => sockets.delete(1))).toMatchObject({ code: "EINVAL" });
    expect(sockets.lookup(1)).toBeNull();
    expect(obj.program("sel_any").testRun({ family: "inet", protocol: "udp", localPort: 53 }).cookie).toBe(0n);
  });

  it("accepts an established client net.Socket and the kernel refuses it for a lookup (ESOCKTNOSUPPORT → SK_DROP)", async () => {
    const client = new Socket();
    client.connect((server.address() as { port: number }).port, "127.0.0.1");
    await once(client, "connect");
    try {
      const cookie = obj.map("sockets").setSocket(2, client);
      expect(cookie).toBe(openKernel().socketCookie(client));
      const prog = openKernel().load(selectObject(selectProgram("sel_slot2", 0, 2)));
      try {
        prog.map("sockets").setSocket(2, client);
        expect(prog.program("sel_slot2").testRun(tcp4(80))).toMatchObject({ verdict: "SK_DROP", cookie: 0n });
      } finally {
        prog.close();
      }
    } finally {
      client.destroy();
    }
  });

  it("rejects sockets that cannot go into a SOCKMAP, with typed errors", () => {
    const sockets = obj.map("sockets");
    // Not connected or listening yet: Node has no fd.
    expect(() => sockets.setSocket(0, new Socket())).toThrow(SocketFdError);
    // An fd that is not a socket (the map's own fd).
    const err = captureError(() => sockets.setSocket(0, obj.map("hits").fd));
    expect(err).toBeInstanceOf(KernelError);
    expect((err as KernelError).syscall).toBe("bpf(BPF_MAP_UPDATE_ELEM)");
    expect((err as KernelError).message).toMatch(/^socket insert into map sockets: bpf\(BPF_MAP_UPDATE_ELEM\) failed: E\w+/);
    expect(() => sockets.update(9, 0n)).toThrow(KernelError); // index out of range for a 4-slot SOCKMAP
  });

  it("validates keys, values and contexts before calling the kernel", () => {
    const hits = obj.map("hits");
    expect(() => hits.update(new Uint8Array(3), 1n)).toThrow(MapValueError);
    expect(() => hits.update(0, 1n << 64n)).toThrow(/does not fit in 8 bytes/);
    expect(() => hits.update(0, 1.5)).toThrow(/not an integer/);
    expect(() => obj.program("sel7007").testRun({ family: "inet", protocol: "tcp", localIp: "::1" })).toThrow(CtxError);
    expect(() => obj.program("sel7007").testRun({ family: "inet", protocol: "tcp", localPort: 65536 })).toThrow(/out of range/);
  });

  it("surfaces test_run input errors from the kernel (non-zero ingress_ifindex is EINVAL)", () => {
    const err = captureError(() => obj.program("sel7007").testRun({ ...tcp4(1), ingressIfindex: 1 }));
    expect(err).toMatchObject({ name: "KernelError", code: "EINVAL", syscall: "bpf(BPF_PROG_TEST_RUN)" });
  });

  it("reports kernel-side program and map info", () => {
    const info = obj.program("sel7007").info();
    expect(info.name).toBe("sel7007");
    expect(info.xlatedInsns).toBeGreaterThanOrEqual(29);
    expect(info.jitedBytes).toBeGreaterThan(0);
    expect(info.verifiedInsns).toBeGreaterThan(0);
    const mapIds = [obj.map("sockets").info().id, obj.map("hits").info().id].sort();
    expect([...info.mapIds].sort()).toEqual(mapIds);
    expect(obj.map("sockets").info()).toMatchObject({ type: MapType.SOCKMAP, keySize: 4, valueSize: 8, maxEntries: 4, name: "sockets" });
  });
});

describeKernel("kernel loader: plain maps and load errors", () => {
  it("does update/lookup/delete/iterate on a hash map with number, bigint and byte keys", () => {
    const obj = openKernel().load({ license: "GPL", programs: [constProgram("pass", 1)], maps: [mapDef("byport", MapType.HASH, 4, 4, 16)] });
    try {
      const m = obj.map("byport");
      m.update(80, 1);
      m.update(443n, 2);
      m.update(Uint8Array.of(0x5f, 0x1b, 0, 0), 3); // 7007 little-endian
      expect(m.lookupInt(7007)).toBe(3n);
      expect(m.lookup(443)).toEqual(Uint8Array.of(2, 0, 0, 0));
      expect(m.lookup(1)).toBeNull();
      expect(m.keys().map((k) => new DataView(k.buffer).getUint32(0, true)).sort((a, b) => a - b)).toEqual([80, 443, 7007]);
      expect(m.entries()).toHaveLength(3);
      // NOEXIST on an existing key is EEXIST; EXIST on a missing one is ENOENT.
      expect(captureError(() => m.update(80, 5, 1))).toMatchObject({ code: "EEXIST" });
      expect(captureError(() => m.update(81, 5, 2))).toMatchObject({ code: "ENOENT" });
      expect(m.delete(80)).toBe(true);
      expect(m.keys()).toHaveLength(2);
    } finally {
      obj.close();
    }
  });

  it("sizes per-CPU values for every possible CPU", () => {
    const obj = openKernel().load({ license: "GPL", programs: [constProgram("pass", 1)], maps: [mapDef("pc", MapType.PERCPU_ARRAY, 4, 4, 2)] });
    try {
      const m = obj.map("pc");
      m.update(1, 5);
      const per = m.lookupPerCpu(1)!;
      expect(per.length).toBe(possibleCpuCount());
      expect(per.every((b) => b.length === 4 && b[0] === 5)).toBe(true);
      expect(m.lookup(1)!.length).toBe(8 * possibleCpuCount());
      expect(m.lookupInt(1)).toBe(5n * BigInt(possibleCpuCount()));
    } finally {
      obj.close();
    }
  });

  it("fails a bad program with the verifier log and closes what it created", () => {
    const err = captureError(() => openKernel().load(selectObject(selectProgram("good", 7007), badReturnProgram())));
    expect(err).toBeInstanceOf(KernelError);
    const e = err as KernelError;
    expect(e.code).toBe("EINVAL");
    expect(e.log).toMatch(/At program exit the register R0 has smin=2 smax=2 should have been in \[0, 1\]/);
    expect(e.message).toMatch(/^loading program bad_ret: bpf\(BPF_PROG_LOAD\) failed: EINVAL/);
    const uninit = captureError(() => openKernel().load({ license: "GPL", programs: [uninitProgram()], maps: [] }));
    expect(uninit).toMatchObject({ code: "EACCES" });
    expect((uninit as KernelError).log).toMatch(/R0 !read_ok/);
  });

  it("returns the verifier's statistics when asked for a log level", () => {
    const obj = openKernel().load(selectObject(selectProgram("sel", 7007)), { logLevel: 4 });
    try {
      const p = obj.program("sel");
      const m = /processed (\d+) insns/.exec(p.log);
      expect(m).not.toBeNull();
      expect(Number(m![1])).toBe(p.info().verifiedInsns);
    } finally {
      obj.close();
    }
  });

  it("names missing programs, maps and relocation targets", () => {
    const obj = openKernel().load(selectObject(selectProgram("sel", 7007)));
    try {
      expect(() => obj.program("nope")).toThrow(/no program nope in the object \(programs: sel\)/);
      expect(() => obj.map("nope")).toThrow(/maps: sockets, hits/);
    } finally {
      obj.close();
    }
    const noMaps = { license: "GPL", programs: [selectProgram("sel", 7007)], maps: [] };
    expect(() => openKernel().load(noMaps)).toThrow(/references map hits, which the object does not define/);
    expect(() => openKernel().load(selectObject(selectProgram("sel", 1)), { programs: ["x"] })).toThrow(/no program x/);
    const xdp = selectObject(selectProgram("sel", 1), { ...constProgram("other", 1), section: "xdp" });
    expect(() => openKernel().load(xdp)).toThrow(/program other is in section "xdp": only sk_lookup programs can be loaded/);
    openKernel().load(xdp, { programs: ["sel"] }).close();
  });
});

function captureError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected an error");
}
