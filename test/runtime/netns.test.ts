/**
 * Netns combination rules (include/linux/filter.h BPF_PROG_SK_LOOKUP_RUN_ARRAY and its callers; the e2e table of
 * kernel-facts.md "Several programs on one netns"), the regular-lookup fallback and reuseport groups, on both tiers.
 */
import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { MapType } from "../../compiler/abi/maps.ts";
import { AluOp, Helper, JmpOp, Size, alu64, call, exit, jmp64, ldMap, ldx, mov64, reg, st, withLabel } from "../../compiler/asm/index.ts";
import { Netns, NetnsError, loadObject, type VmObject } from "../../runtime/index.ts";
import { Socket } from "../../runtime/net/socket.ts";
import { TCP4, TCP6, TIERS, UDP4, mapDef, objectOf } from "../vm/harness.ts";
import { VmObject as VmObj } from "../../runtime/vm/object.ts";

/** Program: assign sockets[slot] with `flags` (or skip when slot < 0), return `verdict`. */
function selectProg(slot: number, flags: number, verdict: 0 | 1) {
  if (slot < 0) return [mov64(0, verdict), exit()];
  return [
    mov64(6, reg(1)),
    st(Size.W, 10, -4, slot),
    ldMap(1, "sockets"),
    mov64(2, reg(10)),
    alu64(AluOp.ADD, 2, -4),
    call(Helper.map_lookup_elem),
    jmp64(JmpOp.JEQ, 0, 0, "out"),
    mov64(7, reg(0)),
    mov64(1, reg(6)),
    mov64(2, reg(7)),
    mov64(3, flags),
    call(Helper.sk_assign),
    mov64(1, reg(7)),
    call(Helper.sk_release),
    withLabel(mov64(0, verdict), "out"),
    exit(),
  ];
}

/** PASS when ctx->sk is set (a later program sees the earlier selection), DROP otherwise. */
const seesSelection = [ldx(Size.DW, 2, 1, 0), mov64(0, 0), jmp64(JmpOp.JEQ, 2, 0, "out"), mov64(0, 1), withLabel(exit(), "out")];

function fixture(): { obj: VmObject; ns: Netns; a: Socket; b: Socket } {
  const obj = new VmObj(
    objectOf(
      {
        pass: selectProg(-1, 0, 1),
        drop: selectProg(-1, 0, 0),
        sel_a: selectProg(0, 0, 1),
        sel_b: selectProg(1, 0, 1),
        sel_b_repl: selectProg(1, 1, 1),
        sel_a_drop: selectProg(0, 0, 0),
        null_repl: [mov64(6, reg(1)), mov64(1, reg(6)), mov64(2, 0), mov64(3, 1), call(Helper.sk_assign), mov64(0, 1), exit()],
        sees: seesSelection,
        sel_a_norp: selectProg(0, 2, 1),
      },
      [mapDef("sockets", MapType.SOCKMAP, 4, 8, 4)],
    ),
  );
  const ns = new Netns();
  const a = ns.socket({ name: "A", family: "inet", protocol: "tcp", ip: "127.0.0.1", port: 40001 });
  const b = ns.socket({ name: "B", family: "inet", protocol: "tcp", ip: "127.0.0.1", port: 40002 });
  obj.map("sockets").set(0, a).set(1, b);
  return { obj, ns, a, b };
}

const RULES: Array<[string[], string]> = [
  [["pass"], "regular:null"],
  [["drop"], "refused"],
  [["pass", "drop"], "refused"],
  [["drop", "pass"], "refused"],
  [["sel_a"], "A"],
  [["sel_a", "drop"], "A"],
  [["drop", "sel_a"], "A"],
  [["sel_a", "sel_b"], "A"],
  [["sel_b", "sel_a"], "B"],
  [["sel_a", "drop", "sel_b"], "A"],
  [["sel_a", "sel_b_repl"], "B"],
  [["sel_b_repl", "sel_a"], "B"],
  [["drop", "sel_b_repl"], "B"],
  [["sel_a", "null_repl"], "A"],
  [["null_repl", "sel_a"], "A"],
  [["sel_a_drop"], "refused"],
  [["sel_a_drop", "pass"], "refused"],
  [["sel_a", "sees"], "A"],
  [["sees"], "refused"],
];

describe("combination rules", () => {
  for (const [progs, want] of RULES) {
    for (const tier of TIERS) {
      test(`${progs.join(",")} → ${want} [${tier}]`, () => {
        const { obj, ns } = fixture();
        for (const p of progs) ns.attach(obj.program(p));
        const r = ns.lookup(TCP4, { tier });
        expect(r.runs).toHaveLength(progs.length);
        if (want === "refused") expect([r.outcome, r.socket]).toEqual(["refused", null]);
        else if (want.startsWith("regular")) expect([r.outcome, r.socket]).toEqual(["regular", null]);
        else expect([r.outcome, r.socket?.name]).toEqual(["selected", want]);
      });
    }
  }
  test("SK_PASS without selection falls back to a bound listener; SK_DROP refuses even then", () => {
    const { obj, ns } = fixture();
    const c = ns.socket({ name: "C", family: "inet", protocol: "tcp", ip: "127.0.0.1", port: 7007 });
    ns.attach(obj.program("pass"));
    expect(ns.lookup(TCP4).socket).toBe(c);
    ns.attach(obj.program("drop"));
    expect(ns.lookup(TCP4).outcome).toBe("refused");
  });
  test("a BPF selection beats the bound listener", () => {
    const { obj, ns } = fixture();
    ns.socket({ name: "C", family: "inet", protocol: "tcp", ip: "127.0.0.1", port: 7007 });
    ns.attach(obj.program("sel_a"));
    expect(ns.lookup(TCP4).socket?.name).toBe("A");
  });
  test("at most 64 links; detach removes the last attachment", () => {
    const { obj, ns } = fixture();
    for (let i = 0; i < 64; i++) ns.attach(obj.program("pass"));
    expect(() => ns.attach(obj.program("pass"))).toThrow(NetnsError);
    ns.detach(obj.program("pass"));
    expect(ns.programs).toHaveLength(63);
    expect(() => ns.detach(obj.program("drop"))).toThrow(/not attached/);
  });
});

describe("regular lookup", () => {
  test("exact address beats wildcard; v4 beats dual-stack; v6only never serves v4", () => {
    const ns = new Netns();
    const v6only = ns.socket({ name: "V6", family: "inet6", protocol: "tcp", ip: "::", port: 7007, v6only: true });
    expect(ns.lookup(TCP4).socket).toBeNull();
    const dual = ns.socket({ name: "D", family: "inet6", protocol: "tcp", ip: "::", port: 7007 });
    expect(ns.lookup(TCP4).socket).toBe(dual);
    const any4 = ns.socket({ name: "W", family: "inet", protocol: "tcp", ip: "0.0.0.0", port: 7007 });
    expect(ns.lookup(TCP4).socket).toBe(any4);
    const exact = ns.socket({ name: "E", family: "inet", protocol: "tcp", ip: "127.0.0.1", port: 7007 });
    ns.socket({ name: "other", family: "inet", protocol: "tcp", ip: "127.0.0.9", port: 7007 });
    expect(ns.lookup(TCP4).socket).toBe(exact);
    expect(ns.lookup({ ...TCP6, localIp: "::1" }).socket).toBe(v6only);
    expect(ns.lookup(UDP4).socket).toBeNull();
    ns.socket({ name: "established", family: "inet", protocol: "tcp", state: "established", ip: "127.0.0.1", port: 7008 });
    expect(ns.lookup({ ...TCP4, localPort: 7008 }).socket).toBeNull();
  });
  test("UDP: a connected socket only receives from its peer and beats unconnected ones", () => {
    const ns = new Netns();
    const u = ns.socket({ name: "U", family: "inet", protocol: "udp", ip: "0.0.0.0", port: 7007 });
    const uc = ns.socket({ name: "UC", family: "inet", protocol: "udp", state: "connected", ip: "127.0.0.1", port: 7007, remoteIp: "127.0.0.2", remotePort: 8008 });
    expect(ns.lookup(UDP4).socket).toBe(uc);
    expect(ns.lookup({ ...UDP4, remotePort: 9 }).socket).toBe(u);
  });
});

describe("reuseport", () => {
  function group() {
    const { obj, ns } = fixture();
    const members = [0, 1, 2].map((i) => ns.socket({ name: `R${i}`, family: "inet", protocol: "tcp", ip: "127.0.0.1", port: 40009, reuseport: "g" }));
    obj.map("sockets").set(0, members[0]!);
    return { obj, ns, members };
  }
  test("a selection without NO_REUSEPORT goes through the group, deterministically per flow", () => {
    const { obj, ns, members } = group();
    ns.attach(obj.program("sel_a"));
    const picks = new Set<string>();
    for (let port = 1000; port < 1040; port++) {
      const r = ns.lookup({ ...TCP4, remotePort: port });
      expect(members).toContain(r.socket);
      expect(ns.lookup({ ...TCP4, remotePort: port }).socket).toBe(r.socket);
      picks.add(r.socket!.name);
    }
    expect(picks.size).toBe(3);
  });
  test("NO_REUSEPORT keeps the selected socket", () => {
    const { obj, ns } = group();
    ns.attach(obj.program("sel_a_norp"));
    for (let port = 1000; port < 1020; port++) expect(ns.lookup({ ...TCP4, remotePort: port }).socket?.name).toBe("R0");
  });
});

describe("a user's test reads like the lookup it checks", () => {
  test("load handler, add sockets, look up a packet, expect socket A", () => {
    const obj = loadObject(readFileSync(new URL("../fixtures/c/basic.o", import.meta.url)));
    const ns = new Netns();
    const a = ns.socket({ name: "A", family: "inet", protocol: "tcp", ip: "127.0.0.1", port: 1234 });
    obj.map("sockets").set(0, a);
    ns.attach(obj.program("redir_port"));
    expect(ns.lookup({ family: "inet", protocol: "tcp", remoteIp: "127.0.0.2", remotePort: 8008, localIp: "127.0.0.1", localPort: 7007 }).socket).toBe(a);
    expect(ns.lookup({ family: "inet", protocol: "tcp", remoteIp: "127.0.0.2", remotePort: 8008, localIp: "127.0.0.1", localPort: 7008 }).outcome).toBe("regular");
    expect(a.refs).toBe(0);
  });
});

describe("fromTs", () => {
  test("compiles a DSL file and loads it; compile errors are CompileErrors with diagnostics", async () => {
    const { fromTs, CompileError } = await import("../../runtime/index.ts");
    const obj = await fromTs(new URL("../../examples/redirect-port.ts", import.meta.url).pathname);
    const ns = new Netns();
    const a = ns.socket({ name: "A", family: "inet", protocol: "tcp", ip: "127.0.0.1", port: 1234 });
    obj.map("sockets").set(0, a);
    ns.attach(obj.program("redir_port"));
    expect(ns.lookup(TCP4, { tier: "jit" }).socket).toBe(a);
    await expect(fromTs("/nonexistent/x.ts")).rejects.toBeInstanceOf(CompileError);
  });
});
