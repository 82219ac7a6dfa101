/**
 * Socket-valued expressions that choose between sockets: `a.lookup(0) ?? b.lookup(0)`, `a.lookup(0) || b.lookup(0)`,
 * `a.lookup(0) && b.lookup(0)`, `udp ? u.lookup(0) : t.lookup(0)`, and `let` socket variables (`let sk = a.lookup(0); if (sk === null) sk = b.lookup(0)`). Every lookup
 * of such a choice writes one register, so the release pass (compiler/ir/release.ts) sees each reference where it
 * lives and releases it exactly once on every path.
 */
import { ts } from "@ts-morph/common";
import type { VReg } from "../ir/ir.ts";
import { imm, vreg } from "../ir/ir.ts";
import { CallLowerer } from "./lower-call.ts";
import { stdlibTypeName } from "./types.ts";
import { describe, type V } from "./values.ts";

const K = ts.SyntaxKind;

/** Socket choices and socket variables; {@link ExprLowerer} adds the rest of expression lowering. */
export abstract class SocketLowerer extends CallLowerer {
  /** True when TypeScript types `e` as a socket (`Sock` or `Sock | null`). */
  isSocketExpr(e: ts.Expression): boolean {
    const t = this.fx.checker.getNonNullableType(this.fx.checker.getTypeAtLocation(e));
    return stdlibTypeName(t) === "Sock";
  }

  /** `e` without parentheses, `!`, `as` and `satisfies` (they do not change a socket). */
  private bare(e: ts.Expression): ts.Expression {
    while (ts.isParenthesizedExpression(e) || ts.isNonNullExpression(e) || ts.isAsExpression(e) || ts.isSatisfiesExpression(e)) e = e.expression;
    return e;
  }

  /** A `lookup` on a SockMap/SockHash: it takes a reference. */
  private isSockLookup(e: ts.Expression): boolean {
    if (!ts.isCallExpression(e) || !ts.isPropertyAccessExpression(e.expression) || e.expression.name.text !== "lookup") return false;
    const recv = this.bare(e.expression.expression);
    const map = ts.isIdentifier(recv) ? this.mod.maps.get(this.sym(recv)!) : undefined;
    return map?.kind === "sockmap" || map?.kind === "sockhash";
  }

  /**
   * The leaves of a socket choice: lookups (`refs`, which take a reference), `null`, and other sockets (`borrowed`:
   * `ctx.sk`, a parameter), which must not be released.
   */
  socketLeaves(e: ts.Expression, out: { refs: ts.Node[]; borrowed: ts.Node[] }): void {
    const x = this.bare(e);
    if (ts.isConditionalExpression(x)) return [x.whenTrue, x.whenFalse].forEach((y) => this.socketLeaves(y, out));
    if (ts.isBinaryExpression(x) && (x.operatorToken.kind === K.QuestionQuestionToken || x.operatorToken.kind === K.BarBarToken)) {
      return [x.left, x.right].forEach((y) => this.socketLeaves(y, out));
    }
    // `a && b` yields `a` only when it is null: `b` is the one socket it can hold.
    if (ts.isBinaryExpression(x) && x.operatorToken.kind === K.AmpersandAmpersandToken) return this.socketLeaves(x.right, out);
    if (x.kind === K.NullKeyword || (ts.isIdentifier(x) && x.text === "undefined")) return;
    if (this.isSockLookup(x)) return void out.refs.push(x);
    if (ts.isIdentifier(x)) {
      const bnd = this.scope.get(this.sym(x)!);
      if (bnd?.b === "sockvar" && bnd.refs) return void out.refs.push(x);
    }
    out.borrowed.push(x);
  }

  /** Whether a choice may hold both a reference and a borrowed socket (see {@link mixInto}). */
  isSocketMix(leaves: { refs: ts.Node[]; borrowed: ts.Node[] }): boolean {
    return leaves.refs.length > 0 && leaves.borrowed.length > 0;
  }

  /** A socket-valued `?:`, `??`, `||` or `&&`, evaluated into one register that the release pass tracks. */
  socketChoice(e: ts.Expression): V {
    const leaves = { refs: [] as ts.Node[], borrowed: [] as ts.Node[] };
    this.socketLeaves(e, leaves);
    const dst = this.b.vreg("sock_or_null");
    if (this.isSocketMix(leaves)) this.mixInto(e, dst, this.b.vreg("sock_or_null"));
    else this.sockInto(e, dst);
    return { k: "sock", v: dst };
  }

  /**
   * Evaluates a socket expression whose value may be a lookup result or a borrowed socket (`ctx.sk ?? m.lookup(0)`)
   * into two registers: `own` receives the reference of a lookup (0 for any other socket), which the release pass
   * follows and releases exactly once; `dst` receives the socket either way (a copy of `own` after a lookup, which
   * keeps the reference live while the copy is read). Writing `own` first releases the reference it held before.
   */
  mixInto(e: ts.Expression, dst: VReg, own: VReg): void {
    const x = this.bare(e);
    if (ts.isConditionalExpression(x)) {
      const t = this.b.newBlock(), f = this.b.newBlock(), join = this.b.newBlock();
      this.cond(x.condition, t, f);
      this.b.setBlock(t);
      this.mixInto(x.whenTrue, dst, own);
      this.b.terminate({ op: "br", target: join.id });
      this.b.setBlock(f);
      this.mixInto(x.whenFalse, dst, own);
      this.b.jumpTo(join);
      return;
    }
    const op = ts.isBinaryExpression(x) ? x.operatorToken.kind : undefined;
    if (ts.isBinaryExpression(x) && (op === K.QuestionQuestionToken || op === K.BarBarToken)) {
      this.mixInto(x.left, dst, own);
      const miss = this.b.newBlock(), join = this.b.newBlock();
      this.b.terminate({ op: "cbr", cmp: "eq", width: 64, a: vreg(dst), b: imm(0), then: miss.id, else: join.id });
      this.b.setBlock(miss);
      this.mixInto(x.right, dst, own);
      this.b.jumpTo(join);
      return;
    }
    if (ts.isBinaryExpression(x) && op === K.AmpersandAmpersandToken) {
      const rhs = this.b.newBlock(), nul = this.b.newBlock(), join = this.b.newBlock();
      this.cond(x.left, rhs, nul);
      this.b.setBlock(nul);
      this.b.emit({ op: "mov", dst: own, src: imm(0) });
      this.b.emit({ op: "mov", dst, src: imm(0) });
      this.b.terminate({ op: "br", target: join.id });
      this.b.setBlock(rhs);
      this.mixInto(x.right, dst, own);
      this.b.jumpTo(join);
      return;
    }
    if (this.isSockLookup(x)) {
      this.sockInto(x, own);
      this.b.emit({ op: "mov", dst, src: vreg(own) });
      return;
    }
    this.b.emit({ op: "mov", dst: own, src: imm(0) });
    const v = this.expr(x);
    if (v.k === "null") return void this.b.emit({ op: "mov", dst, src: imm(0) });
    if (v.k !== "sock") this.fail("Unsupported", x, `expected a socket, got ${describe(v)}`);
    this.b.emit({ op: "mov", dst, src: vreg(v.v) });
  }

  /**
   * Evaluates a socket expression into `dst`. Lookups call straight into `dst`, so the reference is always in the
   * register the release pass follows (never in a copy it cannot see); `?:`, `??` and `||` choose between such
   * expressions, and the right side of `??`/`||` runs only when the left is null, as in TypeScript.
   */
  sockInto(e: ts.Expression, dst: VReg): void {
    const x = this.bare(e);
    if (ts.isConditionalExpression(x)) {
      const t = this.b.newBlock(), f = this.b.newBlock(), join = this.b.newBlock();
      this.cond(x.condition, t, f);
      this.b.setBlock(t);
      this.sockInto(x.whenTrue, dst);
      this.b.terminate({ op: "br", target: join.id });
      this.b.setBlock(f);
      this.sockInto(x.whenFalse, dst);
      this.b.jumpTo(join);
      return;
    }
    if (ts.isBinaryExpression(x) && (x.operatorToken.kind === K.QuestionQuestionToken || x.operatorToken.kind === K.BarBarToken)) {
      this.sockInto(x.left, dst);
      const miss = this.b.newBlock(), join = this.b.newBlock();
      this.b.terminate({ op: "cbr", cmp: "eq", width: 64, a: vreg(dst), b: imm(0), then: miss.id, else: join.id });
      this.b.setBlock(miss);
      this.sockInto(x.right, dst);
      this.b.jumpTo(join);
      return;
    }
    if (ts.isBinaryExpression(x) && x.operatorToken.kind === K.AmpersandAmpersandToken) {
      // `a && b`: null when `a` is, else `b`. Only `a`'s truthiness is kept, so it is a condition (a lookup there
      // is released once tested), never a value of `dst`.
      const rhs = this.b.newBlock(), nul = this.b.newBlock(), join = this.b.newBlock();
      this.cond(x.left, rhs, nul);
      this.b.setBlock(nul);
      this.b.emit({ op: "mov", dst, src: imm(0) });
      this.b.terminate({ op: "br", target: join.id });
      this.b.setBlock(rhs);
      this.sockInto(x.right, dst);
      this.b.jumpTo(join);
      return;
    }
    if (this.isSockLookup(x)) this.sockDst = dst;
    const v = this.expr(x);
    this.sockDst = undefined;
    if (v.k === "sock" && v.v === dst) return;
    if (v.k === "null") return void this.b.emit({ op: "mov", dst, src: imm(0) });
    if (v.k !== "sock") this.fail("Unsupported", x, `expected a socket, got ${describe(v)}`);
    this.b.emit({ op: "mov", dst, src: vreg(v.v) });
  }

}
