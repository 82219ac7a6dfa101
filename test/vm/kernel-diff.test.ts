/**
 * The VM against the live kernel: every value-returning case of the instruction table is loaded into the kernel and
 * run with BPF_PROG_TEST_RUN; r0 is written to an ARRAY map by a shared epilogue (its key lives at fp-64) (sk_lookup programs must return 0/1),
 * and the kernel's value must equal both tiers' (and the table's). The verifier must accept every case.
 * Then every sk_assign errno case runs with real sockets in a SOCKMAP on both sides.
 */
import { once } from "node:events";
import { createSocket, type Socket as DgramSocket } from "node:dgram";
import { createServer, connect, type Server, type Socket as NetSocket } from "node:net";
import { afterAll, beforeAll, expect, test } from "vitest";
import { MapType } from "../../compiler/abi/maps.ts";
import { Helper, JmpOp, Size, alu64, AluOp, call, exit, jmp64, ldMap, mov64, reg, st, withLabel, type Instruction } from "../../compiler/asm/index.ts";
import { openKernel } from "../../runtime/kernel/open.ts";
import { VmObject } from "../../runtime/vm/object.ts";
import { Socket } from "../../runtime/net/socket.ts";
import { describeKernel } from "../support/kernel.ts";
import { INSN_CASES } from "./insn-cases.ts";
import { TCP4, TIERS, mapDef, objectOf, wrap } from "./harness.ts";

const OUT = mapDef("out", MapType.ARRAY, 4, 8, 1);

describeKernel("VM vs kernel: instruction table", () => {
  const refused: string[] = [];
  let compared = 0;
  for (const c of INSN_CASES.filter((x) => x.r0 !== undefined && !x.notOnKernel)) {
    test(c.name, () => {
      const file = objectOf({ prog: wrap(c.insns) }, [OUT]);
      let k;
      try {
        k = openKernel().load(file);
      } catch (e) {
        refused.push(`${c.name}: ${(e as Error).message.split("\n")[0]}`);
        return;
      }
      try {
        const kr = k.program("prog").testRun(TCP4);
        expect(kr.retval).toBe(1);
        const kernelR0 = k.map("out").lookupInt(0);
        for (const tier of TIERS) {
          const vm = new VmObject(file);
          expect(vm.run("prog", TCP4, { tier }).verdict).toBe("SK_PASS");
          expect(BigInt(vm.map("out").get(0) as number | string), `${tier} vs kernel`).toBe(kernelR0);
        }
        expect(kernelR0).toBe(c.r0);
        compared++;
      } finally {
        k.close();
      }
    });
  }
  test("the kernel accepted every case and all were compared", () => {
    expect(refused).toEqual([]);
    expect(compared).toBe(INSN_CASES.filter((x) => x.r0 !== undefined && !x.notOnKernel).length);
  });
});

describeKernel("VM vs kernel: sk_assign with real sockets", () => {
  const servers: Server[] = [];
  const clients: NetSocket[] = [];
  const udps: DgramSocket[] = [];
  const real = new Map<string, { node: Server | NetSocket | DgramSocket; vm: Socket }>();

  beforeAll(async () => {
    const listen = async (name: string, host: string, ipv6Only: boolean, family: "inet" | "inet6") => {
      const s = createServer().listen({ port: 0, host, ipv6Only });
      await once(s, "listening");
      servers.push(s);
      const port = (s.address() as { port: number }).port;
      real.set(name, { node: s, vm: new Socket({ name, family, protocol: "tcp", ip: host, port, v6only: ipv6Only }) });
      return { s, port };
    };
    const a = await listen("A", "127.0.0.1", false, "inet");
    await listen("A6", "::1", true, "inet6");
    await listen("D6", "::", false, "inet6");
    const c = connect(a.port, "127.0.0.1");
    await once(c, "connect");
    clients.push(c);
    real.set("E", { node: c, vm: new Socket({ name: "E", family: "inet", protocol: "tcp", state: "established", ip: "127.0.0.1", port: c.localPort! }) });
    const u = createSocket("udp4");
    u.bind(0, "127.0.0.1");
    await once(u, "listening");
    udps.push(u);
    real.set("U", { node: u, vm: new Socket({ name: "U", family: "inet", protocol: "udp", ip: "127.0.0.1", port: u.address().port }) });
    const uc = createSocket("udp4");
    uc.bind(0, "127.0.0.1");
    await once(uc, "listening");
    uc.connect(a.port, "127.0.0.1");
    await once(uc, "connect");
    udps.push(uc);
    real.set("UC", { node: uc, vm: new Socket({ name: "UC", family: "inet", protocol: "udp", state: "connected", ip: "127.0.0.1", port: uc.address().port }) });
  });
  afterAll(() => {
    for (const c of clients) c.destroy();
    for (const s of servers) s.close();
    for (const u of udps) u.close();
  });

  /** r0 = sk_assign(ctx, sockets[0], flags) stored in out[0]; the verdict is SK_PASS. */
  const prog = (flags: number): Instruction[] =>
    wrap([
      mov64(6, reg(1)),
      st(Size.W, 10, -4, 0),
      ldMap(1, "sockets"),
      mov64(2, reg(10)),
      alu64(AluOp.ADD, 2, -4),
      call(Helper.map_lookup_elem),
      mov64(7, reg(0)),
      mov64(0, 1000),
      jmp64(JmpOp.JEQ, 7, 0, "out"),
      mov64(1, reg(6)),
      mov64(2, reg(7)),
      mov64(3, flags),
      call(Helper.sk_assign),
      mov64(8, reg(0)),
      mov64(1, reg(7)),
      call(Helper.sk_release),
      mov64(0, reg(8)),
      withLabel(exit(), "out"),
    ]);
  const CASES: Array<[string, string, object, number]> = [
    ["listener", "A", TCP4, 0],
    ["bad flag", "A", TCP4, 4],
    ["udp ctx", "A", { ...TCP4, protocol: "udp" }, 0],
    ["v6 ctx for v4 socket", "A", { ...TCP4, family: "inet6", remoteIp: "::2", localIp: "::1" }, 0],
    ["v6only for v4", "A6", TCP4, 0],
    ["dual-stack for v4", "D6", TCP4, 0],
    ["established", "E", TCP4, 0],
    ["udp bound", "U", { ...TCP4, protocol: "udp" }, 0],
    ["udp connected", "UC", { ...TCP4, protocol: "udp" }, 0],
    ["udp for tcp ctx", "U", TCP4, 0],
    ["replace flag", "A", TCP4, 1],
    ["no-reuseport flag", "A", TCP4, 2],
  ];
  for (const [name, sock, ctx, flags] of CASES) {
    test(`${name} (${sock}, flags ${flags})`, () => {
      const file = objectOf({ prog: prog(flags) }, [OUT, mapDef("sockets", MapType.SOCKMAP, 4, 8, 1)]);
      const k = openKernel().load(file);
      try {
        const s = real.get(sock)!;
        k.map("sockets").setSocket(0, s.node as never);
        const kr = k.program("prog").testRun(ctx as never);
        const kernelRc = BigInt.asIntN(64, k.map("out").lookupInt(0)!);
        for (const tier of TIERS) {
          const vm = new VmObject(file);
          vm.map("sockets").set(0, s.vm);
          const r = vm.run("prog", ctx as never, { tier });
          expect(BigInt(vm.map("out").get(0) as number), `${tier} rc`).toBe(BigInt.asUintN(64, kernelRc));
          expect(r.verdict).toBe(kr.verdict);
          expect(r.cookie === 0n, `${tier} selection`).toBe(kr.cookie === 0n);
        }
      } finally {
        k.close();
      }
    });
  }
});
