/**
 * Expression lowering: TypeScript expressions → IR values, conditions → branches. Context fields become the loads
 * the kernel accepts (network-order fields stay raw and are compared against swapped constants), map methods become
 * helper calls with stack-built keys, and `&&`, `||`, `!`, `?:` become control flow.
 */
import { ts } from "@ts-morph/common";
import { CtxOff, SockOff } from "../abi/sk-lookup.ts";
import type { CmpOp, Inst, Value, VReg } from "../ir/ir.ts";
import { imm, vreg } from "../ir/ir.ts";
import type { Block } from "../ir/ir.ts";
import { mask4 } from "./address.ts";
import { PoisonedUse, type Binding } from "./lower-call.ts";
import { SocketLowerer } from "./lower-sock.ts";
import { wrap, type ConstVal } from "./module.ts";
import { I32, I64, U16, U32, U64, sizeOf, type IntTy, type Ty } from "./types.ts";
import { LowerError, compareInts, mixedSign, promote, bswapConst, constValue, describe, foldCmpConst, loadWord, type IntCompare, type Place, type V } from "./values.ts";

export { PoisonedUse, type Binding } from "./lower-call.ts";

type B = Block & { done: boolean };

/** Context fields: (offset, load size, DSL type, network order?). */
const CTX_FIELDS: Record<string, { off: number; size: 2 | 4; ty: IntTy; net?: 16 | 32 }> = {
  family: { off: CtxOff.family, size: 4, ty: U32 },
  protocol: { off: CtxOff.protocol, size: 4, ty: U32 },
  remoteIp4: { off: CtxOff.remote_ip4, size: 4, ty: U32, net: 32 },
  localIp4: { off: CtxOff.local_ip4, size: 4, ty: U32, net: 32 },
  remotePort: { off: CtxOff.remote_port, size: 2, ty: U16, net: 16 },
  localPort: { off: CtxOff.local_port, size: 4, ty: U16 },
  ingressIfindex: { off: CtxOff.ingress_ifindex, size: 4, ty: U32 },
};
const SOCK_FIELDS: Record<string, { off: number; ty: IntTy }> = {
  family: { off: SockOff.family, ty: U32 },
  type: { off: SockOff.type, ty: U32 },
  protocol: { off: SockOff.protocol, ty: U32 },
  state: { off: SockOff.state, ty: U32 },
  srcPort: { off: SockOff.src_port, ty: U16 },
  boundDevIf: { off: SockOff.bound_dev_if, ty: U32 },
  mark: { off: SockOff.mark, ty: U32 },
  priority: { off: SockOff.priority, ty: U32 },
};

const K = ts.SyntaxKind;
const CMP: Partial<Record<ts.SyntaxKind, [CmpOp, CmpOp]>> = {
  [K.EqualsEqualsEqualsToken]: ["eq", "eq"], [K.EqualsEqualsToken]: ["eq", "eq"],
  [K.ExclamationEqualsEqualsToken]: ["ne", "ne"], [K.ExclamationEqualsToken]: ["ne", "ne"],
  [K.LessThanToken]: ["ult", "slt"], [K.LessThanEqualsToken]: ["ule", "sle"],
  [K.GreaterThanToken]: ["ugt", "sgt"], [K.GreaterThanEqualsToken]: ["uge", "sge"],
};
/** Arithmetic operators (and their compound assignment forms). */
export const ARITH: Partial<Record<ts.SyntaxKind, string>> = {
  [K.PlusToken]: "+", [K.MinusToken]: "-", [K.AsteriskToken]: "*", [K.SlashToken]: "/", [K.PercentToken]: "%",
  [K.AmpersandToken]: "&", [K.BarToken]: "|", [K.CaretToken]: "^", [K.LessThanLessThanToken]: "<<",
  [K.GreaterThanGreaterThanToken]: ">>", [K.GreaterThanGreaterThanGreaterThanToken]: ">>>",
  [K.PlusEqualsToken]: "+", [K.MinusEqualsToken]: "-", [K.AsteriskEqualsToken]: "*", [K.SlashEqualsToken]: "/",
  [K.PercentEqualsToken]: "%", [K.AmpersandEqualsToken]: "&", [K.BarEqualsToken]: "|", [K.CaretEqualsToken]: "^",
  [K.LessThanLessThanEqualsToken]: "<<", [K.GreaterThanGreaterThanEqualsToken]: ">>", [K.GreaterThanGreaterThanGreaterThanEqualsToken]: ">>>",
};

/** Lowers expressions of one function. */
export class ExprLowerer extends SocketLowerer {
  /** The innermost node being lowered: where a diagnostic raised by an allocation (the stack limit) points. */
  at: ts.Node | undefined;

  expr(e: ts.Expression, hint?: IntTy): V {
    // Instructions carry the location of the expression they implement (restored after each operand).
    const saved = this.b.loc, savedAt = this.at;
    this.b.loc = this.fx.loc(e);
    this.at = e;
    try {
      return this.exprAt(e, hint);
    } finally {
      this.b.loc = saved;
      this.at = savedAt;
    }
  }

  private exprAt(e: ts.Expression, hint?: IntTy): V {
    const c = this.mod.evalConst(e, hint);
    if (c !== undefined && c.k !== "string" && !(ts.isIdentifier(e) && this.scope.has(this.sym(e)!))) return constValue(c);
    switch (e.kind) {
      case K.NonNullExpression:
        return this.assertNonNull(this.expr((e as ts.NonNullExpression).expression, hint));
      case K.ParenthesizedExpression:
      case K.AsExpression:
      case K.SatisfiesExpression:
      case K.TypeAssertionExpression: {
        const inner = (e as ts.ParenthesizedExpression).expression;
        if (ts.isAsExpression(e) && !(ts.isTypeReferenceNode(e.type) && e.type.getText(this.fx.sf) === "const")) {
          const t = this.mod.tryResolve(e.type);
          if (t?.kind === "int") return this.convert(this.expr(inner, t), t);
        }
        const x = this.expr(inner, hint);
        // `lookup(k) as V` asserts non-null as `!` does.
        return (ts.isAsExpression(e) || ts.isTypeAssertionExpression(e)) && !this.mayBeNull(e) ? this.assertNonNull(x) : x;
      }
      case K.Identifier: return this.ident(e as ts.Identifier);
      case K.NullKeyword: return { k: "null" };
      case K.PropertyAccessExpression: return this.property(e as ts.PropertyAccessExpression);
      case K.ElementAccessExpression: return this.element(e as ts.ElementAccessExpression);
      case K.CallExpression: return this.call(e as ts.CallExpression);
      case K.BinaryExpression: return this.binary(e as ts.BinaryExpression, hint);
      case K.PrefixUnaryExpression: return this.prefix(e as ts.PrefixUnaryExpression, hint);
      case K.PostfixUnaryExpression: return this.increment(e as ts.PostfixUnaryExpression, true);
      case K.ConditionalExpression: return this.conditional(e as ts.ConditionalExpression, hint);
      case K.ObjectLiteralExpression: this.fail("Unsupported", e, "an object literal is only allowed where a struct is expected (map keys and values, typed variables)");
    }
    this.fail("Unsupported", e, `${ts.SyntaxKind[e.kind]} is not supported here`);
  }

  private ident(id: ts.Identifier): V {
    const s = this.sym(id);
    const bnd = s && this.scope.get(s);
    if (bnd) return this.readBinding(bnd);
    const map = s && this.mod.maps.get(s);
    if (map) return { k: "map", map };
    if (id.text === "undefined") return { k: "null", undef: true };
    this.fail("Unsupported", id, `'${id.text}' cannot be used here`);
  }

  /** The current value of a binding. */
  private property(e: ts.PropertyAccessExpression): V {
    const name = e.name.text;
    const obj = this.expr(e.expression);
    if (e.questionDotToken) {
      const opt = this.optionalField(obj, name, e);
      if (opt) return opt;
    }
    return this.memberOf(obj, name, e.name, e);
  }

  /** Field `name` of a value (the context, a socket, a struct, a constant object), read now; `nameNode` for messages. */
  memberOf(obj: V, name: string, nameNode: ts.Node, whole: ts.Node): V {
    const e = { name: nameNode, expression: whole };
    if (obj.k === "ctx") {
      if (name === "sk") {
        const dst = this.b.vreg("sock_or_null");
        this.b.emit({ op: "ctx_load", dst, offset: CtxOff.sk, size: 8 });
        return { k: "sock", v: dst };
      }
      if (name === "remoteIp6" || name === "localIp6") {
        const base = name === "remoteIp6" ? CtxOff.remote_ip6 : CtxOff.local_ip6;
        // Four 4-byte loads: the kernel rejects 8-byte loads inside the address.
        return { k: "ip6", words: [0, 1, 2, 3].map((i) => {
          const dst = this.b.vreg();
          this.b.emit({ op: "ctx_load", dst, offset: base + 4 * i, size: 4 });
          return vreg(dst);
        }) };
      }
      const f = CTX_FIELDS[name];
      if (!f) this.fail("Unsupported", e.name, `the context has no field '${name}'`);
      const dst = this.b.vreg();
      this.b.emit({ op: "ctx_load", dst, offset: f.off, size: f.size });
      return f.net ? { k: "net", ty: f.ty, bits: f.net, raw: vreg(dst) } : { k: "int", ty: f.ty, v: vreg(dst) };
    }
    if (obj.k === "sock") {
      const f = SOCK_FIELDS[name];
      if (!f) this.fail("Unsupported", e.name, `sockets have no readable field '${name}'`);
      const dst = this.b.vreg();
      this.b.emit({ op: "load", dst, ptr: obj.v, offset: f.off, size: 4 });
      return { k: "int", ty: f.ty, v: vreg(dst) };
    }
    const place = this.placeOf(obj, whole);
    if (place?.ty.kind === "array" && name === "length") return { k: "int", ty: I32, v: imm(place.ty.length), lit: true };
    if (place) return this.readPlace(this.field(place, name, e.name));
    if (obj.k === "const" && obj.c.k === "tuple" && name === "length") return { k: "int", ty: I32, v: imm(obj.c.elems.length), lit: true };
    if (obj.k === "const" && obj.c.k === "object") {
      const f = obj.c.fields.get(name);
      if (!f) this.fail("Unsupported", e.name, `the constant object has no field '${name}'`);
      return constValue(f);
    }
    this.fail("Unsupported", whole, `property '${name}' of ${describe(obj)} is not supported`);
  }

  /**
   * `x?.f` on a value that may be null (a map value, a socket): a pointer to the field, null when `x` is; `??`,
   * conditions and comparisons test `x` before they load. Undefined when `x` cannot be null (plain `.f` then).
   */
  private optionalField(obj: V, name: string, e: ts.PropertyAccessExpression): V | undefined {
    if (obj.k === "null") return { k: "null" };
    if (obj.k === "sock") {
      const f = SOCK_FIELDS[name];
      if (!f) this.fail("Unsupported", e.name, `sockets have no readable field '${name}'`);
      return { k: "ptr", ty: U32, v: obj.v, off: f.off }; // every bpf_sock field is read with a 4-byte load
    }
    if (obj.k === "ptr" && obj.ty.kind === "struct") {
      const fp = this.field({ base: { ptr: obj.v }, offset: obj.off ?? 0, ty: obj.ty }, name, e.name);
      if (fp.ty.kind !== "int" && fp.ty.kind !== "bool") this.fail("Unsupported", e, `'?.' reaches integer and boolean fields only; test '${e.expression.getText(this.fx.sf)}' for null first to use its struct field '${name}'`);
      return { k: "ptr", ty: fp.ty, v: obj.v, off: fp.offset };
    }
    return undefined;
  }

  /** The struct place a value denotes (a local struct, or a map value pointer), if any. */
  private element(e: ts.ElementAccessExpression): V {
    const idx = this.expr(e.argumentExpression);
    if (idx.k !== "int" || idx.v.kind !== "imm") {
      // A table indexed by the counter of a loop that stayed a loop (long, or changing outer state on some paths).
      const table = this.mod.evalConst(e.expression);
      if (table?.k === "tuple") {
        this.fail("DynamicAccess", e, `'${e.getText(this.fx.sf)}': this loop is not unrolled, so its counter is not a constant here; iterate the table with \`for (const row of TABLE)\` (up to 64 rows) or keep it in an ArrayMap and use lookup(i)`);
      }
      this.fail("DynamicAccess", e, "dynamic property access is not supported (only constant indexes)");
    }
    const obj = this.expr(e.expression);
    if (e.questionDotToken) {
      const opt = this.optionalElement(obj, Number(idx.v.value), e);
      if (opt) return opt;
    }
    return this.elementAt(obj, Number(idx.v.value), e.argumentExpression, e);
  }

  /**
   * `x?.[i]` on an array that may be null (an array map value, an optional array parameter): a pointer to the
   * element, null when `x` is, like {@link optionalField}. A value that cannot be null is indexed as `x[i]`.
   */
  private optionalElement(obj: V, i: number, e: ts.ElementAccessExpression): V | undefined {
    if (obj.k === "null") return obj;
    if (obj.k !== "ptr" || obj.ty.kind !== "array") return undefined;
    if (i < 0 || i >= obj.ty.length) this.fail("IndexOutOfRange", e.argumentExpression, `index ${i} is out of range for an array of length ${obj.ty.length}`);
    const elem = obj.ty.elem;
    if (elem.kind !== "int" && elem.kind !== "bool") this.fail("Unsupported", e, `'?.[i]' reaches integer and boolean elements only; test '${e.expression.getText(this.fx.sf)}' for null first`);
    return { k: "ptr", ty: elem, v: obj.v, off: (obj.off ?? 0) + i * sizeOf(elem), ...(obj.undef ? { undef: true } : {}) };
  }

  /** Element `i` of a constant tuple or a struct array, read now (`indexNode`/`whole` for messages). */
  elementAt(obj: V, i: number, indexNode: ts.Node, whole: ts.Node): V {
    if (obj.k === "const" && obj.c.k === "tuple") {
      if (i < 0 || i >= obj.c.elems.length) this.fail("IndexOutOfRange", indexNode, `index ${i} is out of range for a tuple of length ${obj.c.elems.length}`);
      return constValue(obj.c.elems[i]!);
    }
    const place = this.placeOf(obj, whole);
    if (place && place.ty.kind === "array") {
      if (i < 0 || i >= place.ty.length) this.fail("IndexOutOfRange", indexNode, `index ${i} is out of range for an array of length ${place.ty.length}`);
      return this.readPlace({ base: place.base, offset: place.offset + i * sizeOf(place.ty.elem), ty: place.ty.elem });
    }
    this.fail("DynamicAccess", whole, `cannot index ${describe(obj)}`);
  }

  // ------------------------------------------------------------------------------------------------------------
  // Operators

  private binary(e: ts.BinaryExpression, hint?: IntTy): V {
    const op = e.operatorToken.kind;
    if (op === K.EqualsToken || (op >= K.FirstCompoundAssignment && op <= K.LastCompoundAssignment)) return this.assign(e);
    if ((op === K.AmpersandAmpersandToken || op === K.BarBarToken || op === K.QuestionQuestionToken) && this.isSocketExpr(e)) return this.socketChoice(e);
    if (op === K.AmpersandAmpersandToken || op === K.BarBarToken) {
      const t = this.fx.checker.getTypeAtLocation(e);
      if (!(t.flags & ts.TypeFlags.BooleanLike)) return this.logicalValue(e, hint);
    }
    if (CMP[op] || op === K.AmpersandAmpersandToken || op === K.BarBarToken) return this.condValue(e);
    if (op === K.QuestionQuestionToken) return this.coalesce(e, hint);
    const sym = ARITH[op];
    if (!sym) this.fail("Unsupported", e.operatorToken, `operator '${e.operatorToken.getText(this.fx.sf)}' is not supported`);
    const a = this.expr(e.left, hint);
    // The literal on the right takes the *promoted* type of the left (C: 7007 * 1000000 is int arithmetic, not u16).
    const c = this.expr(e.right, a.k === "int" && !a.lit ? promote(a.ty) : hint);
    return this.arith(sym, a, c, e);
  }

  /** `a op b` on integers with C's conversions. */
  arith(op: string, a: V, c: V, node: ts.Node): V & { k: "int" } {
    let x: V & { k: "int" }, y: V & { k: "int" };
    try {
      x = this.toInt(a);
      y = this.toInt(c);
    } catch (err) {
      if (err instanceof LowerError) this.fail("Unsupported", node, err.message);
      throw err;
    }
    const shift = op === "<<" || op === ">>" || op === ">>>";
    const ty = shift ? (x.lit && !y.lit ? I32 : x.ty.bits < 32 ? I32 : x.ty) : this.commonOf(x, y);
    const width = ty.bits === 64 ? 64 : 32;
    const av = this.convert(x, ty).v;
    let bv = shift ? this.convert(y, ty.bits === 64 ? U64 : U32).v : this.convert(y, ty).v;
    if (shift && bv.kind === "imm") bv = imm(bv.value & BigInt(width - 1)); // the verifier rejects shifts ≥ width
    // The verifier rejects a division by the constant 0; BPF's rule gives x/0 = 0 and x%0 = x, so fold it here.
    if ((op === "/" || op === "%") && bv.kind === "imm" && wrap(bv.value, ty) === 0n) {
      return op === "/" ? { k: "int", ty, v: imm(0) } : { k: "int", ty, v: av };
    }
    const kind = ({
      "+": "add", "-": "sub", "*": "mul", "/": ty.signed ? "sdiv" : "udiv", "%": ty.signed ? "smod" : "umod",
      "&": "and", "|": "or", "^": "xor", "<<": "shl", ">>": ty.signed ? "ashr" : "lshr", ">>>": "lshr",
    } as const)[op as "+"];
    return { k: "int", ty, v: this.bin(kind, width, av, bv, ty), ...(x.lit && y.lit ? { lit: true } : {}) };
  }

  private commonOf(x: V & { k: "int" }, y: V & { k: "int" }): IntTy {
    if (x.lit && !y.lit) return y.ty.bits < 32 ? I32 : y.ty;
    if (y.lit && !x.lit) return x.ty.bits < 32 ? I32 : x.ty;
    const a = x.ty.bits < 32 ? I32 : x.ty;
    const b = y.ty.bits < 32 ? I32 : y.ty;
    if (a.bits !== b.bits) return a.bits > b.bits ? a : b;
    return { kind: "int", bits: a.bits, signed: a.signed && b.signed };
  }

  private prefix(e: ts.PrefixUnaryExpression, hint?: IntTy): V {
    switch (e.operator) {
      case K.ExclamationToken: return this.condValue(e);
      case K.PlusPlusToken: case K.MinusMinusToken: return this.increment(e, false);
      case K.PlusToken: return this.toInt(this.expr(e.operand, hint));
      case K.MinusToken: {
        const x = this.toInt(this.expr(e.operand, hint));
        return this.arith("-", { k: "int", ty: x.ty, v: imm(0), lit: true }, x, e);
      }
      case K.TildeToken: {
        const x = this.toInt(this.expr(e.operand, hint));
        return this.arith("^", x, { k: "int", ty: x.ty, v: imm(-1), lit: true }, e);
      }
    }
    this.fail("Unsupported", e, "unsupported unary operator");
  }

  /** `x ?? d` for a nullable map value (sockets: {@link socketChoice}). */
  private coalesce(e: ts.BinaryExpression, hint?: IntTy): V {
    const p = this.expr(e.left, hint);
    // A value that cannot be null: TypeScript yields it and never evaluates the right side.
    if (p.k === "int" || p.k === "bool" || p.k === "net" || p.k === "ip6" || p.k === "place" || p.k === "ctx") return p;
    if (p.k === "null") return this.expr(e.right, hint);
    if (p.k === "ptr" && !p.off && this.mayBeNull(e)) {
      // `a.lookup(k) ?? b.lookup(k)`: still a map value or null; the right side only runs on a miss.
      const dst = this.b.vreg("map_value_or_null");
      const ty = this.pointerInto(dst, p, e.left, undefined);
      const miss = this.b.newBlock(), join = this.b.newBlock();
      this.b.terminate({ op: "cbr", cmp: "eq", width: 64, a: vreg(dst), b: imm(0), then: miss.id, else: join.id });
      this.b.setBlock(miss);
      this.pointerInto(dst, this.expr(e.right), e.right, ty);
      this.b.jumpTo(join);
      return { k: "ptr", ty: ty!, v: dst };
    }
    if (p.k !== "ptr" || (p.ty.kind !== "int" && p.ty.kind !== "bool")) this.fail("Unsupported", e, "'??' is supported on integer map values, optional fields and sockets");
    const ty = p.ty.kind === "int" ? p.ty : I32;
    const dst = this.b.vreg();
    const hit = this.b.newBlock(), miss = this.b.newBlock(), join = this.b.newBlock();
    this.b.terminate({ op: "cbr", cmp: "eq", width: 64, a: vreg(p.v), b: imm(0), then: miss.id, else: hit.id });
    this.b.setBlock(hit);
    this.b.emit({ op: "mov", dst, src: this.convert(p, ty).v });
    this.b.jumpTo(join);
    this.b.setBlock(miss);
    this.b.emit({ op: "mov", dst, src: this.convert(this.expr(e.right, ty), ty).v });
    this.b.terminate({ op: "br", target: join.id });
    this.b.setBlock(join);
    return { k: "int", ty, v: vreg(dst) };
  }

  /**
   * `a || b` / `a && b` whose value is not a boolean (TypeScript yields an operand, not true/false):
   * `counts.lookup(k) || 7` is the stored value when it is truthy (non-null and non-zero), else 7.
   */
  private logicalValue(e: ts.BinaryExpression, hint?: IntTy): V {
    const isOr = e.operatorToken.kind === K.BarBarToken;
    const left = this.expr(e.left, hint);
    const t = this.b.newBlock(), f = this.b.newBlock(), join = this.b.newBlock();
    let lv: V & { k: "int" };
    if (left.k === "ptr" && (left.ty.kind === "int" || left.ty.kind === "bool")) {
      if (!isOr && this.mayBeNull(e.left)) this.fail("Unsupported", e, "'&&' on a map value that may be null would yield null; write `v !== null && v !== 0 ? ... : ...`");
      if (this.mayBeNull(e.left)) {
        const hit = this.b.newBlock();
        this.b.terminate({ op: "cbr", cmp: "eq", width: 64, a: vreg(left.v), b: imm(0), then: f.id, else: hit.id });
        this.b.setBlock(hit);
      }
      lv = this.toInt(left);
    } else {
      lv = this.toIntOr(left, e.left);
    }
    // The left value, exact in 64 bits, so it stays right whatever common type the right operand brings.
    const dst = this.b.vreg();
    const leftFull: Value = this.full64(lv);
    this.truthy(lv, t, f, e.left);
    // The operand TypeScript yields: `||` keeps a truthy left, `&&` keeps a falsy one.
    const keep = isOr ? t : f, other = isOr ? f : t;
    this.b.setBlock(keep);
    this.b.emit({ op: "mov", dst, src: leftFull });
    this.b.terminate({ op: "br", target: join.id });
    this.b.setBlock(other);
    const r = this.expr(e.right, hint ?? (lv.lit ? undefined : promote(lv.ty)));
    const ri = this.toIntOr(r, e.right);
    const ty = this.commonOf(lv, ri);
    this.b.emit({ op: "mov", dst, src: this.convert(ri, ty).v });
    this.b.terminate({ op: "br", target: join.id });
    this.b.setBlock(join);
    return { k: "int", ty, v: vreg(dst) };
  }

  private toIntOr(x: V, node: ts.Node): V & { k: "int" } {
    try {
      return this.toInt(x);
    } catch (err) {
      if (err instanceof LowerError) this.fail("Unsupported", node, err.message);
      throw err;
    }
  }

  private conditional(e: ts.ConditionalExpression, hint?: IntTy): V {
    if (this.isSocketExpr(e)) return this.socketChoice(e);
    const t = this.b.newBlock(), f = this.b.newBlock(), join = this.b.newBlock();
    this.cond(e.condition, t, f);
    this.b.setBlock(t);
    const a = this.expr(e.whenTrue, hint);
    if ((a.k === "ptr" && !a.off) || a.k === "null") {
      // `cond ? m.lookup(a) : m.lookup(b)`: TypeScript yields a map value or null, not its contents.
      const dst = this.b.vreg("map_value_or_null");
      const c = this.pointerInto(dst, a, e.whenTrue, undefined);
      this.b.terminate({ op: "br", target: join.id });
      this.b.setBlock(f);
      const d = this.pointerInto(dst, this.expr(e.whenFalse), e.whenFalse, c);
      this.b.jumpTo(join);
      if (!d) return { k: "null" };
      return { k: "ptr", ty: d, v: dst };
    }
    const isBool = a.k === "bool";
    let ty: IntTy = isBool ? I32 : hint ?? (a.k === "int" && !a.lit ? a.ty : I32);
    const dst = this.b.vreg();
    const left = isBool ? undefined : this.toIntOr(a, e.whenTrue);
    const src = isBool ? (a as { v: Value }).v : this.convert(left!, ty).v;
    this.b.emit({ op: "mov", dst, src });
    const leftBlock = this.b.cur;
    const leftMov = leftBlock.insts[leftBlock.insts.length - 1]!; // the emitted copy (it carries the location)
    this.b.terminate({ op: "br", target: join.id });
    this.b.setBlock(f);
    const c = this.expr(e.whenFalse, hint ?? (a.k === "int" && !a.lit ? a.ty : undefined));
    if (!isBool && !hint && c.k !== "bool") {
      // The result holds either operand: a type wide enough for both (`cond ? 0 : ctx.localIp4` is a u32, not an
      // i32), and the left operand widened in its block if it was narrower.
      const right = this.toIntOr(c, e.whenFalse);
      let common = this.commonOf(left!, right);
      if (common.bits === 32 && !common.signed && (mixedSign(left!, right) || mixedSign(right, left!))) common = I64;
      if (common.bits === 64 && ty.bits < 64) {
        const wide = this.convertIn(leftBlock, leftMov, left!, common);
        (leftMov as { src: Value }).src = wide;
      }
      ty = common.bits > ty.bits || (common.bits === ty.bits && !common.signed) ? common : ty;
    }
    this.b.emit({ op: "mov", dst, src: isBool && c.k === "bool" ? c.v : this.convertOr(c, ty, e.whenFalse) });
    this.b.terminate({ op: "br", target: join.id });
    this.b.setBlock(join);
    return isBool ? { k: "bool", v: vreg(dst) } : { k: "int", ty, v: vreg(dst) };
  }

  /** The left operand of a `?:` converted to 64 bits, emitted in its own block just before the `mov` that uses it. */
  private convertIn(block: B, before: Inst, x: V & { k: "int" }, to: IntTy): Value {
    if (x.v.kind === "imm") return imm(wrap(x.v.value, to));
    const dst = this.b.vreg();
    const ext: Inst = { op: "ext", dst, src: x.v, bits: 32, signed: promote(x.ty).signed, ...(before.loc ? { loc: before.loc } : {}) };
    block.insts.splice(block.insts.indexOf(before), 0, ext);
    return vreg(dst);
  }

  /** Moves a map-value pointer (or null) into `dst`; both sides of a choice must point at the same type. */
  private pointerInto(dst: VReg, x: V, node: ts.Node, want: Ty | undefined): Ty | undefined {
    if (x.k === "null") return void this.b.emit({ op: "mov", dst, src: imm(0) }), want;
    if (x.k !== "ptr" || x.off || (want && JSON.stringify(want) !== JSON.stringify(x.ty))) {
      this.fail("Unsupported", node, `both sides must be lookups of the same value type (or null), got ${describe(x)}`);
    }
    this.b.emit({ op: "mov", dst, src: vreg(x.v) });
    return x.ty;
  }

  /** convert(), with a diagnostic at `node` for a non-integer. */
  /**
   * `x!` on a lookup result (a map value or socket pointer, or `ctx.sk`): an explicit NULL check. Kernels before the
   * verifier learnt that an ARRAY lookup with a constant in-range key cannot fail (see the kernel target table)
   * reject a dereference without one, even where the assertion cannot fail at run time. Should it ever fail, the
   * program ends there and returns SK_PASS, as a TypeError thrown by the handler would stop it: the kernel goes on
   * with its regular socket lookup (docs/LANGUAGE.md, "Non-null assertions").
   */
  assertNonNull(x: V): V {
    if (x.k !== "ptr" && x.k !== "sock") return x;
    const ok = this.b.newBlock(), fail = this.b.newBlock();
    this.b.terminate({ op: "cbr", cmp: "eq", width: 64, a: vreg(x.v), b: imm(0), then: fail.id, else: ok.id });
    this.b.setBlock(fail);
    this.b.terminate({ op: "ret", value: imm(1), ...(this.b.isProgram ? {} : { abort: true }) });
    this.b.setBlock(ok);
    return x;
  }

  condValue(e: ts.Expression): V {
    // Simple integer comparisons become one setcc; anything else branches.
    if (ts.isBinaryExpression(e) && CMP[e.operatorToken.kind] && !this.nullableMapValue(e.left) && !this.nullableMapValue(e.right)) {
      const r = this.compareOperands(e);
      if (r && r.kind === "cmp") {
        if (r.a.kind === "imm" && r.b.kind === "imm") return { k: "bool", v: imm(foldCmpConst(r.cmp, r.a.value, r.b.value) ? 1 : 0) };
        const dst = this.b.vreg();
        this.b.emit({ op: "setcc", dst, cmp: r.cmp, width: r.width, a: r.a, b: r.b });
        return { k: "bool", v: vreg(dst) };
      }
      if (r?.kind === "const") return { k: "bool", v: imm(r.value ? 1 : 0) };
      if (r?.kind === "mixed") return this.boolOf((t, f) => this.branchMixed(r, t, f));
      if (r?.kind === "ip6") return this.boolOf((t, f) => this.ip6Equal(r.a, r.b, r.negate ? f : t, r.negate ? t : f));
    }
    return this.boolOf((t, f) => this.cond(e, t, f));
  }

  /** A 0/1 value from a branch to `t` (true) or `f` (false). */
  private boolOf(branch: (t: B, f: B) => void): V {
    const dst = this.b.vreg();
    const t = this.b.newBlock(), f = this.b.newBlock(), join = this.b.newBlock();
    branch(t, f);
    this.b.setBlock(t);
    this.b.emit({ op: "mov", dst, src: imm(1) });
    this.b.terminate({ op: "br", target: join.id });
    this.b.setBlock(f);
    this.b.emit({ op: "mov", dst, src: imm(0) });
    this.b.terminate({ op: "br", target: join.id });
    this.b.setBlock(join);
    return { k: "bool", v: vreg(dst) };
  }

  // ------------------------------------------------------------------------------------------------------------
  // Conditions

  /** Branches to `t` when `e` is true, else to `f`. Leaves the current block terminated. */
  cond(e: ts.Expression, t: B, f: B): void {
    this.b.loc = this.fx.loc(e);
    const c = this.mod.evalConst(e);
    if (c?.k === "bool") return void this.b.terminate({ op: "br", target: (c.value ? t : f).id });
    if (ts.isParenthesizedExpression(e)) return this.cond(e.expression, t, f);
    if (ts.isPrefixUnaryExpression(e) && e.operator === K.ExclamationToken) return this.cond(e.operand, f, t);
    if (ts.isBinaryExpression(e)) {
      const op = e.operatorToken.kind;
      if (op === K.AmpersandAmpersandToken || op === K.BarBarToken) {
        const mid = this.b.newBlock();
        if (op === K.AmpersandAmpersandToken) this.cond(e.left, mid, f);
        else this.cond(e.left, t, mid);
        this.b.setBlock(mid);
        return this.cond(e.right, t, f);
      }
      if (CMP[op]) {
        // `m.lookup(k) === 0` on a miss compares null with 0: false for ===, true for !==; no load through null.
        const onNull = (ptr: Value) => {
          const hit = this.b.newBlock();
          const missTarget = CMP[op]![0] === "ne" ? t : f;
          this.b.terminate({ op: "cbr", cmp: "eq", width: 64, a: ptr, b: imm(0), then: missTarget.id, else: hit.id });
          this.b.setBlock(hit);
        };
        const r = this.compareOperands(e, onNull);
        if (!r) return;
        if (r.kind === "const") return void this.b.terminate({ op: "br", target: (r.value ? t : f).id });
        if (r.kind === "ip6") return this.ip6Equal(r.a, r.b, r.negate ? f : t, r.negate ? t : f);
        if (r.kind === "mixed") return this.branchMixed(r, t, f);
        if (r.a.kind === "imm" && r.b.kind === "imm") {
          return void this.b.terminate({ op: "br", target: (foldCmpConst(r.cmp, r.a.value, r.b.value) ? t : f).id });
        }
        return void this.b.terminate({ op: "cbr", cmp: r.cmp, width: r.width, a: r.a, b: r.b, then: t.id, else: f.id });
      }
    }
    if (ts.isCallExpression(e) && ts.isPropertyAccessExpression(e.expression)) {
      const m = e.expression.name.text;
      if (m === "has" || m === "equals") {
        const recv = this.expr(e.expression.expression);
        const arg = e.arguments[0];
        if (!arg) this.fail("BadCall", e, `${m}() needs an argument`);
        if (m === "equals" && recv.k === "ip6") {
          const other = this.expr(arg);
          if (other.k !== "ip6") this.fail("Unsupported", arg, "equals() compares two IPv6 addresses");
          return this.ip6Equal(recv.words, other.words, t, f);
        }
        if (m === "has" && recv.k === "const") return this.cidrHas(recv.c, arg, t, f);
      }
      if (m === "includes") {
        const recv = this.expr(e.expression.expression);
        const arg = e.arguments[0];
        if (recv.k !== "const" || recv.c.k !== "tuple" || !arg) this.fail("Unsupported", e, "includes() is supported on constant tuples (`const PORTS = [80, 443] as const`)");
        return this.tupleIncludes(recv.c.elems, arg, t, f);
      }
    }
    const v = this.expr(e);
    this.truthy(v, t, f, e);
  }

  /**
   * Whether the type TypeScript gives `e` admits `null` (or `undefined`, from `x?.f`); false when narrowing proves it
   * is not null here, so a null test would be redundant.
   */
  mayBeNull(e: ts.Node): boolean {
    const t = this.fx.checker.getTypeAtLocation(e);
    const parts = t.isUnion() ? t.types : [t];
    return parts.some((p) => (p.flags & (ts.TypeFlags.Null | ts.TypeFlags.Undefined | ts.TypeFlags.Any | ts.TypeFlags.Unknown)) !== 0);
  }

  /**
   * Branches on the truthiness of a value, as TypeScript means it: an integer or boolean map value is falsy when the
   * lookup missed (null) *and* when the stored value is 0/false; a struct value or a socket is falsy only when null.
   */
  truthy(v: V, t: B, f: B, node: ts.Node): void {
    const go = (b: B) => void this.b.terminate({ op: "br", target: b.id });
    switch (v.k) {
      case "null": return go(f);
      case "ptr":
        if (v.ty.kind === "int" || v.ty.kind === "bool") {
          if (this.mayBeNull(node)) {
            const hit = this.b.newBlock();
            this.b.terminate({ op: "cbr", cmp: "eq", width: 64, a: vreg(v.v), b: imm(0), then: f.id, else: hit.id });
            this.b.setBlock(hit);
          }
          return this.truthy(this.toInt(v), t, f, node);
        }
        if (v.ty.kind !== "struct" && v.ty.kind !== "array" && v.ty.kind !== "ip6") break;
        return void this.b.terminate({ op: "cbr", cmp: "ne", width: 64, a: vreg(v.v), b: imm(0), then: t.id, else: f.id });
      case "sock":
        return void this.b.terminate({ op: "cbr", cmp: "ne", width: 64, a: vreg(v.v), b: imm(0), then: t.id, else: f.id });
      case "bool": case "int": case "net": {
        const x = v.k === "net" ? { v: v.raw, bits: v.bits } : v.k === "int" ? { v: v.v, bits: v.ty.bits } : { v: v.v, bits: 64 };
        if (x.v.kind === "imm") return go(x.v.value !== 0n ? t : f);
        return void this.b.terminate({ op: "cbr", cmp: "ne", width: x.bits === 64 ? 64 : 32, a: x.v, b: imm(0), then: t.id, else: f.id });
      }
    }
    this.fail("Unsupported", node, `${describe(v)} cannot be used as a condition`);
  }

  /** Lowers both sides of a comparison into a branchable form. */
  /** An expression whose TypeScript type is an integer or boolean that may be null (an unnarrowed lookup result). */
  private nullableMapValue(e: ts.Expression): boolean {
    if (!this.mayBeNull(e)) return false;
    const t = this.fx.checker.getNonNullableType(this.fx.checker.getTypeAtLocation(e));
    return (t.flags & (ts.TypeFlags.NumberLike | ts.TypeFlags.BigIntLike | ts.TypeFlags.BooleanLike)) !== 0;
  }

  private compareOperands(e: ts.BinaryExpression, onNull?: (ptr: Value) => void):
    | IntCompare
    | { kind: "ip6"; a: Value[]; b: Value[]; negate: boolean }
    | undefined {
    const [ucmp, scmp] = CMP[e.operatorToken.kind]!;
    // A negative literal keeps its value (`ip > -1` is true in TypeScript): it is an i64, not the other side's u32.
    const negLit = (x: ts.Expression): V | undefined => {
      const c = ts.isPrefixUnaryExpression(x) && x.operator === K.MinusToken ? this.mod.evalConst(x, I64) : undefined;
      return c?.k === "int" && c.value < 0n ? { k: "int", ty: I64, v: imm(c.value) } : undefined;
    };
    const a = this.expr(e.left);
    const unsigned32 = (a.k === "int" && !a.lit && !a.ty.signed && a.ty.bits === 32) || (a.k === "net" && a.bits === 32);
    const c = (unsigned32 ? negLit(e.right) : undefined) ?? this.expr(e.right, (a.k === "int" && !a.lit) || a.k === "net" ? promote(a.ty) : undefined);
    const eqOnly = ucmp === "eq" || ucmp === "ne";
    // Null checks on sockets and map values.
    if (a.k === "null" || c.k === "null") {
      const [nothing, other] = a.k === "null" ? [a, c] : [c as V & { k: "null" }, a];
      // `===` tells null from undefined (an omitted optional parameter is undefined); `==` does not.
      const strict = e.operatorToken.kind === K.EqualsEqualsEqualsToken || e.operatorToken.kind === K.ExclamationEqualsEqualsToken;
      const otherUndef = other.k === "null" ? !!other.undef : other.k === "ptr" || other.k === "sock" ? other.undef : undefined;
      if (strict && otherUndef !== undefined && !!nothing.undef !== otherUndef) return { kind: "const", value: ucmp === "ne" };
      if (other.k === "null") return { kind: "const", value: ucmp === "eq" };
      if ((other.k === "sock" || other.k === "ptr") && eqOnly) return { kind: "cmp", cmp: ucmp, width: 64, a: vreg(other.v), b: imm(0) };
      this.fail("Unsupported", e, `cannot compare ${describe(other)} with null`);
    }
    if (a.k === "ip6" && c.k === "ip6" && eqOnly) return { kind: "ip6", a: a.words, b: c.words, negate: ucmp === "ne" };
    for (const [x, node] of [[a, e.left], [c, e.right]] as const) {
      if (x.k !== "ptr" || (x.ty.kind !== "int" && x.ty.kind !== "bool") || !this.mayBeNull(node)) continue;
      if (!eqOnly || !onNull) this.fail("Unsupported", node, `'${node.getText(this.fx.sf)}' may be null here; test it first (\`if (v !== null && v > 5)\`)`);
      onNull(vreg(x.v));
    }
    if (a.k === "bool" && c.k === "bool" && eqOnly) return { kind: "cmp", cmp: ucmp, width: 64, a: a.v, b: c.v };
    // Network-order fields against constants (or each other): compare the raw bits, swap the constant instead.
    if (eqOnly && (a.k === "net" || c.k === "net")) {
      const [n, o] = a.k === "net" ? [a, c] : [c as V & { k: "net" }, a];
      if (o.k === "net" && o.bits === n.bits) return { kind: "cmp", cmp: ucmp, width: n.bits === 64 ? 64 : 32, a: n.raw, b: o.raw };
      if (o.k === "int" && o.v.kind === "imm") {
        const value = o.v.value;
        // A constant outside the field's range never matches.
        if (wrap(value, { ...n.ty, signed: false }) !== value && value >= 0n) return { kind: "const", value: ucmp === "ne" };
        return { kind: "cmp", cmp: ucmp, width: n.bits === 64 ? 64 : 32, a: n.raw, b: imm(bswapConst(BigInt.asUintN(n.bits, value), n.bits)) };
      }
    }
    try {
      return compareInts(this, a, c, ucmp, scmp, this.mod.exactValue(e.left), this.mod.exactValue(e.right));
    } catch (err) {
      if (err instanceof LowerError) this.fail("Unsupported", e, `cannot compare ${describe(a)} with ${describe(c)}`);
      throw err;
    }
  }

  /** Branches on a u64-against-signed comparison: a negative signed side decides alone (see {@link compareInts}). */
  private branchMixed(r: IntCompare & { kind: "mixed" }, t: B, f: B): void {
    const unsigned = this.b.newBlock();
    const neg = r.whenNegative ? t : f;
    this.b.terminate({ op: "cbr", cmp: "slt", width: 64, a: r.signed, b: imm(0), then: neg.id, else: unsigned.id });
    this.b.setBlock(unsigned);
    this.b.terminate({ op: "cbr", cmp: r.cmp, width: 64, a: r.a, b: r.b, then: t.id, else: f.id });
  }

  /** Four word compares; all equal → t. */
  private ip6Equal(a: Value[], c: Value[], t: B, f: B): void {
    for (let i = 0; i < 4; i++) {
      const next = i === 3 ? t : this.b.newBlock();
      const x = a[i]!, y = c[i]!;
      if (x.kind === "imm" && y.kind === "imm") {
        if (x.value !== y.value) return void this.b.terminate({ op: "br", target: f.id });
        if (i === 3) this.b.terminate({ op: "br", target: t.id });
        else this.b.setBlock(next);
        continue;
      }
      this.b.terminate({ op: "cbr", cmp: "ne", width: 32, a: x, b: y, then: f.id, else: next.id });
      if (i < 3) this.b.setBlock(next);
    }
  }

  /** `TUPLE.includes(x)`: one equality test per element (x evaluated once), any match → t. */
  private tupleIncludes(elems: ConstVal[], arg: ts.Expression, t: B, f: B): void {
    const x = this.expr(arg);
    for (const c of elems) {
      const next = this.b.newBlock();
      const y = constValue(c);
      if (x.k === "ip6" && y.k === "ip6") {
        this.ip6Equal(x.words, y.words, t, next);
      } else if (x.k === "net" && y.k === "int" && y.v.kind === "imm") {
        const value = y.v.value;
        if (wrap(value, { ...x.ty, signed: false }) === value) {
          this.b.terminate({ op: "cbr", cmp: "eq", width: x.bits === 64 ? 64 : 32, a: x.raw, b: imm(bswapConst(value, x.bits)), then: t.id, else: next.id });
        } else this.b.terminate({ op: "br", target: next.id });
      } else {
        let ops;
        try {
          ops = this.intOperands(x, y);
        } catch (err) {
          if (err instanceof LowerError) this.fail("Unsupported", arg, `cannot compare ${describe(x)} with ${describe(y)}`);
          throw err;
        }
        if (ops.a.kind === "imm" && ops.b.kind === "imm") this.b.terminate({ op: "br", target: (ops.a.value === ops.b.value ? t : next).id });
        else this.b.terminate({ op: "cbr", cmp: "eq", width: ops.ty.bits === 64 ? 64 : 32, a: ops.a, b: ops.b, then: t.id, else: next.id });
      }
      this.b.setBlock(next);
    }
    this.b.terminate({ op: "br", target: f.id });
  }

  /** `cidr.has(x)`: masked compares against network-order constants. */
  private cidrHas(c: ConstVal, arg: ts.Expression, t: B, f: B): void {
    if (c.k === "cidr4") {
      const x = this.expr(arg, U32);
      if (c.len === 0) return void this.b.terminate({ op: "br", target: t.id });
      const mask = BigInt(mask4(c.len));
      let v: Value, m: bigint, net: bigint;
      if (x.k === "net" && x.bits === 32) {
        [v, m, net] = [x.raw, bswapConst(mask, 32), bswapConst(BigInt(c.addr), 32)];
      } else {
        [v, m, net] = [this.convertOr(x, U32, arg), mask, BigInt(c.addr)];
      }
      const masked = c.len === 32 ? v : this.bin("and", 32, v, imm(m), U32);
      if (masked.kind === "imm") return void this.b.terminate({ op: "br", target: (masked.value === net ? t : f).id });
      return void this.b.terminate({ op: "cbr", cmp: "eq", width: 32, a: masked, b: imm(net), then: t.id, else: f.id });
    }
    if (c.k === "cidr6") {
      const x = this.expr(arg);
      if (x.k !== "ip6") this.fail("Unsupported", arg, "cidr6(...).has() takes an Ip6");
      for (let i = 0; i < 4; i++) {
        const bits = Math.min(32, Math.max(0, c.len - 32 * i));
        if (bits === 0) break;
        const last = i === 3 || c.len <= 32 * (i + 1);
        const next = last ? t : this.b.newBlock();
        // The mask in load order: the prefix bits of this word, in network order, read as a little-endian u32.
        const maskBytes = new Uint8Array(16);
        for (let bit = 0; bit < bits; bit++) maskBytes[4 * i + (bit >> 3)]! |= 0x80 >> (bit & 7);
        const m = loadWord(maskBytes, i);
        const want = loadWord(c.bytes, i);
        const w = x.words[i]!;
        const masked = bits === 32 ? w : this.bin("and", 32, w, imm(m), U32);
        this.b.terminate({ op: "cbr", cmp: "ne", width: 32, a: masked, b: imm(want), then: f.id, else: next.id });
        if (!last) this.b.setBlock(next);
      }
      return;
    }
    this.fail("Unsupported", arg, "has() needs a cidr4/cidr6 constant");
  }

  // ------------------------------------------------------------------------------------------------------------
  // Assignment (statements call these too)

  /** `target = value` / `target op= value`. */
  assign(e: ts.BinaryExpression): V {
    const op = e.operatorToken.kind;
    const target = e.left;
    if (op === K.QuestionQuestionEqualsToken || op === K.BarBarEqualsToken || op === K.AmpersandAmpersandEqualsToken) return this.logicalAssign(e);
    const bnd = ts.isIdentifier(target) ? this.scope.get(this.sym(target)!) : undefined;
    if (bnd?.b === "sockvar" && op === K.EqualsToken) return this.assignSocket(target, e.right, bnd);
    const arith = op === K.EqualsToken ? undefined : ARITH[op];
    if (op !== K.EqualsToken && !arith) this.fail("Unsupported", e.operatorToken, "unsupported assignment operator");
    return this.store(target, (cur) => (arith ? this.arith(arith, cur(), this.expr(e.right), e) : this.expr(e.right, this.targetHint(target))), e);
  }

  /** `sk = <socket expression>` for a `let` socket variable. */
  private assignSocket(target: ts.Expression, right: ts.Expression, bnd: Binding & { b: "sockvar" }): V {
    if (bnd.own !== undefined) {
      this.mixInto(right, bnd.v, bnd.own);
      return { k: "sock", v: bnd.v };
    }
    const leaves = { refs: [] as ts.Node[], borrowed: [] as ts.Node[] };
    this.socketLeaves(right, leaves);
    const [first] = bnd.refs ? leaves.borrowed : leaves.refs;
    if (first) {
      this.fail("SocketVar", first, bnd.refs
        ? `'${first.getText(this.fx.sf)}' is not a lookup result, but '${target.getText(this.fx.sf)}' holds lookup results (references the compiler releases); keep them in two variables`
        : `'${first.getText(this.fx.sf)}' takes a reference, but '${target.getText(this.fx.sf)}' holds a socket the compiler must not release; keep them in two variables`);
    }
    // The previous reference (if any) is dead from here: the release pass releases it before this lookup.
    this.sockInto(right, bnd.v);
    return { k: "sock", v: bnd.v };
  }

  /**
   * `x ??= y`, `x ||= y`, `x &&= y`: the assignment `x = y` runs only when x is null (`??=`), falsy (`||=`) or
   * truthy (`&&=`), as in TypeScript; the right side is evaluated only then. `sk ??= b.lookup(0)` is the fallback
   * socket in one line.
   */
  private logicalAssign(e: ts.BinaryExpression): V {
    const op = e.operatorToken.kind;
    const target = e.left;
    const assign = this.b.newBlock(), join = this.b.newBlock();
    const bnd = ts.isIdentifier(target) ? this.scope.get(this.sym(target)!) : undefined;
    const current = this.expr(target);
    if (op === K.QuestionQuestionEqualsToken) {
      if (current.k !== "sock" && current.k !== "ptr") return current; // never null: nothing is assigned
      this.b.terminate({ op: "cbr", cmp: "eq", width: 64, a: vreg(current.v), b: imm(0), then: assign.id, else: join.id });
    } else if (op === K.BarBarEqualsToken) {
      this.truthy(current, join, assign, target);
    } else {
      this.truthy(current, assign, join, target);
    }
    this.b.setBlock(assign);
    if (bnd?.b === "sockvar") this.assignSocket(target, e.right, bnd);
    else this.store(target, () => this.expr(e.right, this.targetHint(target)), e);
    this.b.jumpTo(join);
    return ts.isIdentifier(target) && bnd ? this.readBinding(bnd) : { k: "void" };
  }

  /** `x++`, `--x`... */
  increment(e: ts.PrefixUnaryExpression | ts.PostfixUnaryExpression, post: boolean): V {
    const op = e.operator === K.PlusPlusToken ? "+" : "-";
    let old: (V & { k: "int" }) | undefined;
    const r = this.store(e.operand, (cur) => {
      let o = this.toInt(cur());
      if (post && o.v.kind === "vreg") {
        const copy = this.b.vreg();
        this.b.emit({ op: "mov", dst: copy, src: o.v });
        o = { ...o, v: vreg(copy) };
      }
      old = o;
      return this.arith(op, o, { k: "int", ty: I32, v: imm(1), lit: true }, e);
    }, e);
    return post && old ? old : r;
  }

  private targetHint(target: ts.Expression): IntTy | undefined {
    if (ts.isIdentifier(target)) {
      const bnd = this.scope.get(this.sym(target)!);
      if (bnd?.b === "var" && bnd.ty.kind === "int") return bnd.ty;
    }
    return undefined;
  }

  /** A slot of its own for each optional parameter that is assigned (see {@link assignOptional}). */
  private readonly optionalSlots = new Map<VReg, number>();

  /**
   * `x = v` / `x ??= 5` on an optional parameter (`x?: u32`): the value goes into a slot of this function (the
   * caller's value is a copy in TypeScript, so it is never written), and the parameter's pointer moves there;
   * `x = undefined` makes it 0 again.
   */
  private assignOptional(param: V & { k: "ptr" }, value: V, node: ts.Node): V {
    if (value.k === "null") {
      this.b.emit({ op: "mov", dst: param.v, src: imm(0) });
      return value;
    }
    let slot = this.optionalSlots.get(param.v);
    if (slot === undefined) {
      const size = param.ty.kind === "int" ? param.ty.bits / 8 : 1;
      this.optionalSlots.set(param.v, (slot = this.b.slot(size, size as 1, "optional parameter")));
    }
    const place: Place = { base: { slot }, offset: 0, ty: param.ty };
    this.storeValue(place, value, node);
    const addr = this.slotAddr(slot);
    this.b.emit({ op: "mov", dst: param.v, src: addr });
    return this.readPlace(place);
  }

  /** Writes `compute(current)` to an lvalue: a local variable, or a field of a struct (local or map value). */
  private store(target: ts.Expression, compute: (cur: () => V) => V, node: ts.Node): V {
    if (ts.isParenthesizedExpression(target)) return this.store(target.expression, compute, node);
    if (ts.isIdentifier(target)) {
      const s = this.sym(target);
      const bnd = s && this.scope.get(s);
      if (bnd?.b === "poison") throw new PoisonedUse();
      if (bnd?.b === "val" && bnd.val.k === "ptr" && bnd.val.undef && !bnd.val.off && (bnd.val.ty.kind === "int" || bnd.val.ty.kind === "bool")) {
        return this.assignOptional(bnd.val, compute(() => this.readBinding(bnd)), node);
      }
      if (!bnd || bnd.b === "val") this.fail("Unsupported", target, `cannot assign to '${target.text}'`);
      const value = compute(() => this.readBinding(bnd));
      if (bnd.b === "var") {
        const src = bnd.ty.kind === "bool" ? (value as { v: Value }).v : this.convertOr(value, bnd.ty, node);
        this.b.emit({ op: "mov", dst: bnd.v, src });
        return this.readBinding(bnd);
      }
      if (bnd.b === "ptrvar") {
        if (value.k === "ptr" && !value.off) this.b.emit({ op: "mov", dst: bnd.v, src: vreg(value.v) });
        else if (value.k === "null") this.b.emit({ op: "mov", dst: bnd.v, src: imm(0) });
        else if (value.k === "ptr") this.fail("Unsupported", node, "an optional field (`x?.f`) cannot be stored in a map value variable");
        else this.fail("Unsupported", node, `cannot assign ${describe(value)} to a map value variable`);
        return this.readBinding(bnd);
      }
      if (bnd.b === "ip6var") {
        if (value.k !== "ip6") this.fail("Unsupported", node, "expected an Ip6");
        value.words.forEach((w, i) => this.b.emit({ op: "mov", dst: bnd.words[i]!, src: w }));
        return this.readBinding(bnd);
      }
    }
    let place: Place | undefined;
    if (ts.isPropertyAccessExpression(target)) {
      const obj = this.expr(target.expression);
      const p = this.placeOf(obj, target.expression);
      if (p) place = this.field(p, target.name.text, target.name);
    } else if (ts.isElementAccessExpression(target)) {
      const obj = this.expr(target.expression);
      const p = this.placeOf(obj, target.expression);
      const idx = this.expr(target.argumentExpression);
      if (p?.ty.kind === "array" && idx.k === "int" && idx.v.kind === "imm") {
        const i = Number(idx.v.value);
        if (i < 0 || i >= p.ty.length) this.fail("IndexOutOfRange", target.argumentExpression, `index ${i} is out of range for an array of length ${p.ty.length}`);
        place = { base: p.base, offset: p.offset + i * sizeOf(p.ty.elem), ty: p.ty.elem };
      }
    }
    if (!place) this.fail("Unsupported", target, `cannot assign to '${target.getText(this.fx.sf)}'`);
    const p = place;
    const value = compute(() => this.readPlace(p));
    this.storeValue(p, value, node);
    return value;
  }

  /** Stores any value into a place of matching type (structs memberwise). */
}

