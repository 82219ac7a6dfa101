/**
 * The subset checker: walks the user's file and rejects, at the offending node, every construct outside the DSL —
 * each with its one catalogued code. Checks that need values or layouts (constant indexes, stack size, map keys,
 * program returns) happen during lowering, which knows them.
 */
import { ts } from "@ts-morph/common";
import type { FileContext } from "./context.ts";
import { parseCidr4, parseCidr6, parseIp4, parseIp6 } from "./address.ts";
import { resolveSymbol, stdlibName, stdlibTypeName } from "./types.ts";

/** Stdlib functions that take an address literal, with their parsers. */
const ADDRESS_FUNCS: Record<string, (text: string) => { ok: boolean; reason?: string }> = {
  ip4: parseIp4, ip6: parseIp6, cidr4: parseCidr4, cidr6: parseCidr6,
};
/** Stdlib functions callable from a program. */
const HELPER_FUNCS = new Set(["ip4", "ip6", "cidr4", "cidr6", "ktimeGetNs", "getPrandomU32", "trace"]);
const MAP_CLASSES = new Set(["ArrayMap", "HashMap", "LpmTrie", "SockMap", "SockHash"]);
/** What to write instead of the JavaScript runtime functions users reach for first. */
const INSTEAD: Record<string, string> = {
  "Math.random": "use getPrandomU32() from \"tsbpf\", a random u32 (`Math.random() < 0.5` becomes `getPrandomU32() % 2 === 0`; `getPrandomU32() % n` picks one of n)",
  "console.log": "use trace(\"port %d\", ctx.localPort) from \"tsbpf\" (bpf_trace_printk, at most 3 values; read it with `bpftool prog tracelog`)",
  "Date.now": "use ktimeGetNs() from \"tsbpf\" (nanoseconds since boot, a u64)",
  "performance.now": "use ktimeGetNs() from \"tsbpf\" (nanoseconds since boot, a u64)",
  "Math.max": "write `a > b ? a : b`",
  "Math.min": "write `a < b ? a : b`",
  "Math.abs": "write `x < 0 ? -x : x`",
  "Math.floor": "integer `/` already truncates",
  "Math.trunc": "integer `/` already truncates",
};

/** Runs every syntactic subset check over the file; diagnostics go to `ctx`. */
export function checkSubset(ctx: FileContext): void {
  const { checker, sf } = ctx;
  const topFunctions = new Map<ts.Symbol, ts.FunctionDeclaration>();
  for (const st of sf.statements) {
    if (ts.isFunctionDeclaration(st) && st.name) {
      const sym = checker.getSymbolAtLocation(st.name);
      if (sym) topFunctions.set(sym, st);
    }
  }
  /** Call graph edges between top-level functions, with the call node (for recursion). */
  const calls: { from: ts.FunctionDeclaration; to: ts.FunctionDeclaration; node: ts.CallExpression }[] = [];
  let currentFn: ts.FunctionDeclaration | undefined;

  const visit = (node: ts.Node): void => {
    if (check(node) === false) return;
    if (ts.isFunctionDeclaration(node) && node.parent === sf) {
      const prev = currentFn;
      currentFn = node;
      ts.forEachChild(node, visit);
      currentFn = prev;
      return;
    }
    ts.forEachChild(node, visit);
  };

  /** Checks one node; returns false to skip its children (the error already covers them). */
  const check = (node: ts.Node): boolean | void => {
    const qdot = (node as { questionDotToken?: ts.Node }).questionDotToken;
    // `x?.field` and `x?.[i]` are lowered (map values, sockets, optional parameters). `f?.()` calls a function
    // declared in this file, which is never undefined; a function value has no BPF form (reported where it is made).
    if (qdot && ts.isCallExpression(node) && !isDeclaredFunction(node.expression) && !functionValueVariable(node.expression) &&
      ctx.checker.getNonNullableType(ctx.checker.getTypeAtLocation(node.expression)) !== ctx.checker.getTypeAtLocation(node.expression)) {
      ctx.report("Unsupported", qdot, "'?.()' calls only functions declared in this file (`f?.(x)` is `f(x)`); test for null first (`if (x !== null) ...`)");
    }
    switch (node.kind) {
      case ts.SyntaxKind.StringLiteral:
      case ts.SyntaxKind.NoSubstitutionTemplateLiteral:
        if (!stringAllowed(node as ts.StringLiteral)) {
          ctx.report("String", node, "strings are not supported here (only as a trace format or an address literal)");
        }
        return;
      case ts.SyntaxKind.TemplateExpression:
        ctx.report("String", node, "template strings are not supported");
        return false;
      case ts.SyntaxKind.NumericLiteral: {
        const lit = node as ts.NumericLiteral;
        if (!Number.isInteger(Number(lit.text)) || /^[0-9]*\.[0-9]*$/.test(lit.getText(sf))) {
          ctx.report("Float", node, `floating-point literal ${lit.getText(sf)} is not supported`);
        }
        return;
      }
      case ts.SyntaxKind.Identifier: {
        const id = node as ts.Identifier;
        if ((id.text === "NaN" || id.text === "Infinity") && isValuePosition(id)) {
          ctx.report("Float", node, `${id.text} is a floating-point value`);
        }
        checkFunctionValue(id);
        return;
      }
      case ts.SyntaxKind.ArrowFunction:
      case ts.SyntaxKind.FunctionExpression:
        ctx.report("Closure", node, "closures and function expressions are not supported");
        return false;
      case ts.SyntaxKind.MethodDeclaration:
      case ts.SyntaxKind.GetAccessor:
      case ts.SyntaxKind.SetAccessor:
        if (!ts.isClassLike(node.parent)) ctx.report("Closure", node, "methods in object literals are not supported");
        return false;
      case ts.SyntaxKind.FunctionDeclaration: {
        const fn = node as ts.FunctionDeclaration;
        if (fn.parent !== sf) {
          ctx.report("Closure", fn.name ?? fn, "nested functions (closures) are not supported; declare it at the top level");
          return false;
        }
        if (fn.modifiers?.some((m) => m.kind === ts.SyntaxKind.AsyncKeyword)) {
          ctx.report("Async", fn.name ?? fn, "async functions are not supported");
        }
        if (fn.asteriskToken) ctx.report("Async", fn.asteriskToken, "generator functions are not supported");
        return;
      }
      case ts.SyntaxKind.ClassDeclaration:
      case ts.SyntaxKind.ClassExpression:
        ctx.report("Class", (node as ts.ClassLikeDeclaration).name ?? node, "classes are not supported");
        return false;
      case ts.SyntaxKind.ThrowStatement:
        ctx.report("Exception", node, "throw is not supported");
        return false;
      case ts.SyntaxKind.TryStatement:
        ctx.report("Exception", node.getFirstToken(sf) ?? node, "try/catch is not supported");
        return;
      case ts.SyntaxKind.AwaitExpression:
        ctx.report("Async", node, "await is not supported");
        return false;
      case ts.SyntaxKind.YieldExpression:
        ctx.report("Async", node, "yield is not supported");
        return false;
      case ts.SyntaxKind.WhileStatement:
      case ts.SyntaxKind.DoStatement:
      case ts.SyntaxKind.ForInStatement:
        ctx.report("UnboundedLoop", node.getFirstToken(sf) ?? node, `${node.getFirstToken(sf)?.getText(sf)} loops have no provable bound`);
        return;
      case ts.SyntaxKind.ForStatement:
        checkFor(node as ts.ForStatement);
        return;
      case ts.SyntaxKind.ForOfStatement:
        checkForOf(node as ts.ForOfStatement);
        return;
      case ts.SyntaxKind.ElementAccessExpression:
        checkElementAccess(node as ts.ElementAccessExpression);
        return;
      case ts.SyntaxKind.AnyKeyword:
      case ts.SyntaxKind.UnknownKeyword:
        ctx.report("AnyUnknown", node, `type '${node.getText(sf)}' is not supported`);
        return;
      case ts.SyntaxKind.BinaryExpression: {
        // `Math.random() < 0.5` is one mistake: the fraction goes with Math.random, not a second error.
        const b = node as ts.BinaryExpression;
        const random = [b.left, b.right].find((x) => ts.isCallExpression(x) && x.expression.getText(sf) === "Math.random");
        if (random) {
          checkCall(random as ts.CallExpression);
          return false;
        }
        checkBinary(b);
        return;
      }
      case ts.SyntaxKind.PrefixUnaryExpression:
      case ts.SyntaxKind.PostfixUnaryExpression: {
        const u = node as ts.PrefixUnaryExpression | ts.PostfixUnaryExpression;
        if (u.operator === ts.SyntaxKind.PlusPlusToken || u.operator === ts.SyntaxKind.MinusMinusToken) checkWrite(u.operand);
        return;
      }
      case ts.SyntaxKind.CallExpression: {
        // A call to something BPF does not have is one mistake: its arguments (a string for console.log) are not more.
        const before = ctx.diagnostics.length;
        checkCall(node as ts.CallExpression);
        const reported = ctx.diagnostics.slice(before).some((d) => d.code === "TSBPF1016");
        return reported ? false : undefined;
      }
      case ts.SyntaxKind.NewExpression:
        checkNew(node as ts.NewExpression);
        return;
      case ts.SyntaxKind.DeleteExpression:
      case ts.SyntaxKind.TypeOfExpression:
      case ts.SyntaxKind.VoidExpression:
      case ts.SyntaxKind.SpreadElement:
      case ts.SyntaxKind.SpreadAssignment:
      case ts.SyntaxKind.RegularExpressionLiteral:
      case ts.SyntaxKind.ThisKeyword:
      case ts.SyntaxKind.SuperKeyword:
      case ts.SyntaxKind.WithStatement:
      case ts.SyntaxKind.TaggedTemplateExpression:
        ctx.report("Unsupported", node, `${describeKind(node)} is not supported`);
        return false;
      case ts.SyntaxKind.VariableDeclarationList:
        if (!(node.flags & (ts.NodeFlags.Const | ts.NodeFlags.Let))) {
          ctx.report("Unsupported", node.getFirstToken(sf) ?? node, "'var' is not supported; use let or const");
        }
        return;
    }
  };

  /** A string literal is allowed as a trace format, an address literal, an import path, LICENSE or a `pin` option. */
  const stringAllowed = (lit: ts.StringLiteral): boolean => {
    const p = lit.parent;
    if (ts.isImportDeclaration(p) || ts.isExportDeclaration(p) || ts.isLiteralTypeNode(p) || ts.isExternalModuleReference(p)) return true;
    if (ts.isCallExpression(p) && p.arguments[0] === lit) {
      const name = stdlibName(ctx.checker, p.expression);
      return name === "trace" || (name !== undefined && name in ADDRESS_FUNCS);
    }
    if (ts.isVariableDeclaration(p) && ts.isIdentifier(p.name) && p.name.text === "LICENSE" && p.parent.parent.parent === sf) return true;
    if (ts.isPropertyAssignment(p) && ts.isIdentifier(p.name) && p.name.text === "pin") return true;
    if (ts.isElementAccessExpression(p)) return true; // reported as dynamic access instead
    return false;
  };

  /** `f` names a top-level function declared in this file. */
  const isDeclaredFunction = (callee: ts.Expression): boolean => {
    const decl = ts.isIdentifier(callee) ? resolveSymbol(ctx.checker, ctx.checker.getSymbolAtLocation(callee))?.valueDeclaration : undefined;
    return !!decl && ts.isFunctionDeclaration(decl);
  };

  /**
   * `f` is a variable or parameter holding a function value: where that value is made (TSBPF1003) or typed (TSBPF2001)
   * is the mistake, so a call through it adds no second diagnostic.
   */
  const functionValueVariable = (callee: ts.Expression): boolean => {
    if (!ts.isIdentifier(callee)) return false;
    const decl = resolveSymbol(ctx.checker, ctx.checker.getSymbolAtLocation(callee))?.valueDeclaration;
    if (!decl || !(ts.isVariableDeclaration(decl) || ts.isParameter(decl))) return false;
    return ctx.checker.getNonNullableType(ctx.checker.getTypeAtLocation(callee)).getCallSignatures().length > 0;
  };

  /** A reference to a function that is not the callee of a call is a function value. */
  const checkFunctionValue = (id: ts.Identifier): void => {
    if (!isValuePosition(id)) return;
    const p = id.parent;
    if (ts.isCallExpression(p) && p.expression === id) return;
    if (ts.isFunctionDeclaration(p) && p.name === id) return;
    if (ts.isImportSpecifier(p) || ts.isExportSpecifier(p)) return;
    if (ts.isPropertyAccessExpression(p) && p.name === id) return;
    if (ts.isPropertyAssignment(p) && p.name === id) return;
    const sym = resolveSymbol(ctx.checker, ctx.checker.getSymbolAtLocation(id));
    if (sym && sym.flags & ts.SymbolFlags.Function) {
      ctx.report("Closure", id, `'${id.text}' is used as a function value; functions can only be called${ts.isConditionalExpression(p) || ts.isBinaryExpression(p) ? ` (to call it only sometimes, test the condition: \`if (c) ${id.text}(x)\`)` : ""}`);
    }
  };

  const checkFor = (st: ts.ForStatement): void => {
    const bad = (why: string) => ctx.report("UnboundedLoop", st.getFirstToken(sf) ?? st, `for loop has no provable bound: ${why}`);
    const init = st.initializer;
    if (!init || !ts.isVariableDeclarationList(init) || !(init.flags & ts.NodeFlags.Let) || init.declarations.length !== 1) {
      return bad("expected `for (let i = A; i < N; i++)`");
    }
    const decl = init.declarations[0]!;
    if (!ts.isIdentifier(decl.name) || !decl.initializer) return bad("expected `let i = A`");
    const name = decl.name.text;
    const cond = st.condition;
    if (!cond || !ts.isBinaryExpression(cond) || !ts.isIdentifier(cond.left) || cond.left.text !== name ||
      ![ts.SyntaxKind.LessThanToken, ts.SyntaxKind.LessThanEqualsToken].includes(cond.operatorToken.kind)) {
      return bad(`expected the condition \`${name} < N\``);
    }
    const inc = st.incrementor;
    const isInc =
      inc &&
      (((ts.isPostfixUnaryExpression(inc) || ts.isPrefixUnaryExpression(inc)) && inc.operator === ts.SyntaxKind.PlusPlusToken &&
        ts.isIdentifier(inc.operand) && inc.operand.text === name) ||
        (ts.isBinaryExpression(inc) && inc.operatorToken.kind === ts.SyntaxKind.PlusEqualsToken && ts.isIdentifier(inc.left) &&
          inc.left.text === name && ts.isNumericLiteral(inc.right) && Number(inc.right.text) > 0));
    if (!isInc) return bad(`expected the increment \`${name}++\``);
    // The counter must not be written in the body, or the bound proves nothing.
    const sym = ctx.checker.getSymbolAtLocation(decl.name);
    const scan = (n: ts.Node): void => {
      if (
        (ts.isBinaryExpression(n) && isAssignmentOp(n.operatorToken.kind) && ts.isIdentifier(n.left) && ctx.checker.getSymbolAtLocation(n.left) === sym) ||
        ((ts.isPrefixUnaryExpression(n) || ts.isPostfixUnaryExpression(n)) && ts.isIdentifier(n.operand) &&
          (n.operator === ts.SyntaxKind.PlusPlusToken || n.operator === ts.SyntaxKind.MinusMinusToken) &&
          ctx.checker.getSymbolAtLocation(n.operand) === sym)
      ) {
        ctx.report("UnboundedLoop", n, `the loop counter '${name}' is modified inside the loop body`);
      }
      ts.forEachChild(n, scan);
    };
    scan(st.statement);
  };

  const checkForOf = (st: ts.ForOfStatement): void => {
    if (st.awaitModifier) {
      ctx.report("Async", st.awaitModifier, "for await is not supported");
      return;
    }
    if (!isConstTuple(st.expression)) {
      ctx.report("UnboundedLoop", st.expression, "for...of needs a constant tuple (a top-level `const X = [..] as const` or an array literal of constants)");
    }
  };

  const isConstTuple = (e: ts.Expression): boolean => {
    if (ts.isArrayLiteralExpression(e)) return true;
    if (ts.isAsExpression(e) || ts.isParenthesizedExpression(e)) return isConstTuple(e.expression);
    // A row of a constant table: `TABLE[i]`, or the variable of `for (const row of TABLE)`.
    if (ts.isElementAccessExpression(e)) return isConstTuple(e.expression);
    if (!ts.isIdentifier(e)) return false;
    const decl = resolveSymbol(ctx.checker, ctx.checker.getSymbolAtLocation(e))?.valueDeclaration;
    if (decl && ts.isVariableDeclaration(decl) && ts.isVariableDeclarationList(decl.parent) && ts.isForOfStatement(decl.parent.parent)) {
      return isConstTuple(decl.parent.parent.expression);
    }
    // `const [first, ...rest] = TABLE`: the rest (or a row) of a constant tuple is one too.
    if (decl && ts.isBindingElement(decl)) {
      let n: ts.Node = decl;
      while (ts.isBindingElement(n) && ts.isArrayBindingPattern(n.parent)) n = n.parent.parent;
      return ts.isVariableDeclaration(n) && !!(n.parent.flags & ts.NodeFlags.Const) && !!n.initializer && isConstTuple(n.initializer);
    }
    return !!decl && ts.isVariableDeclaration(decl) && !!(decl.parent.flags & ts.NodeFlags.Const) && !!decl.initializer &&
      decl.parent.parent.parent === sf && isArrayInit(decl.initializer);
  };
  const isArrayInit = (e: ts.Expression): boolean =>
    ts.isArrayLiteralExpression(e) || ((ts.isAsExpression(e) || ts.isParenthesizedExpression(e) || ts.isSatisfiesExpression(e)) && isArrayInit(e.expression));

  const checkElementAccess = (e: ts.ElementAccessExpression): void => {
    const arg = e.argumentExpression;
    if (isLoopVariable(arg)) return; // unrolled: a constant in each copy, checked during lowering
    const value = constInt(arg);
    // `x?.[i]`: x may be null or undefined; its element type is what is indexed.
    const type = ctx.checker.getNonNullableType(ctx.checker.getTypeAtLocation(e.expression));
    // A row of a const table (`TABLE[i]` with i unrolled) is a union of its rows' tuple types.
    const parts = type.isUnion() ? type.types : [type];
    if (value === undefined || !parts.every((p) => ctx.checker.isTupleType(p))) {
      ctx.report("DynamicAccess", e, ts.isStringLiteral(arg) ? `use '.${arg.text}' instead of a string index` : "dynamic property access is not supported (only constant indexes into tuples)");
      return;
    }
    const length = Math.min(...parts.map((p) => ((p as ts.TypeReference).target as ts.TupleType | undefined)?.fixedLength ?? ctx.checker.getTypeArguments(p as ts.TypeReference).length));
    if (value < 0 || value >= length) {
      ctx.report("IndexOutOfRange", arg, `index ${value} is out of range for a tuple of length ${length}`);
    }
  };

  /** An identifier declared by a `for` / `for...of` header (unrolled, so constant in each copy). */
  const isLoopVariable = (e: ts.Expression): boolean => {
    if (!ts.isIdentifier(e)) return false;
    const decl = ctx.checker.getSymbolAtLocation(e)?.valueDeclaration;
    const list = decl?.parent;
    return !!list && ts.isVariableDeclarationList(list) && (ts.isForStatement(list.parent) || ts.isForOfStatement(list.parent));
  };

  /** A small integer literal (possibly negated or parenthesized), else undefined. Full const evaluation is in lowering. */
  const constInt = (e: ts.Expression): number | undefined => {
    if (ts.isNumericLiteral(e)) return Number(e.text);
    if (ts.isParenthesizedExpression(e)) return constInt(e.expression);
    if (ts.isPrefixUnaryExpression(e) && e.operator === ts.SyntaxKind.MinusToken) {
      const v = constInt(e.operand);
      return v === undefined ? undefined : -v;
    }
    if (ts.isIdentifier(e)) {
      const t = ctx.checker.getTypeAtLocation(e);
      if (t.isNumberLiteral()) return t.value;
    }
    return undefined;
  };

  const checkBinary = (b: ts.BinaryExpression): void => {
    const op = b.operatorToken.kind;
    if (isAssignmentOp(op)) checkWrite(b.left);
    if (op === ts.SyntaxKind.AsteriskAsteriskToken || op === ts.SyntaxKind.AsteriskAsteriskEqualsToken) {
      ctx.report("Unsupported", b.operatorToken, "'**' is not supported; multiply explicitly");
    } else if (op === ts.SyntaxKind.InKeyword || op === ts.SyntaxKind.InstanceOfKeyword) {
      ctx.report("Unsupported", b.operatorToken, `'${b.operatorToken.getText(sf)}' is not supported`);
    } else if (op === ts.SyntaxKind.CommaToken) {
      ctx.report("Unsupported", b.operatorToken, "the comma operator is not supported");
    }
  };

  /** Writes to the context (or a socket) are rejected; the kernel refuses stores to ctx. */
  const checkWrite = (target: ts.Expression): void => {
    let t = target;
    while (ts.isParenthesizedExpression(t)) t = t.expression;
    const base = ts.isPropertyAccessExpression(t) || ts.isElementAccessExpression(t) ? t.expression : t;
    const name = stdlibTypeName(ctx.checker.getTypeAtLocation(base));
    if (name === "SkLookup") {
      ctx.report("ContextWrite", target, `cannot write '${target.getText(sf)}': the sk_lookup context is read-only`);
    } else if (name === "Sock" || name === "Ip6") {
      ctx.report("ContextWrite", target, `cannot write '${target.getText(sf)}': sockets and addresses from the kernel are read-only`);
    } else if (base === t && stdlibTypeName(ctx.checker.getTypeAtLocation(t)) === "SkLookup") {
      ctx.report("ContextWrite", target, "the context parameter cannot be reassigned");
    }
  };

  const checkCall = (call: ts.CallExpression): void => {
    const callee = call.expression;
    if (ts.isIdentifier(callee)) {
      const name = stdlibName(ctx.checker, callee);
      if (name !== undefined) {
        if (!HELPER_FUNCS.has(name)) return ctx.report("BadCall", callee, `'${callee.text}' cannot be called`);
        if (name in ADDRESS_FUNCS) return checkAddress(call, name);
        if (name === "trace") return checkTrace(call);
        return;
      }
      const sym = resolveSymbol(ctx.checker, ctx.checker.getSymbolAtLocation(callee));
      if (isIntConversion(callee, sym)) {
        if (call.arguments.length !== 1) ctx.report("BadCall", callee, `${callee.text}() takes one integer`);
        return;
      }
      const target = sym && topFunctions.get(sym);
      if (target) {
        if (currentFn) calls.push({ from: currentFn, to: target, node: call });
        return;
      }
      // Calls to a closure, a nested function or a function value: the declaration is already reported.
      if (functionValueVariable(callee)) return;
      const decl = sym?.valueDeclaration;
      if (decl && (ts.isFunctionDeclaration(decl) || (ts.isVariableDeclaration(decl) && decl.initializer &&
        (ts.isArrowFunction(decl.initializer) || ts.isFunctionExpression(decl.initializer))))) return;
      return ctx.report("BadCall", callee, `'${callee.text}' is not a tsbpf helper or a function declared in this file`);
    }
    if (ts.isPropertyAccessExpression(callee)) {
      const sym = ctx.checker.getSymbolAtLocation(callee.name);
      const decl = sym?.declarations?.[0];
      if (decl && /[\\/]stdlib[\\/]index\.d\.ts$/.test(decl.getSourceFile().fileName)) return;
      if (callee.name.text === "includes" && isConstTuple(callee.expression)) return; // unrolled compares
      const text = callee.getText(sf);
      const instead = INSTEAD[text] ?? (ts.isIdentifier(callee.expression) && callee.expression.text === "console" ? INSTEAD["console.log"] : undefined);
      if (instead) return ctx.report("BadCall", callee, `'${text}' does not exist in a BPF program; ${instead}`);
      return ctx.report("BadCall", callee, `'${text}' is not a tsbpf helper or a function declared in this file`);
    }
    ctx.report("BadCall", callee, "only named functions can be called");
  };

  const checkAddress = (call: ts.CallExpression, name: string): void => {
    const arg = call.arguments[0];
    if (!arg || !(ts.isStringLiteral(arg) || ts.isNoSubstitutionTemplateLiteral(arg))) {
      ctx.report("BadAddress", arg ?? call, `${name}() needs a string literal`);
      return;
    }
    const r = ADDRESS_FUNCS[name]!(arg.text);
    if (!r.ok) ctx.report("BadAddress", arg, `malformed ${name} literal: ${r.reason}`);
  };

  const checkTrace = (call: ts.CallExpression): void => {
    const fmt = call.arguments[0];
    if (fmt && !(ts.isStringLiteral(fmt) || ts.isNoSubstitutionTemplateLiteral(fmt) || ts.isTemplateExpression(fmt))) {
      ctx.report("String", fmt, "the trace format must be a string literal");
    }
    if (call.arguments.length > 4) {
      ctx.report("TraceArgs", call.arguments[4]!, `trace takes at most 3 values after the format, got ${call.arguments.length - 1}`);
    }
  };

  const checkNew = (e: ts.NewExpression): void => {
    const name = stdlibName(ctx.checker, e.expression);
    if (name === undefined || !MAP_CLASSES.has(name)) {
      ctx.report("BadCall", e.expression, `'new ${e.expression.getText(sf)}' is not supported; only maps can be constructed`);
      return;
    }
    const decl = e.parent;
    const ok = ts.isVariableDeclaration(decl) && decl.initializer === e && decl.parent.parent.parent === sf &&
      !!(decl.parent.flags & ts.NodeFlags.Const);
    if (!ok) ctx.report("BadMap", e, "maps must be declared as `export const name = new Map(...)` at the top level");
  };

  visit(sf);
  reportRecursion(ctx, calls);
}

/** Reports every call that lies on a cycle of the call graph (direct or mutual recursion). */
function reportRecursion(ctx: FileContext, calls: { from: ts.FunctionDeclaration; to: ts.FunctionDeclaration; node: ts.CallExpression }[]): void {
  const edges = new Map<ts.FunctionDeclaration, ts.FunctionDeclaration[]>();
  for (const c of calls) edges.set(c.from, [...(edges.get(c.from) ?? []), c.to]);
  const reaches = (from: ts.FunctionDeclaration, to: ts.FunctionDeclaration): boolean => {
    const seen = new Set<ts.FunctionDeclaration>();
    const stack = [from];
    while (stack.length) {
      const f = stack.pop()!;
      if (f === to) return true;
      if (seen.has(f)) continue;
      seen.add(f);
      stack.push(...(edges.get(f) ?? []));
    }
    return false;
  };
  for (const c of calls) {
    if (reaches(c.to, c.from)) {
      const self = c.to === c.from;
      ctx.report("Recursion", c.node, self
        ? `'${c.to.name?.text}' calls itself`
        : `'${c.from.name?.text}' calls '${c.to.name?.text}', which calls back into '${c.from.name?.text}'`);
    }
  }
}

/** `BigInt(x)` / `Number(x)` from the standard library: integer conversions (u64 / u32), the only globals allowed. */
export function isIntConversion(callee: ts.Identifier, sym: ts.Symbol | undefined): boolean {
  if (callee.text !== "BigInt" && callee.text !== "Number") return false;
  const decl = sym?.declarations?.[0];
  return !!decl && /lib\.[a-z0-9.]*\.d\.ts$/.test(decl.getSourceFile().fileName);
}

function isAssignmentOp(k: ts.SyntaxKind): boolean {
  return k >= ts.SyntaxKind.FirstAssignment && k <= ts.SyntaxKind.LastAssignment;
}

/** True for identifiers used as values (not types, property names or declarations' names). */
function isValuePosition(id: ts.Identifier): boolean {
  let p: ts.Node = id.parent;
  if (ts.isTypeReferenceNode(p) || ts.isQualifiedName(p) || ts.isTypeQueryNode(p) || ts.isExpressionWithTypeArguments(p)) return false;
  if (ts.isPropertySignature(p) || ts.isInterfaceDeclaration(p) || ts.isTypeAliasDeclaration(p) || ts.isTypeParameterDeclaration(p)) return false;
  if ((ts.isVariableDeclaration(p) || ts.isParameter(p)) && p.name === id) return false;
  while (ts.isQualifiedName(p)) p = p.parent;
  return true;
}

function describeKind(node: ts.Node): string {
  const names: Partial<Record<ts.SyntaxKind, string>> = {
    [ts.SyntaxKind.DeleteExpression]: "'delete'",
    [ts.SyntaxKind.TypeOfExpression]: "'typeof' in expressions",
    [ts.SyntaxKind.VoidExpression]: "'void'",
    [ts.SyntaxKind.SpreadElement]: "spread",
    [ts.SyntaxKind.SpreadAssignment]: "spread",
    [ts.SyntaxKind.RegularExpressionLiteral]: "a regular expression",
    [ts.SyntaxKind.ThisKeyword]: "'this'",
    [ts.SyntaxKind.SuperKeyword]: "'super'",
    [ts.SyntaxKind.WithStatement]: "'with'",
    [ts.SyntaxKind.TaggedTemplateExpression]: "a tagged template",
  };
  return names[node.kind] ?? ts.SyntaxKind[node.kind];
}
