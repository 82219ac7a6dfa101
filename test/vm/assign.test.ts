/**
 * bpf_sk_assign's checks in the kernel's order (net/core/filter.c bpf_sk_lookup_assign; precedence measured in
 * kernel-facts.md): EINVAL (flags) > ESOCKTNOSUPPORT > EPROTOTYPE > EAFNOSUPPORT > EEXIST, and the NULL rules.
 */
import { describe, expect, test } from "vitest";
import { MapType } from "../../compiler/abi/maps.ts";
import { AluOp, Helper, JmpOp, Size, alu64, call, exit, jmp64, ldMap, ldx, mov64, reg, st, withLabel } from "../../compiler/asm/index.ts";
import { Socket, type SocketSpec } from "../../runtime/net/socket.ts";
import type { SkLookupInput } from "../../runtime/vm/ctx.ts";
import { TCP4, TCP6, TIERS, UDP4, mapDef, vmOf } from "./harness.ts";

/** r0 = sk_assign(ctx, sockets[0] or NULL, flags); the reference is released. */
function assignProg(flags: number, useNull = false) {
  return [
    mov64(6, reg(1)),
    st(Size.W, 10, -4, 0),
    ldMap(1, "sockets"),
    mov64(2, reg(10)),
    alu64(AluOp.ADD, 2, -4),
    call(Helper.map_lookup_elem),
    mov64(7, reg(0)),
    mov64(1, reg(6)),
    useNull ? mov64(2, 0) : mov64(2, reg(7)),
    mov64(3, flags),
    call(Helper.sk_assign),
    mov64(8, reg(0)),
    jmp64(JmpOp.JEQ, 7, 0, "out"),
    mov64(1, reg(7)),
    call(Helper.sk_release),
    withLabel(mov64(0, reg(8)), "out"),
    exit(),
  ];
}

const SOCKETS = mapDef("sockets", MapType.SOCKMAP, 4, 8, 2);
const tcpListen: SocketSpec = { name: "A", family: "inet", protocol: "tcp", ip: "127.0.0.1", port: 1 };
const other = new Socket({ name: "B", family: "inet", protocol: "tcp", ip: "127.0.0.1", port: 2 });

interface Case {
  name: string;
  sock: SocketSpec;
  ctx: SkLookupInput;
  flags?: number;
  preselected?: boolean;
  useNull?: boolean;
  errno: number;
  selected: string | null;
}

const CASES: Case[] = [
  { name: "TCP listener", sock: tcpListen, ctx: TCP4, errno: 0, selected: "A" },
  { name: "unknown flag bit → EINVAL", sock: tcpListen, ctx: TCP4, flags: 4, errno: -22, selected: null },
  { name: "EINVAL beats ESOCKTNOSUPPORT", sock: { ...tcpListen, state: "established" }, ctx: TCP4, flags: 8, errno: -22, selected: null },
  { name: "established TCP → ESOCKTNOSUPPORT", sock: { ...tcpListen, state: "established" }, ctx: TCP4, errno: -94, selected: null },
  { name: "connected UDP → ESOCKTNOSUPPORT", sock: { ...tcpListen, protocol: "udp", state: "connected" }, ctx: UDP4, errno: -94, selected: null },
  { name: "ESOCKTNOSUPPORT beats EPROTOTYPE", sock: { ...tcpListen, state: "established" }, ctx: UDP4, errno: -94, selected: null },
  { name: "TCP socket, UDP lookup → EPROTOTYPE", sock: tcpListen, ctx: UDP4, errno: -91, selected: null },
  { name: "UDP socket, TCP lookup → EPROTOTYPE", sock: { ...tcpListen, protocol: "udp", state: "unconnected" }, ctx: TCP4, errno: -91, selected: null },
  { name: "EPROTOTYPE beats EAFNOSUPPORT", sock: tcpListen, ctx: { ...TCP6, protocol: "udp" }, errno: -91, selected: null },
  { name: "v4 socket, v6 lookup → EAFNOSUPPORT", sock: tcpListen, ctx: TCP6, errno: -97, selected: null },
  { name: "v6only socket, v4 lookup → EAFNOSUPPORT", sock: { ...tcpListen, family: "inet6", ip: "::1", v6only: true }, ctx: TCP4, errno: -97, selected: null },
  { name: "dual-stack v6 socket serves v4", sock: { ...tcpListen, family: "inet6", ip: "::" }, ctx: TCP4, errno: 0, selected: "A" },
  { name: "dual-stack v6 socket serves v6", sock: { ...tcpListen, family: "inet6", ip: "::" }, ctx: TCP6, errno: 0, selected: "A" },
  { name: "existing selection without REPLACE → EEXIST", sock: tcpListen, ctx: TCP4, preselected: true, errno: -17, selected: "B" },
  { name: "EAFNOSUPPORT beats EEXIST", sock: tcpListen, ctx: TCP6, preselected: true, errno: -97, selected: "B" },
  { name: "REPLACE overrides", sock: tcpListen, ctx: TCP4, preselected: true, flags: 1, errno: 0, selected: "A" },
  { name: "REPLACE with nothing selected", sock: tcpListen, ctx: TCP4, flags: 1, errno: 0, selected: "A" },
  { name: "NULL on a fresh ctx", sock: tcpListen, ctx: TCP4, useNull: true, errno: 0, selected: null },
  { name: "NULL while selected → EEXIST", sock: tcpListen, ctx: TCP4, useNull: true, preselected: true, errno: -17, selected: "B" },
  { name: "NULL with REPLACE clears the selection", sock: tcpListen, ctx: TCP4, useNull: true, preselected: true, flags: 1, errno: 0, selected: null },
  { name: "NULL skips socket checks (no EPROTOTYPE)", sock: tcpListen, ctx: UDP4, useNull: true, errno: 0, selected: null },
];

describe("sk_assign errnos and precedence", () => {
  for (const c of CASES) {
    for (const tier of TIERS) {
      test(`${c.name} [${tier}]`, () => {
        const obj = vmOf(assignProg(c.flags ?? 0, c.useNull), [SOCKETS]);
        const sock = new Socket(c.sock);
        obj.map("sockets").set(0, sock);
        const p = obj.program("prog");
        const r0 = p.exec(c.ctx, { tier, selected: c.preselected ? other : null });
        expect(r0).toBe(BigInt.asUintN(64, BigInt(c.errno)));
        expect(obj.machine.selected?.name ?? null).toBe(c.selected);
        expect(obj.machine.held).toEqual([]);
        expect(sock.refs).toBe(0);
      });
    }
  }
  test("NO_REUSEPORT is recorded with the selection", () => {
    const obj = vmOf(assignProg(2), [SOCKETS]);
    obj.map("sockets").set(0, new Socket(tcpListen));
    obj.program("prog").exec(TCP4);
    expect(obj.machine.noReuseport).toBe(true);
  });
});

describe("socket references", () => {
  for (const tier of TIERS) {
    test(`a lookup without release is reported as a leak [${tier}]`, () => {
      const insns = [st(Size.W, 10, -4, 0), ldMap(1, "sockets"), mov64(2, reg(10)), alu64(AluOp.ADD, 2, -4), call(Helper.map_lookup_elem), mov64(0, 1), exit()];
      const obj = vmOf(insns, [SOCKETS]);
      const a = new Socket(tcpListen);
      obj.map("sockets").set(0, a);
      const r = obj.run("prog", TCP4, { tier });
      expect(r.leakedRefs).toEqual(["A"]);
      expect(a.refs).toBe(1);
    });
    test(`releasing ctx->sk (not a reference) faults [${tier}]`, () => {
      const insns = [ldx(Size.DW, 1, 1, 0), call(Helper.sk_release), mov64(0, 1), exit()];
      const obj = vmOf(insns, [SOCKETS]);
      expect(() => obj.program("prog").exec(TCP4, { tier, selected: other })).toThrow(/sk_release of B, which this program holds no reference to/);
    });
  }
});
