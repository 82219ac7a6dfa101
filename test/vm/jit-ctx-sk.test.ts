/**
 * ctx->sk on the JIT tier: the 8-byte load at offset 0 through an unmodified ctx pointer is read inline (the current
 * selection or NULL); other ctx pointers keep Machine.ld. Both tiers must agree, with and without a selection.
 */
import { describe, expect, test } from "vitest";
import { AluOp, JmpOp, Size, alu64, exit, jmp64, ldx, mov64, reg, withLabel } from "../../compiler/asm/index.ts";
import { jitSource } from "../../runtime/vm/jit.ts";
import { Socket } from "../../runtime/net/socket.ts";
import { TCP4, vmOf } from "./harness.ts";

/** r0 = ctx->sk ? sk->protocol (bpf_sock offset 12) + 1000 : 7. */
const prog = [
  ldx(Size.DW, 2, 1, 0),
  jmp64(JmpOp.JEQ, 2, 0, "none"),
  ldx(Size.W, 0, 2, 12),
  alu64(AluOp.ADD, 0, 1000),
  exit(),
  withLabel(mov64(0, 7), "none"),
  exit(),
];

describe("JIT ctx->sk", () => {
  const p = vmOf(prog).program("prog");
  test("the inline path is generated", () => {
    expect(jitSource(p.prepared)).toContain("M.selected");
  });

  test("NULL without a selection, the socket's bpf_sock with one, on both tiers", () => {
    const sk = new Socket({ family: "inet", protocol: "tcp", port: 7007 });
    for (const selected of [null, sk]) {
      const [i, j] = (["interp", "jit"] as const).map((tier) => ({ r0: p.exec(TCP4, { tier, selected }), n: p.object.machine.n }));
      expect(j).toEqual(i);
      // bpf_sock.protocol is IPPROTO_TCP (6).
      expect(i!.r0).toBe(selected ? 1006n : 7n);
    }
  });

  test("a ctx pointer plus an offset keeps the checked load (same field, same result), and bad offsets fault", () => {
    // r3 = ctx + 4, load at -4: Machine.ld resolves it to the sk load (NULL here); at -2 it is an illegal access.
    const q = vmOf([mov64(3, reg(1)), alu64(AluOp.ADD, 3, 4), ldx(Size.DW, 0, 3, -4), exit()]).program("prog");
    const bad = vmOf([mov64(3, reg(1)), alu64(AluOp.ADD, 3, 4), ldx(Size.DW, 0, 3, -2), exit()]).program("prog");
    const run = (tier: "interp" | "jit") => {
      try {
        return q.exec(TCP4, { tier });
      } catch (e) {
        return (e as Error).message;
      }
    };
    expect(run("jit")).toBe(0n);
    expect(run("interp")).toBe(0n);
    const runBad = (tier: "interp" | "jit") => {
      try {
        return bad.exec(TCP4, { tier });
      } catch (e) {
        return (e as Error).message;
      }
    };
    expect(runBad("jit")).toEqual(runBad("interp"));
    expect(String(runBad("jit"))).toMatch(/^pc 2 .*invalid bpf_context access off=2 size=8/);
  });
});
