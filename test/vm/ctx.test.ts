/**
 * Context loads: every (offset, size) the kernel accepts returns what the kernel returns (checked against the live
 * kernel for a v4 and a v6 context), including the u16-backed quirk and remote_port's 4-byte load; every other load
 * faults; `ctx->sk` reflects the current selection.
 */
import { describe, expect, test } from "vitest";
import { MapType } from "../../compiler/abi/maps.ts";
import { CTX_SIZE, ctxLoadField } from "../../compiler/abi/sk-lookup.ts";
import { AluOp, Helper, JmpOp, Size, alu64, call, exit, jmp64, ldMap, ldx, mov64, reg, st, stx, withLabel, sizeOfBytes } from "../../compiler/asm/index.ts";
import { openKernel } from "../../runtime/kernel/open.ts";
import { buildCtx, normalizeCtx, CtxError } from "../../runtime/vm/ctx.ts";
import { Socket } from "../../runtime/net/socket.ts";
import { VmObject } from "../../runtime/vm/object.ts";
import { describeKernel } from "../support/kernel.ts";
import { TCP6, TIERS, mapDef, objectOf, vmOf } from "./harness.ts";

const V4 = { family: "inet", protocol: "tcp", remoteIp: "1.2.3.4", remotePort: 0xabcd, localIp: "10.20.30.40", localPort: 7007 } as const;
const V6 = { family: "inet6", protocol: "udp", remoteIp: "fd00:1:2:3::4", remotePort: 0x1234, localIp: "fe80::aa:bb", localPort: 65535 } as const;
const OUT = mapDef("out", MapType.ARRAY, 4, 8, 1);

/** out[0] = *(size *)(ctx + off); SK_PASS. */
function loadProg(off: number, size: number) {
  return [
    ldx(sizeOfBytes(size), 6, 1, off),
    st(Size.W, 10, -4, 0),
    ldMap(1, "out"),
    mov64(2, reg(10)),
    alu64(AluOp.ADD, 2, -4),
    call(Helper.map_lookup_elem),
    jmp64(JmpOp.JEQ, 0, 0, "end"),
    stx(Size.DW, 0, 0, 6),
    withLabel(mov64(0, 1), "end"),
    exit(),
  ];
}

const LEGAL: Array<[number, number]> = [];
const ILLEGAL: Array<[number, number]> = [];
for (let off = 0; off < CTX_SIZE + 4; off++) for (const size of [1, 2, 4, 8]) (ctxLoadField(off, size) ? LEGAL : ILLEGAL).push([off, size]);

describe("ctx loads in the VM", () => {
  test("known values and quirks", () => {
    const read = (ctx: object, off: number, size: number, tier: "interp" | "jit") => {
      const obj = vmOf(loadProg(off, size), [OUT]);
      obj.run("prog", ctx as never, { tier });
      return Number(obj.map("out").get<bigint>(0)); // a u64 slot: bigint; every value checked here is small
    };
    for (const tier of TIERS) {
      expect(read(V4, 8, 4, tier)).toBe(2);
      expect(read(V4, 16, 4, tier)).toBe(0x04030201); // network order in memory
      expect(read(V4, 36, 2, tier)).toBe(0xcdab); // be16 read on a little-endian machine
      expect(read(V4, 36, 4, tier)).toBe(0xcdab); // 4-byte load of remote_port: zero-extended be16
      expect(read(V4, 60, 4, tier)).toBe(7007);
      expect(read(V4, 62, 2, tier)).toBe(7007); // the u16-backed quirk: low half, not 0
      expect(read(V4, 63, 1, tier)).toBe(0);
      expect(read(V4, 10, 2, tier)).toBe(2);
      expect(read(V4, 20, 4, tier)).toBe(0); // ip6 words read 0 in a v4 lookup
      expect(read(V6, 16, 4, tier)).toBe(0);
      expect(read(V4, 0, 8, tier)).toBe(0); // no selection: NULL
    }
  });
  test("every load the kernel rejects faults", () => {
    for (const [off, size] of ILLEGAL) {
      for (const tier of TIERS) {
        expect(() => vmOf(loadProg(off, size), [OUT]).run("prog", V4, { tier }), `${off}/${size}`).toThrow(`invalid bpf_context access off=${off} size=${size}`);
      }
    }
  });
  test("ctx->sk reads the current selection as a struct bpf_sock", () => {
    // r0 = ctx->sk ? ctx->sk->src_port : 0
    const insns = [ldx(Size.DW, 2, 1, 0), mov64(0, 0), jmp64(JmpOp.JEQ, 2, 0, "out"), ldx(Size.W, 0, 2, 44), withLabel(exit(), "out")];
    const a = new Socket({ name: "A", family: "inet", protocol: "tcp", ip: "127.0.0.1", port: 4242 });
    for (const tier of TIERS) {
      const p = vmOf(insns).program("prog");
      expect(p.exec(V4, { tier })).toBe(0n);
      expect(p.exec(V4, { tier, selected: a })).toBe(4242n);
    }
  });
  test("bpf_sock is read-only and bounded", () => {
    const a = new Socket({ name: "A", family: "inet", protocol: "tcp", ip: "127.0.0.1", port: 4242 });
    const write = [ldx(Size.DW, 2, 1, 0), st(Size.W, 2, 4, 0), mov64(0, 1), exit()];
    const oob = [ldx(Size.DW, 2, 1, 0), ldx(Size.W, 0, 2, 80), exit()];
    for (const tier of TIERS) {
      expect(() => vmOf(write).program("prog").exec(V4, { tier, selected: a })).toThrow(/read-only/);
      expect(() => vmOf(oob).program("prog").exec(V4, { tier, selected: a })).toThrow(/out of bounds/);
    }
  });
});

describe("ctx construction (BPF_PROG_TEST_RUN's rules)", () => {
  test("validation errors carry the kernel's errno", () => {
    expect(() => buildCtx({ ...V4, localPort: 65536 })).toThrow(expect.objectContaining({ errno: "ERANGE" }));
    expect(() => buildCtx({ ...V4, family: "unix" as never })).toThrow(expect.objectContaining({ errno: "EAFNOSUPPORT" }));
    expect(() => buildCtx({ ...V4, localIp: "::1" })).toThrow(CtxError);
    expect(() => buildCtx({ ...V4, remoteIp: "1.2.3" })).toThrow(/not an IPv4 address/);
    expect(() => buildCtx({ ...V4, bogus: 1 } as never)).toThrow(/unknown ctx field 'bogus'/);
    expect(() => buildCtx(null as never)).toThrow(CtxError);
  });
  test("raw ctx: family keeps its low 16 bits, the other family's fields are cleared", () => {
    const raw = buildCtx(TCP6);
    const v = new DataView(raw.buffer);
    v.setUint32(8, 10 | 0x10000, true);
    raw[16] = 9; // a v4 field in a v6 ctx
    const n = normalizeCtx(raw);
    expect(new DataView(n.buffer).getUint32(8, true)).toBe(10);
    expect(n[16]).toBe(0);
    const withCookie = buildCtx(V4);
    withCookie[0] = 1;
    expect(() => normalizeCtx(withCookie)).toThrow(expect.objectContaining({ errno: "EINVAL" }));
  });
});

describeKernel("ctx loads: VM vs kernel, every legal (offset, size)", () => {
  for (const ctx of [V4, V6]) {
    test(`${ctx.family} ctx`, () => {
      const file = objectOf(Object.fromEntries(LEGAL.filter(([o]) => o !== 0).map(([o, s]) => [`l${o}_${s}`, loadProg(o, s)])), [OUT]);
      const k = openKernel().load(file);
      const vm = new VmObject(file);
      try {
        for (const [o, s] of LEGAL.filter(([o]) => o !== 0)) {
          k.program(`l${o}_${s}`).testRun(ctx);
          const want = k.map("out").lookupInt(0);
          for (const tier of TIERS) {
            vm.run(`l${o}_${s}`, ctx, { tier });
            expect(BigInt(vm.map("out").get(0) as number), `${ctx.family} off=${o} size=${s} ${tier}`).toBe(want);
          }
        }
      } finally {
        k.close();
      }
    });
  }
});
