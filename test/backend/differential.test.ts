/**
 * Differential test: random IR programs (arithmetic at both widths, extensions, byte swaps, comparisons, diamonds,
 * bounded loops, map value pointers (null tests, loads, stores, atomic adds, kept across calls), helper calls that
 * force values into callee-saved registers or spill slots, stack round trips and re-stores) are compiled, loaded into the kernel and run with BPF_PROG_TEST_RUN; every result the program stores into an ARRAY map must equal what
 * the reference IR interpreter computes for the same context bytes.
 */
import { expect, it } from "vitest";
import { MapType } from "../../compiler/abi/maps.ts";
import type { BinOp, CmpOp, VReg } from "../../compiler/ir/ir.ts";
import { generate } from "../../compiler/backend/index.ts";
import { readObject, writeObject } from "../../compiler/elf/index.ts";
import { type CtxSpec, encodeCtx } from "../../runtime/kernel/ctx.ts";
import { openKernel } from "../../runtime/kernel/open.ts";
import { describeKernel } from "../support/kernel.ts";
import { interpret } from "./interp.ts";
import { FnBuilder, k, map, module, v } from "./ir-builder.ts";
import { rng as prng } from "../support/rng.ts";

const OUTPUTS = 6;
/** Programs per run; raise with TSBPF_FUZZ_PROGRAMS for a longer hunt. */
const PROGRAMS = Number(process.env.TSBPF_FUZZ_PROGRAMS ?? 80);


const LOADS: Array<[number, 1 | 2 | 4]> = [
  [8, 4], [12, 4], [16, 4], [16, 1], [19, 1], [20, 4], [32, 4], [36, 2], [36, 4], [40, 4], [40, 2], [44, 4], [56, 4], [60, 4], [60, 1],
];
const BINOPS: BinOp[] = ["add", "sub", "mul", "udiv", "umod", "sdiv", "smod", "and", "or", "xor", "shl", "lshr", "ashr"];
const CMPS: CmpOp[] = ["eq", "ne", "ult", "ule", "ugt", "uge", "slt", "sle", "sgt", "sge", "set"];
const CONSTS = [0n, 1n, 2n, 3n, 7n, 31n, 32n, 63n, 0xffn, 0x7fffffffn, 0x80000000n, 0xffffffffn, 1n << 32n, -1n, -2n, 0x123456789abcdefn, -(1n << 63n)];

/** Builds random program number `seed`. */
function randomProgram(seed: number) {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const b = new FnBuilder(`fuzz${seed}`);
  const pool: VReg[] = [];
  const operand = () => (rnd() < 0.75 ? v(pick(pool)) : k(rnd() < 0.7 ? pick(CONSTS) : BigInt(Math.floor(rnd() * 2 ** 32)) * BigInt(Math.floor(rnd() * 2 ** 20))));
  const width = (): 32 | 64 => (rnd() < 0.5 ? 32 : 64);
  const shared = b.slot(8, 8, "shared");
  b.slotStore(shared, 0, 8, k(0));
  const loads = 3 + Math.floor(rnd() * 4);
  for (let i = 0; i < loads; i++) {
    const [off, size] = pick(LOADS);
    pool.push(b.ctxLoad(off, size));
  }
  const ops = 10 + Math.floor(rnd() * 30);
  for (let i = 0; i < ops; i++) {
    if (rnd() < 0.08) {
      // Re-reading a context field: common-subexpression elimination across the ops in between.
      const [off, size] = pick(LOADS);
      pool.push(b.ctxLoad(off, size));
      continue;
    }
    const r = rnd();
    if (r < 0.5) pool.push(b.bin(pick(BINOPS), operand(), operand(), width()));
    else if (r < 0.56) {
      const d = b.vreg();
      b.emit({ op: "neg", dst: d, width: width(), src: v(pick(pool)) });
      pool.push(d);
    } else if (r < 0.64) {
      const d = b.vreg();
      b.emit({ op: "ext", dst: d, src: v(pick(pool)), bits: pick([8, 16, 32] as const), signed: rnd() < 0.5 });
      pool.push(d);
    } else if (r < 0.7) {
      const d = b.vreg();
      b.emit({ op: "bswap", dst: d, src: v(pick(pool)), bits: pick([16, 32, 64] as const) });
      pool.push(d);
    } else if (r < 0.74) pool.push(b.setcc(pick(CMPS), v(pick(pool)), operand(), width()));
    else if (r < 0.78) {
      // Booleans and constants through branches, as the frontend writes them: diamonds and triangles.
      const c = pick(CMPS);
      const a = v(pick(pool));
      const w = width();
      if (rnd() < 0.5) pool.push(b.boolDiamond(c, a, operand(), w));
      else {
        const d = b.mov(k(pick([0n, 1n, 5n])));
        const t = b.block();
        const j = b.block();
        if (rnd() < 0.5) b.cbr(c, a, operand(), t, j, w);
        else b.cbr(c, a, operand(), j, t, w);
        b.at(t).mov(k(pick([0n, 1n, 9n])), d);
        b.br(j);
        b.at(j);
        pool.push(d);
      }
    }
    else if (r < 0.88) {
      // if (a cmp b) d = x op y else d = z op w
      const d = b.vreg();
      const t = b.block();
      const e = b.block();
      const j = b.block();
      b.cbr(pick(CMPS), v(pick(pool)), operand(), t, e, width());
      b.at(t).mov(v(b.bin(pick(BINOPS), operand(), operand(), width())), d);
      b.br(j);
      b.at(e).mov(v(b.bin(pick(BINOPS), operand(), operand(), width())), d);
      b.br(j);
      b.at(j);
      pool.push(d);
    } else if (r < 0.83) {
      // A bounded loop: acc = acc op f(i) for i in 0..n-1, sometimes with a helper call in the body.
      const i = b.mov(k(0));
      const acc = b.mov(v(pick(pool)));
      const head = b.block();
      const body = b.block();
      const exit = b.block();
      b.br(head);
      b.at(head).cbr("ult", v(i), k(2 + Math.floor(rnd() * 4)), body, exit);
      b.at(body);
      const t = b.bin(pick(BINOPS), v(i), rnd() < 0.5 ? v(pick(pool)) : k(pick(CONSTS)), width());
      b.emit({ op: "bin", dst: acc, kind: pick(["add", "xor", "sub", "mul"] as const), width: width(), a: v(acc), b: v(t) });
      if (rnd() < 0.4) b.call(7, []);
      b.emit({ op: "bin", dst: i, kind: "add", width: 64, a: v(i), b: k(1) });
      b.br(head);
      b.at(exit);
      pool.push(acc);
    } else if (r < 0.845) {
      // Map value access: lookup (index may be out of range → null), null test, load/store/atomic through it.
      const idx = b.bin("and", v(pick(pool)), k(rnd() < 0.8 ? 3 : 7), 32);
      const p = b.lookupU32("data", v(idx));
      const d = b.vreg();
      const hit = b.block();
      const miss = b.block();
      const join = b.block();
      b.cbr("eq", v(p), k(0), miss, hit);
      b.at(hit);
      if (rnd() < 0.3) b.emit({ op: "store", ptr: p, offset: 8, size: pick([4, 8] as const), value: v(pick(pool)) });
      if (rnd() < 0.3) b.emit({ op: "atomic_add", ptr: p, offset: 0, size: 8, value: v(pick(pool)) });
      if (rnd() < 0.3) b.call(7, []); // the pointer lives across a call
      const size = pick([1, 2, 4, 8] as const);
      b.emit({ op: "load", dst: d, ptr: p, offset: pick([0, 8]), size, signed: size < 8 && rnd() < 0.3 });
      b.br(join);
      b.at(miss).mov(k(pick(CONSTS)), d);
      b.br(join);
      b.at(join);
      pool.push(d);
    } else if (r < 0.86) b.call(7, []); // clobbers r0-r5: live values move to r6-r9 or spill
    else if (r < 0.96) {
      // A shared 8-byte slot written (often with a value it already holds) and read back: redundant-store removal.
      const size = pick([4, 8] as const);
      const offset = size === 8 ? 0 : pick([0, 4]);
      if (rnd() < 0.6) b.slotStore(shared, offset, size, rnd() < 0.5 ? v(pick(pool.slice(0, 2))) : k(pick([0n, -1n])));
      else {
        const d = b.vreg();
        b.emit({ op: "slot_load", dst: d, slot: shared, offset, size });
        pool.push(d);
      }
    } else {
      const s = b.slot(8, 8);
      b.slotStore(s, 0, 8, v(pick(pool)));
      const d = b.vreg();
      const size = pick([1, 2, 4, 8] as const);
      b.emit({ op: "slot_load", dst: d, slot: s, offset: 0, size, signed: size < 8 && rnd() < 0.5 });
      pool.push(d);
    }
  }
  const p = b.lookupU32("out", k(0));
  const store = b.block();
  const none = b.block();
  b.cbr("eq", v(p), k(0), none, store);
  b.at(none).ret(k(0));
  b.at(store);
  for (let i = 0; i < OUTPUTS; i++) b.emit({ op: "store", ptr: p, offset: 8 * i, size: 8, value: v(pool[pool.length - 1 - ((i * 7) % pool.length)]!) });
  b.ret(k(1));
  return { fn: b.fn, module: module([b.fn], [map("out", MapType.ARRAY, 4, 8 * OUTPUTS, 1), map("data", MapType.ARRAY, 4, 16, 4)]) };
}

function randomCtx(rnd: () => number): CtxSpec {
  const byte = () => Math.floor(rnd() * 256);
  const port = () => Math.floor(rnd() * 65536);
  if (rnd() < 0.5) {
    const ip = () => [byte(), byte(), byte(), byte()].join(".");
    return { family: "inet", protocol: rnd() < 0.5 ? "tcp" : "udp", remoteIp: ip(), remotePort: port(), localIp: ip(), localPort: port() };
  }
  const ip6 = () => Array.from({ length: 8 }, () => Math.floor(rnd() * 65536).toString(16)).join(":");
  return { family: "inet6", protocol: "tcp", remoteIp: ip6(), remotePort: port(), localIp: ip6(), localPort: port() };
}

describeKernel("backend differential test against the kernel", () => {
  it(`${PROGRAMS} random programs compute in the kernel what the IR interpreter computes`, () => {
    const kernel = openKernel();
    let spilled = 0;
    for (let seed = 1; seed <= PROGRAMS; seed++) {
      const { fn, module: m } = randomProgram(seed);
      // Most seeds take the default (Linux 5.10) lowering of signed division; every third uses the cpu-v4 forms (sdiv/smod, movsx, ldsx).
      const { insns, stackSize } = generate(fn, m, { features: { signedDivision: seed % 3 === 0, signExtension: seed % 3 === 0 } });
      if (stackSize > fn.slots.reduce((n, s) => n + s.size, 0) + 4) spilled++;
      const obj = kernel.load(readObject(writeObject({ fileName: "fuzz.ts", license: "GPL", programs: [{ name: fn.name, insns }], maps: m.maps })));
      try {
        const rnd = prng(seed * 7919);
        for (let run = 0; run < 3; run++) {
          const ctx = encodeCtx(randomCtx(rnd));
          const data = [0, 1, 2, 3].map((i) => Uint8Array.from({ length: 16 }, (_, j) => (seed * 31 + i * 17 + j * 7 + run) & 0xff));
          const maps = new Map([["out", [new Uint8Array(8 * OUTPUTS)]], ["data", data.map((d) => d.slice())]]);
          const want = interpret(fn, ctx, maps);
          obj.map("out").update(0, new Uint8Array(8 * OUTPUTS));
          data.forEach((d, i) => obj.map("data").update(i, d));
          const got = obj.program(fn.name).testRun(ctx);
          expect(BigInt(got.retval), `seed ${seed} run ${run}: retval`).toBe(want);
          expect(Buffer.from(obj.map("out").lookup(0)!).toString("hex"), `seed ${seed} run ${run}: stored results`).toBe(
            Buffer.from(maps.get("out")![0]!).toString("hex"),
          );
          for (let i = 0; i < 4; i++) {
            expect(Buffer.from(obj.map("data").lookup(i)!).toString("hex"), `seed ${seed} run ${run}: data[${i}]`).toBe(
              Buffer.from(maps.get("data")![i]!).toString("hex"),
            );
          }
        }
      } finally {
        obj.close();
      }
    }
    // The generator must actually exercise spilling, or the test would miss a whole part of the allocator.
    expect(spilled).toBeGreaterThan(0);
  }, 120_000); // a few seconds normally; generous for loaded CI machines and larger TSBPF_FUZZ_PROGRAMS
});
