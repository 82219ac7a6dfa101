/**
 * Statement and function lowering, and the module driver: every program and local function of the file becomes an IR
 * function; maps and the license come from the module info. Bounded loops are unrolled with the counter bound to a
 * constant in each copy, so loop-dependent keys and tuple indexes are constants too, unless unroll.ts says the copies
 * would only multiply code (then the counter lives in a register).
 */
import { ts } from "@ts-morph/common";
import type { Function, Module, VReg, Value } from "../ir/ir.ts";
import { imm, vreg } from "../ir/ir.ts";
import { DiagnosticError } from "../diagnostics/index.ts";
import type { FileContext } from "./context.ts";
import { FnBuilder, STACK_LIMIT } from "./builder.ts";
import { ExprLowerer, PoisonedUse, type Binding } from "./lower-expr.ts";
import { TypeError_, wrap, type ConstVal, type ModuleInfo } from "./module.ts";
import { alignOf, I32, I64, layoutStruct, sizeOf, type IntTy, type Ty } from "./types.ts";
import { shouldUnroll } from "./unroll.ts";
import { LowerError, constValue, describe, type Place, type V } from "./values.ts";

/** The most iterations a loop is unrolled to; longer counted loops stay loops (counter in a register). */
export const MAX_UNROLL = 64;
/** The most iterations of a counted loop: the kernel verifier walks every iteration (1M-instruction budget). */
export const MAX_ITERATIONS = 8192;

type B = FnBuilder["cur"];

/** Lowers one function's statements. */
class FnLowerer extends ExprLowerer {
  /** Enclosing break/continue targets, innermost last; `cont` only for loops. */
  private loops: { brk: B; cont?: B; kind: "loop" | "switch" | "block"; label?: string }[] = [];
  /** The label written before the loop being lowered (`outer: for ...`), taken by that loop. */
  private nextLabel: string | undefined;

  private takeLabel(): string | undefined {
    const l = this.nextLabel;
    this.nextLabel = undefined;
    return l;
  }

  constructor(
    fx: FileContext, mod: ModuleInfo, b: FnBuilder, ctxVreg: VReg | undefined, readonly fn: ts.FunctionDeclaration, readonly returnTy: Ty,
    /** Where a struct result goes (a local function returning a struct). */
    readonly retPtr?: VReg,
  ) {
    super(fx, mod, b, ctxVreg);
  }

  /** Lowers a statement; a diagnostic abandons just this statement. */
  stmt(s: ts.Statement): void {
    const savedAt = this.at;
    try {
      this.b.loc = this.fx.loc(s);
      this.at = s;
      this.stmtInner(s);
    } catch (err) {
      if (err instanceof PoisonedUse) return;
      if (err instanceof DiagnosticError) this.fx.diagnostics.push(err.diagnostic);
      else if (err instanceof LowerError) this.fx.report("Unsupported", s, err.message);
      else if (err instanceof TypeError_) this.fx.report("BadType", err.node, err.message);
      else throw err;
      // Later uses of variables this statement failed to declare would only repeat the problem.
      if (ts.isVariableStatement(s)) {
        for (const d of s.declarationList.declarations) {
          for (const id of boundNames(d.name)) {
            const sym = this.sym(id);
            if (sym && !this.scope.has(sym)) this.scope.set(sym, { b: "poison" });
          }
        }
      }
    } finally {
      this.b.releaseTemps();
      this.at = savedAt;
    }
  }

  private stmtInner(s: ts.Statement): void {
    if (ts.isBlock(s)) return s.statements.forEach((x) => this.stmt(x));
    if (ts.isExpressionStatement(s)) return void this.expr(s.expression);
    if (ts.isVariableStatement(s)) return this.varDecl(s.declarationList);
    if (ts.isIfStatement(s)) return this.ifStmt(s);
    if (ts.isReturnStatement(s)) return this.returnStmt(s);
    if (ts.isForStatement(s)) return this.forStmt(s);
    if (ts.isForOfStatement(s)) return this.forOf(s);
    if (ts.isBreakStatement(s) || ts.isContinueStatement(s)) {
      const brk = ts.isBreakStatement(s);
      // JavaScript's rules: an unlabeled break leaves the innermost loop or switch, continue the innermost loop;
      // a labeled one the statement with that label.
      const target = [...this.loops].reverse().find((l) => (s.label ? l.label === s.label.text : brk ? l.kind !== "block" : l.kind === "loop"));
      if (!target) this.fail("Unsupported", s, `${brk ? "break" : "continue"} outside a loop`);
      if (!brk && !target.cont) this.fail("Unsupported", s, `'continue ${s.label?.text}' needs a loop label`);
      return void this.b.terminate({ op: "br", target: (brk ? target.brk : target.cont!).id });
    }
    if (ts.isLabeledStatement(s)) {
      const inner = s.statement;
      if (ts.isForStatement(inner) || ts.isForOfStatement(inner)) {
        this.nextLabel = s.label.text;
        this.stmt(inner);
        this.nextLabel = undefined;
        return;
      }
      const exit = this.b.newBlock();
      this.loops.push({ brk: exit, kind: "block", label: s.label.text });
      this.stmt(inner);
      this.loops.pop();
      return this.b.jumpTo(exit);
    }
    if (ts.isEmptyStatement(s)) return;
    if (ts.isSwitchStatement(s)) return this.switchStmt(s);
    if (ts.isInterfaceDeclaration(s) || ts.isTypeAliasDeclaration(s)) return;
    // Everything else was reported by the subset checker; report again only if it slipped through.
    if (!ts.isWhileStatement(s) && !ts.isDoStatement(s) && !ts.isForInStatement(s) && !ts.isThrowStatement(s) && !ts.isTryStatement(s) &&
      !ts.isFunctionDeclaration(s) && !ts.isClassDeclaration(s) && !ts.isLabeledStatement(s)) {
      this.fail("Unsupported", s, `${ts.SyntaxKind[s.kind]} is not supported`);
    }
  }

  private varDecl(list: ts.VariableDeclarationList): void {
    const isConst = !!(list.flags & ts.NodeFlags.Const);
    for (const d of list.declarations) {
      if (!ts.isIdentifier(d.name)) {
        if (!d.initializer) this.fail("Unsupported", d, "destructuring needs an initializer");
        this.bindPattern(d.name, this.expr(d.initializer), isConst);
        continue;
      }
      const s = this.sym(d.name)!;
      const declared = d.type ? this.mod.resolveType(d.type) : undefined;
      if (!isConst && (declared?.kind === "sock" || (d.initializer && this.isSocketExpr(d.initializer)))) {
        this.scope.set(s, this.socketVar(s, d));
        continue;
      }
      if (!d.initializer) {
        if (!declared || (declared.kind !== "int" && declared.kind !== "bool")) this.fail("Unsupported", d, "variables need an initializer");
        const v = this.b.vreg();
        this.b.emit({ op: "mov", dst: v, src: imm(0) });
        this.varVregs.add(v);
        this.scope.set(s, { b: "var", ty: declared, v });
        continue;
      }
      if (declared && (declared.kind === "struct" || declared.kind === "array")) {
        this.at = d;
        const slot = this.b.slot(sizeOf(declared), alignOf(declared) as 1, d.name.text);
        const place = { base: { slot }, offset: 0, ty: declared };
        this.buildStruct(place, d.initializer);
        this.scope.set(s, { b: "val", val: { k: "place", place } });
        continue;
      }
      const value = this.expr(d.initializer, declared?.kind === "int" ? declared : undefined);
      this.scope.set(s, this.bind(value, declared, isConst, d));
    }
  }

  /**
   * Destructuring, `const { protocol, localPort: port } = ctx`, `const [port, slot] = ROW`: each name is bound to
   * the field or element read now (a copy for `let`), as TypeScript reads them once at the declaration.
   */
  bindPattern(pattern: ts.BindingName, value: V, isConst: boolean): void {
    if (ts.isIdentifier(pattern)) return; // handled by the callers that own the declaration
    pattern.elements.forEach((el, i) => {
      if (ts.isOmittedExpression(el)) return;
      if (el.dotDotDotToken) {
        if (!ts.isIdentifier(el.name)) this.fail("Unsupported", el.name, "destructure a rest element into one name (`...rest`)");
        const rest = ts.isObjectBindingPattern(pattern) ? this.restOfObject(value, pattern, el) : this.restOfArray(value, i, el);
        return void this.scope.set(this.sym(el.name)!, this.bind(rest, undefined, isConst, el));
      }
      let part: V;
      if (ts.isObjectBindingPattern(pattern)) {
        const key = el.propertyName ?? el.name;
        if (!ts.isIdentifier(key)) this.fail("Unsupported", key, "destructure fields by name (`{ port, protocol: proto }`)");
        part = this.memberOf(value, key.text, key, el);
      } else {
        part = this.elementAt(value, i, el, el);
      }
      if (ts.isIdentifier(el.name)) this.scope.set(this.sym(el.name)!, this.bind(part, undefined, isConst, el));
      else this.bindPattern(el.name, part, isConst);
    });
  }

  /**
   * `[a, ...rest]`: the elements from `from` on. A constant tuple gives a constant tuple; an array in memory is copied
   * into a new stack array, as JavaScript copies it (later writes to either do not reach the other).
   */
  private restOfArray(value: V, from: number, el: ts.BindingElement): V {
    if (value.k === "const" && value.c.k === "tuple") return { k: "const", c: { k: "tuple", elems: value.c.elems.slice(from) } };
    const p = this.placeOf(value, el);
    if (!p || p.ty.kind !== "array") this.fail("Unsupported", el, `a rest element needs a constant tuple or an array, got ${describe(value)}`);
    const ty: Ty = { kind: "array", elem: p.ty.elem, length: Math.max(0, p.ty.length - from) };
    const copy: Place = { base: { slot: this.b.slot(Math.max(1, sizeOf(ty)), alignOf(ty) as 1, el.name.getText(this.fx.sf)) }, offset: 0, ty };
    this.storeValue(copy, { k: "place", place: { base: p.base, offset: p.offset + from * sizeOf(p.ty.elem), ty } }, el);
    return { k: "place", place: copy };
  }

  /**
   * `{ a, ...rest }`: the other fields. A constant object gives a constant object; a struct gives a new struct of the
   * remaining integer, boolean and Ip6 fields, copied now as JavaScript copies them. A struct or array field would be
   * shared with the original in JavaScript (the copy is shallow), so it is refused, as is the context.
   */
  private restOfObject(value: V, pattern: ts.ObjectBindingPattern, el: ts.BindingElement): V {
    const named = new Set(pattern.elements.filter((x) => x !== el).map((x) => (x.propertyName ?? x.name).getText(this.fx.sf)));
    if (value.k === "const" && value.c.k === "object") {
      return { k: "const", c: { k: "object", fields: new Map([...value.c.fields].filter(([n]) => !named.has(n))) } };
    }
    if (value.k === "ctx" || value.k === "sock") {
      this.fail("Unsupported", el, `a rest element of ${value.k === "ctx" ? "the context" : "a socket"} is not supported (it would copy fields the kernel fills in later); read the fields you need (\`${value.k === "ctx" ? "ctx" : "sk"}.protocol\`)`);
    }
    const p = this.placeOf(value, el);
    if (!p || p.ty.kind !== "struct") this.fail("Unsupported", el, `a rest element needs a struct or a constant object, got ${describe(value)}`);
    const fields = p.ty.fields.filter((f) => !named.has(f.name));
    const shared = fields.find((f) => f.ty.kind === "struct" || f.ty.kind === "array");
    if (shared) {
      this.fail("Unsupported", el, `'...${el.name.getText(this.fx.sf)}' would share the struct field '${shared.name}' with the original (JavaScript copies one level); destructure '${shared.name}' by name`);
    }
    const ty = layoutStruct(`${p.ty.name} rest`, fields.map((f) => ({ name: f.name, ty: f.ty })));
    const copy: Place = { base: { slot: this.b.slot(Math.max(1, ty.size), ty.align as 1, el.name.getText(this.fx.sf)) }, offset: 0, ty };
    for (const f of fields) {
      const from = this.field(p, f.name, el);
      this.storeValue(this.field(copy, f.name, el), this.readPlace(from), el);
    }
    return { k: "place", place: copy };
  }

  /**
   * A `let` socket variable. When every value it may hold (initializer and every assignment in the function) is a
   * lookup (a reference) or every one is not, one register holds it; a mix keeps the reference in a second one.
   */
  private socketVar(s: ts.Symbol, d: ts.VariableDeclaration): Binding {
    const leaves = { refs: [] as ts.Node[], borrowed: [] as ts.Node[] };
    if (d.initializer) this.socketLeaves(d.initializer, leaves);
    const visit = (n: ts.Node): void => {
      const op = ts.isBinaryExpression(n) ? n.operatorToken.kind : undefined;
      const assigns = op === ts.SyntaxKind.EqualsToken || op === ts.SyntaxKind.QuestionQuestionEqualsToken ||
        op === ts.SyntaxKind.BarBarEqualsToken || op === ts.SyntaxKind.AmpersandAmpersandEqualsToken;
      if (ts.isBinaryExpression(n) && assigns && ts.isIdentifier(n.left) && this.sym(n.left) === s) {
        this.socketLeaves(n.right, leaves);
      }
      ts.forEachChild(n, visit);
    };
    visit(this.fn.body!);
    const v = this.b.vreg("sock_or_null");
    if (this.isSocketMix(leaves)) {
      // Lookup results and borrowed sockets: the reference lives in `own` (see mixInto).
      const own = this.b.vreg("sock_or_null");
      if (d.initializer) this.mixInto(d.initializer, v, own);
      else for (const r of [own, v]) this.b.emit({ op: "mov", dst: r, src: imm(0) });
      return { b: "sockvar", v, refs: false, own };
    }
    if (d.initializer) this.sockInto(d.initializer, v);
    else this.b.emit({ op: "mov", dst: v, src: imm(0) });
    return { b: "sockvar", v, refs: leaves.refs.length > 0 };
  }

  /** The binding of a new variable holding `value` (copied when mutable or when it aliases a mutable variable). */
  private bind(value: V, declared: Ty | undefined, isConst: boolean, d: ts.VariableDeclaration | ts.BindingElement): Binding {
    if (value.k === "sock") {
      if (isConst) return { b: "val", val: value };
      // `let { sk } = ctx`: a borrowed socket in a variable of its own, which may later hold a lookup result (the
      // reference then lives in `own`; an `own` that never receives one costs nothing once simplified).
      const v = this.b.vreg("sock_or_null"), own = this.b.vreg("sock_or_null");
      this.b.emit({ op: "mov", dst: own, src: imm(0) });
      this.b.emit({ op: "mov", dst: v, src: vreg(value.v) });
      return { b: "sockvar", v, refs: false, own };
    }
    if (value.k === "ptr" && declared && (declared.kind === "int" || declared.kind === "bool")) {
      // `const id: u32 = label` reads the map value now (a copy), it does not alias the map.
      return this.bind(this.readPlace({ base: { ptr: value.v }, offset: value.off ?? 0, ty: value.ty }), declared, isConst, d);
    }
    if (value.k === "ptr") {
      if (isConst) return { b: "val", val: value };
      if (value.off) this.fail("Unsupported", d, "a `let` cannot hold an optional field (`x?.f`); write `let v = x?.f ?? 0`");
      const v = this.b.vreg("map_value_or_null");
      this.b.emit({ op: "mov", dst: v, src: vreg(value.v) });
      return { b: "ptrvar", ty: value.ty, v };
    }
    if (value.k === "ip6") {
      if (isConst && value.words.every((w) => w.kind === "imm" || !this.varVregs.has(w.id))) return { b: "val", val: value };
      const words = value.words.map((w) => {
        const v = this.b.vreg();
        this.b.emit({ op: "mov", dst: v, src: w });
        if (!isConst) this.varVregs.add(v);
        return v;
      });
      return { b: "ip6var", words };
    }
    if (value.k === "const" || value.k === "place" || value.k === "map" || value.k === "ctx") {
      if (!isConst) this.fail("Unsupported", d, `a \`let\` cannot hold ${describe(value)}; declare it with const`);
      return { b: "val", val: value };
    }
    if (value.k === "null") this.fail("Unsupported", d, "a variable cannot start as null; initialize it with a lookup");
    if (value.k === "void") this.fail("Unsupported", d, "this expression has no value");
    if (value.k === "bool" && (!declared || declared.kind === "bool")) {
      if (isConst && (value.v.kind === "imm" || !this.varVregs.has(value.v.id))) return { b: "val", val: value };
      const v = this.b.vreg();
      this.b.emit({ op: "mov", dst: v, src: value.v });
      if (!isConst) this.varVregs.add(v);
      return { b: "var", ty: { kind: "bool" }, v };
    }
    // Integers (and network-order integers: kept raw while const, so comparisons stay swap-free).
    // An unannotated `let n = 0` (or `= ctx.localPort`) is a TypeScript `number` with no width: 64-bit, so a later
    // `n = ctx.localIp4` or `n += 1` keeps its value instead of wrapping at 32 or 16 bits.
    const inferred: IntTy = value.k === "int" ? (value.lit ? (value.ty.bits === 64 ? value.ty : I32) : value.ty) : value.k === "net" ? value.ty : I32;
    const ty: IntTy = declared?.kind === "int" ? declared : !isConst && inferred.bits < 64 ? I64 : inferred;
    if (isConst && value.k === "net" && (!declared || (declared.kind === "int" && declared.bits === value.ty.bits))) {
      return { b: "val", val: value };
    }
    const conv = this.convertOr(value, ty, d);
    if (isConst && (conv.kind === "imm" || !this.varVregs.has(conv.id))) return { b: "val", val: { k: "int", ty, v: conv } };
    const v = this.b.vreg();
    this.b.emit({ op: "mov", dst: v, src: conv });
    if (!isConst) this.varVregs.add(v);
    return { b: "var", ty, v };
  }


  private ifStmt(s: ts.IfStatement): void {
    const t = this.b.newBlock(), join = this.b.newBlock();
    const f = s.elseStatement ? this.b.newBlock() : join;
    this.cond(s.expression, t, f);
    this.b.setBlock(t);
    this.stmt(s.thenStatement);
    this.b.terminate({ op: "br", target: join.id });
    if (s.elseStatement) {
      this.b.setBlock(f);
      this.stmt(s.elseStatement);
      this.b.terminate({ op: "br", target: join.id });
    }
    this.b.setBlock(join);
  }

  private returnStmt(s: ts.ReturnStatement): void {
    const e = s.expression;
    if (this.b.isProgram) {
      if (!e) this.fail("BadReturn", s, "a program must return SK_PASS or SK_DROP");
      this.checkVerdict(e);
      return this.returnValue(e);
    }
    if (!e) return void this.b.terminate({ op: "ret", value: imm(0) });
    this.returnValue(e);
  }

  /** Every possible value of `e` must be the literal 0 or 1 (SK_DROP / SK_PASS). */
  private checkVerdict(e: ts.Expression): void {
    let inner = e;
    while (ts.isParenthesizedExpression(inner)) inner = inner.expression;
    if (ts.isConditionalExpression(inner)) {
      this.checkVerdict(inner.whenTrue);
      return this.checkVerdict(inner.whenFalse);
    }
    // A cast proves nothing about the value: `x as Verdict` could be 2 at run time.
    if (ts.isAsExpression(inner) || ts.isTypeAssertionExpression(inner) || ts.isNonNullExpression(inner)) {
      this.fail("BadReturn", e, `a program must return SK_PASS or SK_DROP; '${e.getText(this.fx.sf)}' is only cast to Verdict`);
    }
    const t = this.fx.checker.getTypeAtLocation(e);
    const parts = t.isUnion() ? t.types : [t];
    const ok = parts.every((p) => p.isNumberLiteral() && (p.value === 0 || p.value === 1));
    if (!ok) this.fail("BadReturn", e, `a program must return SK_PASS or SK_DROP, not '${e.getText(this.fx.sf)}'`);
  }

  /** `return e`; a conditional return becomes two returns so each path returns a constant. */
  private returnValue(e: ts.Expression): void {
    let inner = e;
    while (ts.isParenthesizedExpression(inner)) inner = inner.expression;
    if (ts.isConditionalExpression(inner)) {
      const t = this.b.newBlock(), f = this.b.newBlock();
      this.cond(inner.condition, t, f);
      this.b.setBlock(t);
      this.returnValue(inner.whenTrue);
      this.b.setBlock(f);
      this.returnValue(inner.whenFalse);
      return;
    }
    this.b.loc = this.fx.loc(e);
    if (this.retPtr !== undefined) {
      this.buildStruct({ base: { ptr: this.retPtr }, offset: 0, ty: this.returnTy }, e);
      return void this.b.terminate({ op: "ret", value: imm(0) });
    }
    const x = this.expr(e, this.returnTy.kind === "int" ? this.returnTy : undefined);
    let value: Value;
    if (x.k === "bool") value = x.v;
    else if (this.returnTy.kind === "int") value = this.convertOr(x, this.returnTy, e);
    else if (this.returnTy.kind === "bool") value = this.convertOr(x, I32, e);
    else this.fail("Unsupported", e, `cannot return ${describe(x)}`);
    this.b.terminate({ op: "ret", value });
  }

  /** Unrolls `for (let i = A; i < N; i += step)`. */
  private forStmt(s: ts.ForStatement): void {
    const list = s.initializer as ts.VariableDeclarationList;
    const decl = list?.declarations?.[0];
    const cond = s.condition as ts.BinaryExpression | undefined;
    if (!decl || !decl.initializer || !cond || !ts.isIdentifier(decl.name)) return; // reported by the subset checker
    const declared = decl.type ? this.mod.resolveType(decl.type) : undefined;
    const first = this.mod.evalConst(decl.initializer, declared?.kind === "int" ? declared : undefined);
    const ty = declared?.kind === "int" ? declared : first?.k === "int" && first.ty.bits === 64 ? first.ty : I32;
    const start = this.mod.evalConst(decl.initializer, ty);
    const bound = this.mod.evalConst(cond.right, ty);
    if (start?.k !== "int") this.fail("UnboundedLoop", decl.initializer, "the loop start must be a compile-time constant");
    if (bound?.k !== "int") this.fail("UnboundedLoop", cond.right, "the loop bound must be a compile-time constant");
    const inc = s.incrementor!;
    const step = ts.isBinaryExpression(inc) ? BigInt((inc.right as ts.NumericLiteral).text) : 1n;
    const inclusive = cond.operatorToken.kind === ts.SyntaxKind.LessThanEqualsToken;
    const last = inclusive ? bound.value : bound.value - 1n;
    const count = last < start.value ? 0n : (last - start.value) / step + 1n;
    if (count > BigInt(MAX_ITERATIONS)) {
      this.fail("UnboundedLoop", cond, `the loop runs ${count} times; the kernel verifier walks every iteration, so tsbpf allows at most ${MAX_ITERATIONS}`);
    }
    const sym = this.sym(decl.name)!;
    if (count <= BigInt(MAX_UNROLL) && shouldUnroll(Number(count), sym, s.statement, (n) => this.sym(n))) {
      const values = Array.from({ length: Number(count) }, (_, k) => start.value + BigInt(k) * step);
      return this.unroll(values.map((v) => ({ k: "int", ty, value: v }) as ConstVal), sym, s.statement);
    }
    this.countedLoop(sym, ty, start.value, bound.value, inclusive, step, s);
  }

  /**
   * A real loop for long counted loops: the counter lives in a vreg (the backend keeps it in a register or a full
   * 8-byte spill, which the kernel verifier tracks; it cannot follow a counter in a 4-byte stack slot).
   */
  private countedLoop(sym: ts.Symbol, ty: IntTy, start: bigint, bound: bigint, inclusive: boolean, step: bigint, s: ts.ForStatement): void {
    const label = this.takeLabel();
    const i = this.b.vreg();
    this.varVregs.add(i);
    this.b.emit({ op: "mov", dst: i, src: imm(start) });
    const header = this.b.newBlock(), body = this.b.newBlock(), latch = this.b.newBlock(), exit = this.b.newBlock();
    this.b.jumpTo(header);
    const width = ty.bits === 64 ? 64 : 32;
    const cmp = ty.signed ? (inclusive ? "sle" : "slt") : inclusive ? "ule" : "ult";
    this.b.terminate({ op: "cbr", cmp, width, a: vreg(i), b: imm(bound), then: body.id, else: exit.id });
    this.b.setBlock(body);
    this.scope.set(sym, { b: "var", ty, v: i });
    this.loops.push({ brk: exit, cont: latch, kind: "loop", label });
    this.stmt(s.statement);
    this.loops.pop();
    this.b.jumpTo(latch);
    this.b.emit({ op: "bin", dst: i, kind: "add", width, a: vreg(i), b: imm(step) });
    this.b.terminate({ op: "br", target: header.id });
    this.b.setBlock(exit);
  }

  private forOf(s: ts.ForOfStatement): void {
    // A top-level table, or a row of one bound by an enclosing unrolled loop (`for (const row of GRID)`).
    let tuple = this.mod.evalConst(s.expression);
    if (tuple === undefined) {
      const v = this.expr(s.expression);
      if (v.k === "const") tuple = v.c;
    }
    const d = (s.initializer as ts.VariableDeclarationList).declarations?.[0];
    if (tuple?.k !== "tuple") this.fail("UnboundedLoop", s.expression, "for...of needs a constant tuple");
    if (!d) this.fail("Unsupported", s.initializer, "for...of needs `const x` or `const [a, b]`");
    if (tuple.elems.length > MAX_UNROLL) this.fail("UnboundedLoop", s.expression, `the tuple has more than ${MAX_UNROLL} elements`);
    const name = d.name;
    this.unroll(tuple.elems, ts.isIdentifier(name) ? this.sym(name)! : (v) => this.bindPattern(name, constValue(v), true), s.statement);
  }

  /** One copy of `body` per value, with `sym` bound to the value (or `bind` called); break/continue jump between copies. */
  private unroll(values: ConstVal[], sym: ts.Symbol | ((v: ConstVal) => void), body: ts.Statement): void {
    const label = this.takeLabel();
    const exit = this.b.newBlock();
    for (const v of values) {
      const next = this.b.newBlock();
      if (typeof sym === "function") sym(v);
      else this.scope.set(sym, { b: "val", val: constValue(v) });
      this.loops.push({ brk: exit, cont: next, kind: "loop", label });
      this.stmt(body);
      this.loops.pop();
      this.b.jumpTo(next);
    }
    this.b.jumpTo(exit);
  }

  /** `switch` on an integer with constant cases: a chain of comparisons; fallthrough is kept. */
  private switchStmt(s: ts.SwitchStatement): void {
    const x = this.toInt(this.expr(s.expression));
    const exit = this.b.newBlock();
    const bodies = s.caseBlock.clauses.map(() => this.b.newBlock());
    let defaultIdx = -1;
    s.caseBlock.clauses.forEach((c, i) => {
      if (ts.isDefaultClause(c)) return void (defaultIdx = i);
      const cv = this.mod.evalConst(c.expression, x.ty);
      if (cv?.k !== "int") this.fail("Unsupported", c.expression, "case labels must be integer constants");
      // `===` compares values: a label no value of the switched type equals never matches (not its wrapped bits).
      const exact = this.mod.exactValue(c.expression);
      if (exact !== undefined && wrap(exact, x.ty) !== exact) return;
      const next = this.b.newBlock();
      this.b.terminate({ op: "cbr", cmp: "eq", width: x.ty.bits === 64 ? 64 : 32, a: x.v, b: imm(cv.value), then: bodies[i]!.id, else: next.id });
      this.b.setBlock(next);
    });
    this.b.terminate({ op: "br", target: (defaultIdx >= 0 ? bodies[defaultIdx]! : exit).id });
    this.loops.push({ brk: exit, kind: "switch" });
    s.caseBlock.clauses.forEach((c, i) => {
      this.b.setBlock(bodies[i]!);
      c.statements.forEach((st) => this.stmt(st));
      this.b.terminate({ op: "br", target: (bodies[i + 1] ?? exit).id });
    });
    this.loops.pop();
    this.b.setBlock(exit);
  }
}

/** Lowers one top-level function (a program or a local helper) to IR. */
function lowerFunction(fx: FileContext, mod: ModuleInfo, fn: ts.FunctionDeclaration, isProgram: boolean): Function | undefined {
  const name = fn.name!.text;
  const b = new FnBuilder(name, isProgram);
  const params: VReg[] = [];
  let ctxVreg: VReg | undefined;
  const bindings: [ts.Symbol, Binding][] = [];
  const patterns: [ts.BindingPattern, V][] = [];
  for (const p of fn.parameters) {
    if (!p.type) {
      fx.report("BadType", p, "parameters need a type");
      return undefined;
    }
    let t: Ty | undefined;
    try {
      t = mod.resolveType(p.type);
    } catch (err) {
      if (!(err instanceof TypeError_)) throw err;
      fx.report("BadType", err.node, err.message);
      return undefined;
    }
    if (!ts.isIdentifier(p.name)) {
      if (t?.kind === "ctx") {
        // `function f({ localPort }: SkLookup)`: the context, destructured (its fields read at entry).
        ctxVreg = b.vreg("ctx");
        params.push(ctxVreg);
        patterns.push([p.name, { k: "ctx", v: ctxVreg }]);
        continue;
      }
      // `function f({ port, protocol }: Key)`: the struct by reference, then destructured like a declaration.
      if (t?.kind !== "struct" && t?.kind !== "array") {
        fx.report("BadType", p.type, "only a struct or the context can be destructured in a parameter");
        return undefined;
      }
      const v = b.vreg();
      params.push(v);
      patterns.push([p.name, { k: "place", place: { base: { ptr: v }, offset: 0, ty: t } }]);
      continue;
    }
    const sym = fx.checker.getSymbolAtLocation(p.name)!;
    if (p.questionToken && !p.initializer && t?.kind !== "sock") {
      // `x?: u32`: a pointer to the caller's value, 0 when the argument is omitted. Undefined then behaves as a map
      // lookup's null does (`x ?? 5`, `x === undefined`, truthiness), and TypeScript's narrowing guards every read.
      if (t?.kind !== "int" && t?.kind !== "bool" && t?.kind !== "struct" && t?.kind !== "array") {
        fx.report("Unsupported", p.questionToken, "optional parameters must be integers, booleans or structs; give it a default value (`addr: Ip6 = ip6(\"::\")`)");
        return undefined;
      }
      const v = b.vreg("stack");
      params.push(v);
      bindings.push([sym, { b: "val", val: { k: "ptr", ty: t, v, undef: true } }]);
      continue;
    }
    if (t?.kind === "struct" || t?.kind === "array") {
      // Passed by reference, as TypeScript passes objects: writes to its fields reach the caller's struct.
      const v = b.vreg();
      params.push(v);
      bindings.push([sym, { b: "val", val: { k: "place", place: { base: { ptr: v }, offset: 0, ty: t } } }]);
    } else if (t?.kind === "ctx") {
      ctxVreg = b.vreg("ctx");
      params.push(ctxVreg);
      bindings.push([sym, { b: "val", val: { k: "ctx", v: ctxVreg } }]);
    } else if (t?.kind === "int" || t?.kind === "bool") {
      const v = b.vreg();
      params.push(v);
      bindings.push([sym, { b: "var", ty: t.kind === "int" ? t : { kind: "bool" }, v }]);
    } else if (t?.kind === "ip6") {
      const words = [b.vreg(), b.vreg(), b.vreg(), b.vreg()];
      params.push(...words);
      bindings.push([sym, { b: "ip6var", words }]);
    } else if (t?.kind === "sock") {
      // A socket handed in by the caller (who owns any reference and releases it).
      const v = b.vreg("sock_or_null");
      params.push(v);
      const optional = !!p.questionToken && !p.initializer;
      if (optional && ts.isUnionTypeNode(p.type) && p.type.types.some((x) => x.kind === ts.SyntaxKind.LiteralType && (x as ts.LiteralTypeNode).literal.kind === ts.SyntaxKind.NullKeyword)) {
        // Omitted (undefined) and null would both be 0: `sk === null` could not answer as TypeScript does.
        fx.report("Unsupported", p.questionToken!, "an optional socket parameter cannot also be null; write `sk: Sock | null` and pass null");
        return undefined;
      }
      bindings.push([sym, { b: "val", val: { k: "sock", v, ...(optional ? { undef: true } : {}) } }]);
    } else {
      fx.report("BadType", p.type, "parameters of local functions must be integers, booleans, Ip6, structs, sockets or the context");
      return undefined;
    }
  }
  const returnTy: Ty = fn.type ? (mod.tryResolve(fn.type) ?? { kind: "void" }) : { kind: "void" };
  // A struct result is written through a pointer the caller passes last (into a slot of the caller's frame).
  const retPtr = !isProgram && (returnTy.kind === "struct" || returnTy.kind === "array") ? b.vreg() : undefined;
  if (retPtr !== undefined) params.push(retPtr);
  const lw = new FnLowerer(fx, mod, b, ctxVreg, fn, returnTy, retPtr);
  // The allocation that crosses the limit is the mistake: point there, not at the function.
  b.onStackOverflow = (bytes) => fx.report("StackOverflow", lw.at ?? fn.name!, `stack use reaches ${bytes} bytes in '${name}'; the BPF limit is ${STACK_LIMIT}`);
  for (const [s, bnd] of bindings) {
    lw.scope.set(s, bnd);
    if (bnd.b === "var") lw.varVregs.add(bnd.v);
    if (bnd.b === "ip6var") bnd.words.forEach((w) => lw.varVregs.add(w));
  }
  for (const [pattern, value] of patterns) {
    try {
      lw.bindPattern(pattern, value, true);
    } catch (err) {
      if (err instanceof DiagnosticError) fx.diagnostics.push(err.diagnostic);
      else throw err;
    }
  }
  for (const s of fn.body!.statements) lw.stmt(s);
  return b.finish(params, fx.loc(fn.name!));
}

/** Lowers every program and every local function reachable from one. */
export function lowerModule(fx: FileContext, mod: ModuleInfo): Module {
  const functions: Function[] = [];
  const programs = new Set(mod.programs);
  for (const fn of mod.programs) {
    const f = lowerFunction(fx, mod, fn, true);
    if (f) functions.push(f);
  }
  for (const fn of mod.functions.values()) {
    if (programs.has(fn)) continue;
    const f = lowerFunction(fx, mod, fn, false);
    if (f) functions.push(f);
  }
  return {
    fileName: fx.file,
    source: fx.sf.text,
    license: mod.license,
    functions,
    maps: [...mod.maps.values()].map((m) => m.def),
  };
}

/** The names a declaration binds (every identifier of a destructuring pattern). */
function boundNames(name: ts.BindingName): ts.Identifier[] {
  if (ts.isIdentifier(name)) return [name];
  return name.elements.flatMap((el) => (ts.isOmittedExpression(el) ? [] : boundNames(el.name)));
}
