/**
 * BPF-to-BPF calls (ir/outline.ts): a large integer helper called from several places becomes one `.text`
 * subprogram instead of one inlined copy per call. The called build must mean what the inlined build means: same
 * verdicts and values on the VM's interpreter, its JIT and the kernel (BPF_PROG_TEST_RUN), and load with line info.
 * Everything outside the rule (called once, small, pointer parameters) stays inlined.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isPseudoCall } from "../../compiler/asm/index.ts";
import { formatObject } from "../../compiler/cli/objdump.ts";
import { readObject } from "../../compiler/elf/index.ts";
import { compile, formatDiagnostics, type CompileOptions } from "../../compiler/index.ts";
import { OUTLINE_MIN_IR_SIZE } from "../../compiler/ir/outline.ts";
import { describeKernel } from "../support/kernel.ts";
import { type Outcome, TCP4, Tiers } from "../frontend/tiers.ts";

const FILE = "calls.ts";

// `mix` is about 40 IR instructions; it is called from three places.
const SOURCE = `import { type SkLookup, type Verdict, SK_PASS, SK_DROP, ArrayMap, type u32, type u64 } from "tsbpf";
export const out = new ArrayMap<u64>({ maxEntries: 4 });

/** A 32-bit integer hash (xorshift-multiply rounds). */
function mix(a: u32, b: u32): u32 {
  let h: u32 = a ^ 0x9e3779b9;
  h = h ^ (b << 7);
  h = (h ^ (h >>> 16)) * 0x85ebca6b;
  h = (h ^ (h >>> 13)) * 0xc2b2ae35;
  h = h ^ (h >>> 16);
  h = h + (b ^ (b >>> 3));
  h = (h ^ (h >>> 15)) * 0x2c1b3c6d;
  h = (h ^ (h >>> 12)) * 0x297a2d39;
  h = h ^ (h >>> 15);
  if (h % 7 === 3) h = h + a;
  return h;
}

export function spread(ctx: SkLookup): Verdict {
  const x = mix(ctx.localIp4, ctx.localPort);
  const y = mix(ctx.remoteIp4, ctx.remotePort);
  const z = mix(x, y);
  out.update(0, BigInt(x));
  out.update(1, BigInt(y));
  out.update(2, BigInt(z));
  return z % 2 === 0 ? SK_PASS : SK_DROP;
}
`;

/** `mix` with u32 wrapping arithmetic, in JS: what the handler means. */
function mix(a: number, b: number): number {
  let h = (a ^ 0x9e3779b9) >>> 0;
  h = (h ^ (b << 7)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  h = (h + ((b ^ (b >>> 3)) >>> 0)) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
  h = Math.imul(h ^ (h >>> 12), 0x297a2d39) >>> 0;
  h = (h ^ (h >>> 15)) >>> 0;
  if (h % 7 === 3) h = (h + a) >>> 0;
  return h;
}

const ip4 = (s: string) => s.split(".").reduce((n, o) => n * 256 + Number(o), 0);

function build(source: string, opts: CompileOptions = {}) {
  const r = compile({ fileName: FILE, source }, opts);
  if (!r.object) throw new Error(formatDiagnostics(r.diagnostics, new Map([[FILE, source]])));
  return r;
}

const pseudoCalls = (r: ReturnType<typeof build>, name: string) => r.insns!.get(name)!.filter(isPseudoCall).length;

describe("BPF-to-BPF calls for large local functions called from several places", () => {
  it("compiles mix, called from 3 places, to one subprogram called 3 times (golden objdump listing)", async () => {
    const r = build(SOURCE);
    expect(r.subprograms?.map((s) => s.name)).toEqual(["mix"]);
    expect(pseudoCalls(r, "spread")).toBe(3);
    const obj = readObject(r.object!);
    // libbpf's view: the program followed by the subprogram, with a func_info record for each and line info in both.
    const prog = obj.programs.find((p) => p.name === "spread")!;
    expect(prog.funcInfo?.length).toBe(2);
    await expect(formatObject(obj, "calls.o")).toMatchFileSnapshot("./golden/bpf_calls.txt");
  });

  it("is shorter than the inlined build (instruction counts: program + subprogram vs program)", () => {
    const called = build(SOURCE);
    const inlined = build(SOURCE, { outline: "never" });
    expect(inlined.subprograms).toBeUndefined();
    expect(pseudoCalls(inlined, "spread")).toBe(0);
    const calledTotal = called.programs[0]!.insnCount + called.subprograms![0]!.insnCount;
    const inlinedTotal = inlined.programs[0]!.insnCount;
    // Three copies of mix's body against one plus three call sequences.
    expect(calledTotal).toBeLessThan(inlinedTotal - called.subprograms![0]!.insnCount);
    console.log(`spread: inlined ${inlinedTotal} instructions; called ${called.programs[0]!.insnCount} + mix ${called.subprograms![0]!.insnCount} = ${calledTotal}`);
  });

  const wrap = (helper: string, call: string) => `import { type SkLookup, type Verdict, SK_PASS, SK_DROP, type u32 } from "tsbpf";
${helper}
export function p(ctx: SkLookup): Verdict {
  return ${call} ? SK_PASS : SK_DROP;
}
`;
  const big = (params: string, use: string) => `function f(${params}): u32 {
  let h: u32 = ${use};
  ${Array.from({ length: 12 }, (_, i) => `h = (h ^ (h >>> ${i + 3})) * ${0x10001 + 2 * i};`).join("\n  ")}
  return h;
}`;

  it.each([
    ["called once", wrap(big("a: u32", "a"), "f(ctx.localPort) === 1")],
    ["small", wrap("function f(a: u32): u32 { return (a ^ 7) * 3; }", "f(ctx.localPort) === f(ctx.remotePort)")],
    ["with a struct parameter", wrap(`interface K { a: u32 }\n${big("k: K", "k.a")}`, "f({ a: ctx.localPort }) === f({ a: ctx.remotePort })")],
    ["reading the context", wrap(big("c: SkLookup", "c.localPort"), "f(ctx) === f(ctx) + 1")],
  ])("keeps a function %s inlined", (_what, source) => {
    const r = build(source);
    expect(r.subprograms).toBeUndefined();
    expect(pseudoCalls(r, "p")).toBe(0);
  });

  it(`outlines the same large function (>= ${OUTLINE_MIN_IR_SIZE} IR instructions) once it is called twice`, () => {
    const r = build(wrap(big("a: u32", "a"), "f(ctx.localPort) === f(ctx.remotePort)"));
    expect(r.subprograms?.map((s) => s.name)).toEqual(["f"]);
    expect(pseudoCalls(r, "p")).toBe(2);
  });
});

// `outer` is called from a loop that stays a loop and once after it; it calls `inner` twice: a call from .text to .text.
const NESTED_SOURCE = `import { type SkLookup, type Verdict, SK_PASS, SK_DROP, ArrayMap, type u32, type u64 } from "tsbpf";
export const out = new ArrayMap<u64>({ maxEntries: 4 });
${["inner", "outer"].map((name) => `function ${name}(a: u32, b: u32): u32 {
  let h: u32 = a ^ b;
  ${Array.from({ length: 12 }, (_, i) => `h = (h ^ (h >>> ${i + 3})) * ${0x10001 + 2 * i};`).join("\n  ")}
  return h${name === "outer" ? " + inner(a, h) + inner(b, h)" : ""};
}`).join("\n")}
export function walk(ctx: SkLookup): Verdict {
  let acc: u32 = 0;
  for (let i: u32 = 0; i < 100; i++) acc = acc + outer(ctx.localPort, i);
  out.update(0, BigInt(acc));
  out.update(1, BigInt(outer(acc, 1)));
  return acc % 3 === 0 ? SK_DROP : SK_PASS;
}
`;

describe("BPF-to-BPF calls between subprograms", () => {
  it("outlines a helper called in a loop, and the helper it calls twice", () => {
    const r = build(NESTED_SOURCE);
    expect(r.subprograms?.map((s) => s.name).sort()).toEqual(["inner", "outer"]);
    expect(pseudoCalls(r, "walk")).toBe(2);
    expect(pseudoCalls(r, "outer")).toBe(2);
    const inlined = build(NESTED_SOURCE, { outline: "never" });
    const sizes = r.subprograms!.map((s) => `${s.name} ${s.insnCount}`).join(" + ");
    console.log(`walk: inlined ${inlined.programs[0]!.insnCount} instructions; called ${r.programs[0]!.insnCount} + ${sizes}`);
  });
});

describeKernel("BPF-to-BPF calls: the called build behaves like the inlined one on every tier", () => {
  const builds = { called: new Tiers(SOURCE, FILE), inlined: new Tiers(SOURCE, FILE, { outline: "never" }) };
  beforeAll(async () => {
    await builds.called.start();
    await builds.inlined.start();
  });
  afterAll(() => Object.values(builds).forEach((b) => b.stop()));

  const ctxs = [
    TCP4,
    { ...TCP4, localPort: 80, remotePort: 51234 },
    { ...TCP4, localIp: "10.1.2.3", remoteIp: "198.51.100.77", localPort: 443, remotePort: 1 },
    { ...TCP4, protocol: "udp" as const, localIp: "255.255.255.255", remoteIp: "0.0.0.0", localPort: 65535, remotePort: 0 },
  ];
  it.each(ctxs.map((c) => [`${c.localIp}:${c.localPort} <- ${c.remoteIp}:${c.remotePort}`, c] as const))("%s", (_n, ctx) => {
    const x = mix(ip4(ctx.localIp), ctx.localPort);
    const y = mix(ip4(ctx.remoteIp), ctx.remotePort);
    const z = mix(x, y);
    const want: Partial<Outcome> = { verdict: z % 2 === 0 ? "SK_PASS" : "SK_DROP", out: [BigInt(x), BigInt(y), BigInt(z), 0n] };
    for (const b of Object.values(builds)) b.expect("spread", {}, want, ctx);
  });

  it("nested calls from a loop give the inlined build's verdicts and values", async () => {
    const called = await new Tiers(NESTED_SOURCE, FILE).start();
    const inlined = await new Tiers(NESTED_SOURCE, FILE, { outline: "never" }).start();
    try {
      for (const ctx of ctxs) {
        const want = inlined.run("walk", {}, ctx, 2);
        const got = called.run("walk", {}, ctx, 2);
        // The inlined build agrees with itself on every tier, and the called build with it.
        for (const tier of ["interp", "jit", "kernel"] as const) {
          expect(want[tier], `inlined on ${tier}`).toEqual(want.interp);
          expect(got[tier], `called on ${tier}`).toEqual(want.interp);
        }
      }
    } finally {
      called.stop();
      inlined.stop();
    }
  });

  it("bpftool prog loadall loads the object; the kernel keeps line info in the subprogram", () => {
    const dir = mkdtempSync(join(tmpdir(), "tsbpf-calls-"));
    const pin = `/sys/fs/bpf/tsbpf_calls_${process.pid}`;
    try {
      writeFileSync(join(dir, "calls.o"), builds.called.object);
      const load = spawnSync("bpftool", ["prog", "loadall", join(dir, "calls.o"), pin], { encoding: "utf8" });
      expect(load.stderr).toBe("");
      expect(load.status).toBe(0);
      const xlated = spawnSync("bpftool", ["prog", "dump", "xlated", "pinned", `${pin}/spread`, "linum"], { encoding: "utf8" }).stdout;
      // A line of mix's body, attributed to the TypeScript source, after the program's own lines.
      expect(xlated).toContain(`; h = (h ^ (h >>> 13)) * 0xc2b2ae35; [file:${FILE} line_num:9`);
      expect(xlated).toMatch(/call pc\+\d+/);
    } finally {
      spawnSync("rm", ["-rf", pin, dir]);
    }
  });
});
