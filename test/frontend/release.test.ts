/**
 * Socket references are released on every exit path, whatever shape the code has — checked twice: on the IR (the
 * pass puts `sk_release` exactly where a reference may be live) and on the kernel (the verifier rejects any leak or
 * double release, and test_run shows the program still selects the right socket).
 */
import { once } from "node:events";
import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { compile, formatDiagnostics } from "../../compiler/index.ts";
import { Helper } from "../../compiler/asm/helpers.ts";
import type { Function } from "../../compiler/ir/ir.ts";
import { openKernel } from "../../runtime/kernel/open.ts";
import { describeKernel } from "../support/kernel.ts";

const HEAD = `import { type SkLookup, type Verdict, SK_PASS, SK_DROP, SockMap, ASSIGN_REPLACE, type u32 } from "tsbpf";
export const sockets = new SockMap({ maxEntries: 4 });
`;

/** Programs exercising different reference shapes; each returns SK_PASS after selecting sockets[want] (or nothing). */
const PROGRAMS: Record<string, string> = {
  // The reference is live on both the assign-ok and assign-failed paths.
  simple: `export function simple(ctx: SkLookup): Verdict {
  const sk = sockets.lookup(0);
  if (sk === null) return SK_PASS;
  return ctx.assign(sk) === 0 ? SK_PASS : SK_DROP;
}`,
  // Not null-checked on every path: where the port differs the reference is still "maybe" → a guarded release.
  conditional: `export function conditional(ctx: SkLookup): Verdict {
  const sk = sockets.lookup(1);
  if (ctx.localPort === 7007 && sk !== null) ctx.assign(sk);
  return SK_PASS;
}`,
  // Several references in an unrolled loop; the first one that assigns wins, all are released.
  loop: `export function loop(ctx: SkLookup): Verdict {
  for (let i = 0; i < 4; i++) {
    const sk = sockets.lookup(i);
    if (sk !== null && ctx.assign(sk, ASSIGN_REPLACE) === 0) return SK_PASS;
  }
  return SK_PASS;
}`,
  // Never null-checked explicitly in a branch: a truthiness test in a helper-free expression.
  truthy: `export function truthy(ctx: SkLookup): Verdict {
  const a = sockets.lookup(2);
  const b = sockets.lookup(3);
  if (a && b) {
    ctx.assign(b);
  }
  return SK_PASS;
}`,
  // ctx.sk is not a reference: no release for it.
  ctxsk: `export function ctxsk(ctx: SkLookup): Verdict {
  const cur = ctx.sk;
  if (cur !== null && cur.srcPort === 1) return SK_DROP;
  return SK_PASS;
}`,
};

function build(name: string) {
  const source = HEAD + PROGRAMS[name];
  const r = compile({ fileName: `${name}.ts`, source });
  if (r.diagnostics.length) throw new Error(formatDiagnostics(r.diagnostics, new Map([[`${name}.ts`, source]])));
  return r;
}

const releases = (fn: Function) => fn.blocks.flatMap((b) => b.insts).filter((i) => i.op === "call" && i.helper === Helper.sk_release).length;

describe("socket-release pass (IR)", () => {
  test("simple: one release, right after the last use (the assign), none on the null path", () => {
    const fn = build("simple").ir!.functions[0]!;
    expect(releases(fn)).toBe(1);
    const block = fn.blocks.find((b) => b.insts.some((i) => i.op === "call" && i.helper === Helper.sk_release))!;
    const calls = block.insts.filter((i) => i.op === "call").map((i) => (i as { helper: number }).helper);
    expect(calls).toEqual([Helper.sk_assign, Helper.sk_release]);
    expect(block.term.op).toBe("cbr"); // the verdict test comes after the release
  });
  test("conditional: a reference not null-checked on some path is released behind a null check", () => {
    const fn = build("conditional").ir!.functions[0]!;
    const guard = fn.blocks.find((b) => b.insts.length === 1 && b.insts[0]!.op === "call" && b.insts[0]!.helper === Helper.sk_release)!;
    expect(guard).toBeDefined();
    const ref = (guard.insts[0] as { args: { id: number }[] }).args[0]!.id;
    expect(fn.blocks.some((b) => b.term.op === "cbr" && b.term.cmp === "ne" && b.term.then === guard.id &&
      b.term.a.kind === "vreg" && b.term.a.id === ref && b.term.b.kind === "imm" && b.term.b.value === 0n)).toBe(true);
  });
  test("a path that released already cannot release again at a later guarded release (the vreg is zeroed)", () => {
    const fn = build("truthy").ir!.functions[0]!;
    const zeroed = fn.blocks.flatMap((b) => b.insts).filter((i) => i.op === "mov" && i.src.kind === "imm" && i.src.value === 0n);
    expect(zeroed.length).toBeGreaterThan(0);
  });
  test("ctx.sk is never released", () => {
    expect(releases(build("ctxsk").ir!.functions[0]!)).toBe(0);
  });
});

describeKernel("socket-release pass: the kernel verifier accepts every shape, and the programs still work", () => {
  let server: Server;
  let server2: Server;
  beforeAll(async () => {
    server = createServer().listen(0, "127.0.0.1");
    server2 = createServer().listen(0, "127.0.0.1");
    await Promise.all([once(server, "listening"), once(server2, "listening")]);
  });
  afterAll(() => {
    server.close();
    server2.close();
  });
  const tcp = (localPort: number) => ({ family: "inet", protocol: "tcp", localIp: "127.0.0.1", localPort, remoteIp: "127.0.0.2", remotePort: 4000 }) as const;

  for (const name of Object.keys(PROGRAMS)) {
    test(name, () => {
      const obj = openKernel().load(build(name).object!);
      try {
        const p = obj.program(name);
        const m = obj.map("sockets");
        expect(p.testRun(tcp(7007))).toMatchObject({ verdict: "SK_PASS", cookie: 0n });
        m.setSocket(1, server);
        m.setSocket(3, server2);
        const k = openKernel();
        const expected: Record<string, bigint> = {
          simple: 0n, conditional: k.socketCookie(server), loop: k.socketCookie(server), truthy: 0n, ctxsk: 0n,
        };
        expect(p.testRun(tcp(7007)).cookie).toBe(expected[name]);
        m.setSocket(2, server);
        if (name === "truthy") expect(p.testRun(tcp(7007)).cookie).toBe(k.socketCookie(server2));
        m.setSocket(0, server2);
        if (name === "simple") expect(p.testRun(tcp(7007))).toMatchObject({ verdict: "SK_PASS", cookie: k.socketCookie(server2) });
        if (name === "loop") expect(p.testRun(tcp(7007)).cookie).toBe(k.socketCookie(server2));
      } finally {
        obj.close();
      }
    });
  }
});
