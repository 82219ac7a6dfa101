/**
 * `x!` on a lookup result: an explicit NULL check in the object (kernels before 6.14 reject a dereference of an
 * unchecked ARRAY lookup even with a constant in-range key), and, should the assertion fail, the program ends with
 * SK_PASS — also from inside a local function. Checked in the VM (both tiers) and in the kernel.
 */
import { afterAll, describe, expect, it } from "vitest";
import { compile, formatDiagnostics } from "../../compiler/index.ts";
import { disassembleEmitted } from "../../compiler/backend/index.ts";
import type { LoadedObject } from "../../runtime/kernel/load.ts";
import { openKernel } from "../../runtime/kernel/open.ts";
import { Socket, VmObject } from "../../runtime/index.ts";
import { describeKernel } from "../support/kernel.ts";

const ARRAY = `
import { type SkLookup, type Verdict, SK_PASS, SK_DROP, ArrayMap, type u32 } from "tsbpf";
interface Counter { hits: u32; limit: u32 }
export const counters = new ArrayMap<Counter>({ maxEntries: 4 });
export function count(ctx: SkLookup): Verdict {
  const c = counters.lookup(2)!;
  c.hits += 1;
  return c.hits > c.limit ? SK_DROP : SK_PASS;
}
`;

// A failed assertion inside a local function ends the program (SK_PASS), not just the function.
const HASH = `
import { type SkLookup, type Verdict, SK_PASS, SK_DROP, HashMap, type u16, type u32 } from "tsbpf";
export const limits = new HashMap<u16, u32>({ maxEntries: 8 });
function limitOf(port: u16): u32 {
  return limits.lookup(port)! + 1;
}
export function gate(ctx: SkLookup): Verdict {
  return limitOf(ctx.localPort) > 0 ? SK_DROP : SK_DROP;
}
`;

// The caller holds a socket reference when the local function's assertion fails: it is released before the exit.
const HELD = `
import { type SkLookup, type Verdict, SK_PASS, SK_DROP, HashMap, SockMap, type u16, type u32 } from "tsbpf";
export const limits = new HashMap<u16, u32>({ maxEntries: 8 });
export const sockets = new SockMap({ maxEntries: 4 });
function limitOf(port: u16): u32 {
  return limits.lookup(port)!;
}
export function held(ctx: SkLookup): Verdict {
  const sk = sockets.lookup(0);
  if (sk === null) return SK_DROP;
  if (limitOf(ctx.localPort) > 100) return SK_DROP;
  return ctx.assign(sk) === 0 ? SK_DROP : SK_DROP;
}
`;

function build(source: string, dump = false) {
  const r = compile({ fileName: "non-null.ts", source }, dump ? { dump: ["ir"] } : {});
  if (!r.object) throw new Error(formatDiagnostics(r.diagnostics, new Map([["non-null.ts", source]])));
  return r;
}

const CTX = { family: "inet", protocol: "tcp", localIp: "192.0.2.1", localPort: 7007, remoteIp: "127.0.0.2", remotePort: 40000 } as const;

describe("non-null assertions", () => {
  it("check a constant-key ARRAY lookup for NULL right after the call", () => {
    const r = build(ARRAY);
    const asm = disassembleEmitted(r.insns!.get("count")!).map((l) => l.split("\t")[1]);
    const call = asm.indexOf("call 0x1");
    expect(asm[call + 1]).toMatch(/^if r0 == 0x0 goto /);
  });

  it("a 6.14 build drops the test for index 0: that verifier knows the lookup cannot fail", () => {
    const source = ARRAY.replace("counters.lookup(2)!", "counters.lookup(0)!");
    const after = (target: string) => {
      const r = compile({ fileName: "non-null.ts", source }, { target });
      const asm = disassembleEmitted(r.insns!.get("count")!).map((l) => l.split("\t")[1]);
      return asm[asm.indexOf("call 0x1") + 1];
    };
    expect(after("6.13")).toMatch(/^if r0 == 0x0 goto /);
    expect(after("6.14")).toMatch(/^r\d = \*\(u32 \*\)\(r0 \+ 0x0\)$/);
  });

  it("end the whole program from inside a local function (ret.abort, kept by the inliner)", () => {
    const r = build(HASH, true);
    expect(r.dumps.ir).toMatch(/fn limitOf[\s\S]*ret\.abort 1/);
  });

  for (const tier of ["interp", "jit"] as const) {
    it(`run in the VM (${tier}): a missing key returns SK_PASS, a present one continues`, () => {
      const vm = VmObject.fromBytes(build(HASH).object!, { seed: 1 });
      expect(vm.run("gate", CTX, { tier }).verdict).toBe("SK_PASS");
      vm.map("limits").set(7007, 5);
      expect(vm.run("gate", CTX, { tier }).verdict).toBe("SK_DROP");
      const counters = VmObject.fromBytes(build(ARRAY).object!, { seed: 1 });
      counters.map("counters").set(2, { hits: 0, limit: 1 });
      expect([1, 2, 3].map(() => counters.run("count", CTX, { tier }).verdict)).toEqual(["SK_PASS", "SK_DROP", "SK_DROP"]);
    });

    it(`run in the VM (${tier}): a failed assertion in a local function releases the caller's socket`, () => {
      const vm = VmObject.fromBytes(build(HELD).object!, { seed: 1 });
      vm.map("sockets").set(0, new Socket({ name: "A", family: "inet", protocol: "tcp", ip: "127.0.0.1", port: 1 }));
      const r = vm.run("held", CTX, { tier });
      expect([r.verdict, r.leakedRefs]).toEqual(["SK_PASS", []]);
      vm.map("limits").set(7007, 5);
      expect(vm.run("held", CTX, { tier }).verdict).toBe("SK_DROP");
    });
  }
});

describeKernel("non-null assertions on the kernel", () => {
  const loaded: LoadedObject[] = [];
  afterAll(() => loaded.forEach((o) => o.close()));

  it("accept the release of a caller's socket before a failed assertion's exit (else: unreleased reference)", () => {
    const obj = openKernel().load(build(HELD).object!);
    loaded.push(obj);
    expect(obj.program("held").testRun(CTX).verdict).toBe("SK_DROP"); // empty SOCKMAP
  });

  it("load, and a failed assertion returns SK_PASS", () => {
    const kernel = openKernel();
    const gate = kernel.load(build(HASH).object!);
    loaded.push(gate);
    expect(gate.program("gate").testRun(CTX).verdict).toBe("SK_PASS");
    gate.map("limits").update(7007, 5);
    expect(gate.program("gate").testRun(CTX).verdict).toBe("SK_DROP");
    const count = kernel.load(build(ARRAY).object!);
    loaded.push(count);
    const value = new Uint8Array(8);
    new DataView(value.buffer).setUint32(4, 1, true);
    count.map("counters").update(2, value);
    expect([1, 2, 3].map(() => count.program("count").testRun(CTX).verdict)).toEqual(["SK_PASS", "SK_DROP", "SK_DROP"]);
  });
});
