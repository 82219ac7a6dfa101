/**
 * Runs one TypeScript handler three ways with the same maps — the VM's interpreter, the VM's JIT, and the kernel
 * (BPF_PROG_TEST_RUN) — and reports each outcome in the same shape, so a test states the TypeScript meaning once and
 * checks it on every tier. Socket maps are filled with two TCP listeners named "A" and "B": simulated sockets in the
 * VM, real Node servers in the kernel (told apart by their cookies).
 */
import { once } from "node:events";
import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, expect, test } from "vitest";
import { compile, formatDiagnostics, type CompileOptions } from "../../compiler/index.ts";
import { loadObject, Netns, type Socket } from "../../runtime/index.ts";
import { openKernel } from "../../runtime/kernel/open.ts";

/** Entries to put in maps before a run: `[key, value]`; a socket map's value is "A" or "B". */
export type Fill = Record<string, Array<[unknown, unknown]>>;

/** What one tier did: the verdict, the socket it selected, and the `out` ArrayMap<u64> (when the file has one). */
export interface Outcome {
  verdict: "SK_PASS" | "SK_DROP";
  selected: "A" | "B" | null;
  out: (bigint | null)[];
}

/** The lookup every run uses unless a test gives another: TCP 127.0.0.2:40000 → 192.0.2.1:7007. */
export const TCP4 = { family: "inet", protocol: "tcp", localIp: "192.0.2.1", localPort: 7007, remoteIp: "127.0.0.2", remotePort: 40000 } as const;

type Ctx = { family: "inet" | "inet6"; protocol: "tcp" | "udp"; localIp: string; localPort: number; remoteIp: string; remotePort: number };

/** A compiled handler file, ready to run on the three tiers. */
export class Tiers {
  readonly object: Uint8Array;
  /** Instruction count of each program. */
  readonly insns: Map<string, number>;
  private servers = new Map<"A" | "B", Server>();

  constructor(readonly source: string, readonly fileName = "tiers.ts", opts: CompileOptions = {}) {
    const r = compile({ fileName, source }, opts);
    if (r.diagnostics.length || !r.object) throw new Error(formatDiagnostics(r.diagnostics, new Map([[fileName, source]])));
    this.object = r.object;
    this.insns = new Map(r.programs.map((p) => [p.name, p.insnCount]));
  }

  /** Starts the two listeners the kernel runs use. */
  async start(): Promise<this> {
    for (const name of ["A", "B"] as const) {
      const s = createServer().listen(0, "127.0.0.1");
      await once(s, "listening");
      this.servers.set(name, s);
    }
    return this;
  }

  /** Closes the listeners. */
  stop(): void {
    for (const s of this.servers.values()) s.close();
  }

  /** Runs `program` on a fresh load of the object in each tier, with `fill` applied first. */
  run(program: string, fill: Fill = {}, ctx: Ctx = TCP4, outSize = 4): { interp: Outcome; jit: Outcome; kernel: Outcome } {
    return { interp: this.vm(program, fill, ctx, outSize, "interp"), jit: this.vm(program, fill, ctx, outSize, "jit"), kernel: this.kernel(program, fill, ctx, outSize) };
  }

  /** Runs on every tier and expects each to give `want`. */
  expect(program: string, fill: Fill, want: Partial<Outcome>, ctx: Ctx = TCP4): void {
    const r = this.run(program, fill, ctx, want.out?.length ?? 0);
    for (const tier of ["interp", "jit", "kernel"] as const) expect(r[tier], `${program} on ${tier}`).toMatchObject(want);
  }

  private vm(program: string, fill: Fill, ctx: Ctx, outSize: number, tier: "interp" | "jit"): Outcome {
    const vm = loadObject(this.object);
    const ns = new Netns();
    const socks = new Map<string, Socket>();
    for (const name of ["A", "B"]) {
      socks.set(name, ns.socket({ name, family: "inet", protocol: "tcp", ip: "127.0.0.1", port: name === "A" ? 1001 : 1002 }));
    }
    for (const [map, entries] of Object.entries(fill)) {
      for (const [k, v] of entries) vm.map(map).set(k, typeof v === "string" ? socks.get(v)! : v);
    }
    const r = vm.run(program, ctx, { tier });
    expect(r.leakedRefs, `${program} on ${tier} leaks no socket reference`).toEqual([]);
    const out = Array.from({ length: outSize }, (_, i) => {
      const v = vm.map("out").get(i);
      return v === null ? null : BigInt(v as bigint);
    });
    return { verdict: r.verdict, selected: (r.selected?.name ?? null) as Outcome["selected"], out };
  }

  private kernel(program: string, fill: Fill, ctx: Ctx, outSize: number): Outcome {
    const k = openKernel();
    const obj = k.load(this.object);
    try {
      const cookies = new Map<bigint, "A" | "B">();
      for (const [name, s] of this.servers) cookies.set(k.socketCookie(s), name);
      for (const [map, entries] of Object.entries(fill)) {
        for (const [key, v] of entries) {
          if (typeof v === "string") obj.map(map).setSocket(key as number, this.servers.get(v as "A" | "B")!);
          else obj.map(map).update(key as number, v as number);
        }
      }
      const r = obj.program(program).testRun(ctx);
      const out = Array.from({ length: outSize }, (_, i) => obj.map("out").lookupInt(i));
      return { verdict: r.verdict, selected: r.cookie === 0n || r.verdict === "SK_DROP" ? null : (cookies.get(r.cookie) ?? null), out };
    } finally {
      obj.close();
    }
  }
}

/** A construct written two ways in one file: programs `before` (the old spelling) and `after` (the new form). */
export interface FormPair {
  construct: string;
}

/**
 * One test per pair: `after` gives what `before` gives (verdict, selection, `out`) for every fill and lookup, on the
 * interpreter, the JIT and the kernel, comparing the first `outSize` slots of `out`; with `neverLonger` the new form may not take more
 * instructions. Call inside a (kernel) describe; prints the before/after instruction counts as a table at the end.
 */
export function testFormPairs<F extends FormPair>(pairs: readonly F[], source: (f: F) => string, fileName: string, fills: readonly Fill[], ctxs: readonly Ctx[], outSize: number, neverLonger: boolean): void {
  const rows: string[] = [];
  const compiled = pairs.map((f) => ({ f, t: new Tiers(source(f), fileName) }));
  beforeAll(async () => {
    for (const c of compiled) await c.t.start();
  });
  afterAll(() => {
    for (const c of compiled) c.t.stop();
    console.log(["| construct | before (insns) | after (insns) |", "| --- | --- | --- |", ...rows].join("\n"));
  });
  for (const { f, t } of compiled) {
    test(f.construct, () => {
      for (const fill of fills) {
        for (const ctx of ctxs) {
          const before = t.run("before", fill, ctx, outSize);
          const after = t.run("after", fill, ctx, outSize);
          expect(after, `${JSON.stringify(fill)} ${ctx.protocol}:${ctx.localPort}`).toEqual(before);
          expect(after.jit).toEqual(after.interp);
          expect(after.kernel).toEqual(after.interp);
        }
      }
      rows.push(`| ${f.construct} | ${t.insns.get("before")} | ${t.insns.get("after")} |`);
      if (neverLonger) expect(t.insns.get("after")!).toBeLessThanOrEqual(t.insns.get("before")!);
    });
  }
}
