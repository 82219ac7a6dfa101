/**
 * Module-level declarations of a DSL file: maps (exported `const x = new SockMap(...)`), constants (evaluated at
 * compile time, including ip4/ip6/cidr4/cidr6 and tuples), programs and local functions, and the license. Also the
 * resolution of type nodes to C-layout types (widths come from the type nodes, since TypeScript erases u16 to number).
 */
import { ts } from "@ts-morph/common";
import { MapType, BPF_F_NO_PREALLOC, LIBBPF_PIN_BY_NAME } from "../abi/maps.ts";
import { mapCreateError } from "../abi/map-limits.ts";
import type { IrMap } from "../ir/ir.ts";
import type { FileContext } from "./context.ts";
import { integerLiteralValue } from "./limits.ts";
import { parseCidr4, parseCidr6, parseIp4, parseIp6 } from "./address.ts";
import {
  BOOL, I32, I64, INT_ALIASES, U32, U64, isStdlibDecl, layoutStruct, resolveSymbol, sizeOf, stdlibName, toIrType,
  type IntTy, type StructTy, type Ty,
} from "./types.ts";

/** A compile-time constant. Integers carry their type; `lit` marks an unannotated literal that adapts to its use. */
export type ConstVal =
  | { k: "int"; ty: IntTy; value: bigint; lit?: boolean }
  | { k: "bool"; value: boolean }
  | { k: "ip6"; bytes: Uint8Array }
  | { k: "cidr4"; addr: number; len: number }
  | { k: "cidr6"; bytes: Uint8Array; len: number }
  | { k: "tuple"; elems: ConstVal[] }
  /** An object literal of constants (`{ TCP: 6, UDP: 17 } as const`): its fields by name. */
  | { k: "object"; fields: Map<string, ConstVal> }
  | { k: "string"; value: string }
  | { k: "null" };

/** Values of the stdlib's constants. */
const STDLIB_CONSTS: Record<string, number> = {
  SK_PASS: 1, SK_DROP: 0, AF_INET: 2, AF_INET6: 10, IPPROTO_TCP: 6, IPPROTO_UDP: 17, SOCK_STREAM: 1, SOCK_DGRAM: 2,
  TCP_LISTEN: 10, TCP_ESTABLISHED: 1, TCP_CLOSE: 7, ASSIGN_REPLACE: 1, ASSIGN_NO_REUSEPORT: 2,
  BPF_ANY: 0, BPF_NOEXIST: 1, BPF_EXIST: 2,
};

/** A map of the module. */
export interface MapInfo {
  name: string;
  kind: "array" | "hash" | "lpm" | "sockmap" | "sockhash";
  key: Ty;
  value: Ty;
  def: IrMap;
}

/** Wraps `v` to the width and signedness of `ty`. */
export function wrap(v: bigint, ty: IntTy): bigint {
  return ty.signed ? BigInt.asIntN(ty.bits, v) : BigInt.asUintN(ty.bits, v);
}

/** Everything module-level the lowering needs. */
export class ModuleInfo {
  readonly maps = new Map<ts.Symbol, MapInfo>();
  readonly consts = new Map<ts.Symbol, ConstVal>();
  readonly functions = new Map<ts.Symbol, ts.FunctionDeclaration>();
  readonly programs: ts.FunctionDeclaration[] = [];
  license = "GPL";
  private structs = new Map<ts.Node, StructTy>();

  constructor(readonly ctx: FileContext) {}

  /** Reads the top-level statements; problems become diagnostics. */
  collect(): void {
    const { sf, checker } = this.ctx;
    const sym = (n: ts.Node) => checker.getSymbolAtLocation(n);
    for (const st of sf.statements) {
      if (ts.isImportDeclaration(st)) {
        const spec = st.moduleSpecifier;
        if (!ts.isStringLiteral(spec) || spec.text !== "tsbpf") this.ctx.report("BadImport", spec, `imports from ${ts.isStringLiteral(spec) ? `'${spec.text}'` : spec.getText(sf)} are not supported; import only from "tsbpf"`);
      } else if (ts.isFunctionDeclaration(st) && st.name && st.body) {
        const s = sym(st.name);
        if (s) this.functions.set(s, st);
        if (this.isProgram(st)) this.programs.push(st);
      } else if (ts.isVariableStatement(st)) {
        for (const d of st.declarationList.declarations) this.collectVar(st, d);
      } else if (ts.isEnumDeclaration(st)) {
        this.checkEnum(st);
      } else if (ts.isInterfaceDeclaration(st) || ts.isTypeAliasDeclaration(st) || ts.isEmptyStatement(st) || ts.isFunctionDeclaration(st)) {
        // types: resolved on use
      } else if (ts.isExportDeclaration(st)) {
        this.ctx.report("BadImport", st, "re-exports are not supported");
      } else if (!ts.isClassDeclaration(st)) {
        this.ctx.report("Unsupported", st, "only imports, functions, interfaces, types and const declarations are allowed at the top level");
      }
    }
  }

  /** An enum (or const enum) is a set of integer constants: every member needs a 32-bit integer value. */
  private checkEnum(st: ts.EnumDeclaration): void {
    for (const m of st.members) {
      const v = this.ctx.checker.getConstantValue(m);
      if (typeof v !== "number" || !Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 32) {
        this.ctx.report("BadConst", m, `enum member '${m.name.getText(this.ctx.sf)}' must have an integer value (string enums have no BPF meaning)`);
      }
    }
  }

  /** An exported function whose single parameter is typed `SkLookup`. */
  private isProgram(fn: ts.FunctionDeclaration): boolean {
    const exported = fn.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
    const p = fn.parameters[0];
    const isCtx = !!p?.type && ts.isTypeReferenceNode(p.type) && stdlibName(this.ctx.checker, p.type.typeName) === "SkLookup";
    if (!exported || !isCtx) return false;
    if (fn.parameters.length !== 1) {
      this.ctx.report("BadProgram", fn.parameters[1]!, "a program takes exactly one parameter, the context");
    }
    const ret = fn.type;
    const isAsync = fn.modifiers?.some((m) => m.kind === ts.SyntaxKind.AsyncKeyword); // reported as TSBPF1006 already
    if (!isAsync && (!ret || !ts.isTypeReferenceNode(ret) || stdlibName(this.ctx.checker, ret.typeName) !== "Verdict")) {
      this.ctx.report("BadProgram", ret ?? fn.name!, "a program must declare the return type Verdict");
    }
    return true;
  }

  private collectVar(st: ts.VariableStatement, d: ts.VariableDeclaration): void {
    const { checker } = this.ctx;
    if (!ts.isIdentifier(d.name)) return; // destructuring: reported by the subset checker
    const s = checker.getSymbolAtLocation(d.name);
    if (!s) return;
    const isConst = !!(st.declarationList.flags & ts.NodeFlags.Const);
    const exported = st.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
    if (!isConst) {
      this.ctx.report("BadConst", d.name, "module-level variables must be const (BPF programs have no mutable globals; use a map)");
      return;
    }
    const init = d.initializer;
    if (!init) return;
    if (ts.isNewExpression(init)) {
      if (!exported) this.ctx.report("BadMap", d.name, `map '${d.name.text}' must be exported so loaders can find it`);
      const m = this.mapOf(d.name.text, init);
      if (m) this.maps.set(s, m);
      return;
    }
    if (d.name.text === "LICENSE") {
      const v = this.evalConst(init);
      if (v?.k === "string") this.license = v.value;
      else this.ctx.report("BadConst", init, "LICENSE must be a string literal");
      return;
    }
    const declared = d.type ? this.tryResolve(d.type) : undefined;
    const v = this.evalConst(init, declared && declared.kind === "int" ? declared : undefined);
    if (v !== undefined) return void this.consts.set(s, v);
    // Already explained by a diagnostic inside the initializer (e.g. a malformed address literal)?
    const sp = this.ctx.span(init);
    const inside = this.ctx.diagnostics.some((x) => x.line >= sp.line && x.line <= (sp.endLine ?? sp.line));
    if (!inside) this.ctx.report("BadConst", init, `'${d.name.text}' is not a compile-time constant`);
  }

  private mapOf(name: string, e: ts.NewExpression): MapInfo | undefined {
    const cls = stdlibName(this.ctx.checker, e.expression);
    const kinds: Record<string, MapInfo["kind"]> = { ArrayMap: "array", HashMap: "hash", LpmTrie: "lpm", SockMap: "sockmap", SockHash: "sockhash" };
    const kind = cls ? kinds[cls] : undefined;
    if (!kind) return undefined; // reported by the subset checker
    const targs = e.typeArguments ?? [];
    const need = { array: 1, hash: 2, lpm: 2, sockmap: 0, sockhash: 1 }[kind];
    if (targs.length !== need) {
      this.ctx.report("BadMap", e, `${cls} needs ${need} explicit type argument${need === 1 ? "" : "s"} (e.g. ${cls}${need === 0 ? "" : need === 1 ? (kind === "array" ? "<u32>" : "<u32>") : "<Key, u32>"})`);
      return undefined;
    }
    let key: Ty = U32;
    let value: Ty = U64;
    try {
      if (kind === "array") value = this.resolveType(targs[0]!, true);
      if (kind === "hash" || kind === "lpm") [key, value] = [this.resolveType(targs[0]!, true), this.resolveType(targs[1]!, true)];
      if (kind === "sockhash") key = this.resolveType(targs[0]!, true);
    } catch (err) {
      if (err instanceof TypeError_) return void this.ctx.report("BadType", err.node, err.message);
      throw err;
    }
    if (kind === "lpm") {
      if (key.kind !== "struct" || key.fields[0]?.name !== "prefixLen" || sizeOf(key.fields[0].ty) !== 4) {
        this.ctx.report("BadMap", targs[0]!, "an LpmTrie key must be an interface whose first field is `prefixLen: u32`");
        return undefined;
      }
      key.netOrder = true;
    }
    const opts = e.arguments?.[0];
    let maxEntries: number | undefined;
    let pinning = 0;
    if (opts && ts.isObjectLiteralExpression(opts)) {
      for (const p of opts.properties) {
        if (!ts.isPropertyAssignment(p) || !ts.isIdentifier(p.name)) continue;
        if (p.name.text === "maxEntries") {
          // Typed as u64 so that a value beyond 32 bits is refused rather than wrapped (0xffffffff is valid).
          const v = this.evalConst(p.initializer, U64);
          if (v?.k === "int" && v.value > 0n && v.value <= 0xffffffffn) maxEntries = Number(v.value);
          else this.ctx.report("BadMap", p.initializer, "maxEntries must be a positive integer constant");
        } else if (p.name.text === "pin") {
          pinning = LIBBPF_PIN_BY_NAME;
        }
      }
    }
    if (maxEntries === undefined) {
      if (!opts || !ts.isObjectLiteralExpression(opts)) this.ctx.report("BadMap", opts ?? e, "map options must be an object literal like { maxEntries: 32 }");
      return undefined;
    }
    const type = { array: MapType.ARRAY, hash: MapType.HASH, lpm: MapType.LPM_TRIE, sockmap: MapType.SOCKMAP, sockhash: MapType.SOCKHASH }[kind];
    const def: IrMap = {
      name, type, keySize: sizeOf(key), valueSize: sizeOf(value), maxEntries,
      flags: kind === "lpm" ? BPF_F_NO_PREALLOC : 0, pinning, keyType: toIrType(key), valueType: toIrType(value),
    };
    // What BPF_MAP_CREATE would refuse (e.g. a key over the kernel's size limit) is an error here, not at load time.
    const refused = mapCreateError(def);
    if (refused) {
      this.ctx.report("BadMap", opts ?? e, `${refused.message}: the kernel refuses to create this map (${refused.errno})`);
      return undefined;
    }
    return { name, kind, key, value, def };
  }

  /** Resolves a type node, or undefined (no diagnostic) when it has no layout. */
  tryResolve(node: ts.TypeNode): Ty | undefined {
    try {
      return this.resolveType(node);
    } catch (err) {
      if (err instanceof TypeError_) return undefined;
      throw err;
    }
  }

  /** Resolves a type node to a DSL type; throws TypeError_ (with the node) when it has no BPF layout. */
  resolveType(node: ts.TypeNode, inMemory = false): Ty {
    const { checker } = this.ctx;
    switch (node.kind) {
      // A plain `number` holds every value of u8..u32 and i8..i32 (TypeScript does not wrap it), so a variable,
      // parameter or return typed `number` is 64-bit signed. In memory a width must be chosen explicitly.
      case ts.SyntaxKind.NumberKeyword:
        if (inMemory) throw new TypeError_(node, "'number' has no width in a struct or map; write u8, u16, u32, i32 (or u64/i64 as bigint)");
        return I64;
      case ts.SyntaxKind.BigIntKeyword: return U64;
      case ts.SyntaxKind.BooleanKeyword: return BOOL;
      case ts.SyntaxKind.VoidKeyword: return { kind: "void" };
      case ts.SyntaxKind.ParenthesizedType: return this.resolveType((node as ts.ParenthesizedTypeNode).type, inMemory);
      case ts.SyntaxKind.LiteralType: {
        const lit = (node as ts.LiteralTypeNode).literal;
        if (ts.isNumericLiteral(lit)) return I32;
        if (lit.kind === ts.SyntaxKind.TrueKeyword || lit.kind === ts.SyntaxKind.FalseKeyword) return BOOL;
        break;
      }
      case ts.SyntaxKind.UnionType: {
        // `Sock | null` (a parameter of a local helper): the socket, nullable.
        const parts = (node as ts.UnionTypeNode).types.filter((t) => !(ts.isLiteralTypeNode(t) && t.literal.kind === ts.SyntaxKind.NullKeyword));
        if (parts.length === 1 && parts.length < (node as ts.UnionTypeNode).types.length) {
          const t = this.resolveType(parts[0]!);
          if (t.kind === "sock") return t;
        }
        break;
      }
      case ts.SyntaxKind.TypeLiteral:
        return this.structOf(node, "anon", (node as ts.TypeLiteralNode).members);
      case ts.SyntaxKind.TupleType: {
        const elems = (node as ts.TupleTypeNode).elements.map((e) => this.resolveType(ts.isNamedTupleMember(e) ? e.type : e, inMemory));
        const first = elems[0];
        if (!first || elems.some((e) => JSON.stringify(e) !== JSON.stringify(first))) break;
        return { kind: "array", elem: first, length: elems.length };
      }
      case ts.SyntaxKind.TypeReference: {
        const ref = node as ts.TypeReferenceNode;
        const sym = resolveSymbol(checker, checker.getSymbolAtLocation(ref.typeName));
        const decl = sym?.declarations?.[0];
        if (!sym || !decl) break;
        if (isStdlibDecl(decl)) {
          const name = sym.getName();
          if (name in INT_ALIASES) return INT_ALIASES[name]!;
          if (name === "Verdict") return U32;
          if (name === "Ip6") return { kind: "ip6" };
          if (name === "Sock") return { kind: "sock" };
          if (name === "SkLookup") return { kind: "ctx" };
          break;
        }
        if (ts.isTypeAliasDeclaration(decl)) return this.resolveType(decl.type, inMemory);
        // An enum type is C's: an int (every member fits, checkEnum made sure).
        if (ts.isEnumDeclaration(decl) || ts.isEnumMember(decl)) return this.enumType(ts.isEnumMember(decl) ? decl.parent : decl);
        if (ts.isInterfaceDeclaration(decl)) return this.structOf(decl, decl.name.text, decl.members);
        break;
      }
    }
    if (ts.isFunctionTypeNode(node)) {
      throw new TypeError_(node, `a function type has no BPF layout: BPF has no function values; call a top-level function by name (if it may be absent, pass a boolean and test it: \`if (on) f(x)\`)`);
    }
    throw new TypeError_(node, `type '${node.getText(this.ctx.sf)}' has no BPF layout (use u8..u64, i8..i64, boolean, Ip6, fixed tuples or interfaces of those)`);
  }

  /** i32 when every member fits (C's enum), else u32. */
  private enumType(decl: ts.EnumDeclaration): IntTy {
    const fitsI32 = decl.members.every((m) => {
      const v = this.ctx.checker.getConstantValue(m);
      return typeof v === "number" && v < 2 ** 31;
    });
    return fitsI32 ? I32 : U32;
  }

  /** The C-layout struct of an interface or type literal (cached per declaration, so LPM marking sticks). */
  private structOf(decl: ts.Node, name: string, members: ts.NodeArray<ts.TypeElement>): StructTy {
    const cached = this.structs.get(decl);
    if (cached) return cached;
    const fields: { name: string; ty: Ty }[] = [];
    for (const m of members) {
      if (!ts.isPropertySignature(m) || !m.type || !ts.isIdentifier(m.name) || m.questionToken) {
        throw new TypeError_(m, "struct members must be required fields with a type (`name: u32`)");
      }
      const ty = this.resolveType(m.type, true);
      if (ty.kind === "sock" || ty.kind === "ctx" || ty.kind === "void") throw new TypeError_(m.type, `a ${ty.kind} cannot be stored in a struct`);
      fields.push({ name: m.name.text, ty });
    }
    const s = layoutStruct(name, fields);
    this.structs.set(decl, s);
    return s;
  }

  /** Binary expressions found not constant, by hint (see evalConst). */
  private readonly notConst = new WeakMap<ts.Node, Set<IntTy | undefined>>();
  private rememberNotConst(e: ts.Node, hint: IntTy | undefined): undefined {
    let s = this.notConst.get(e);
    if (!s) this.notConst.set(e, (s = new Set()));
    s.add(hint);
    return undefined;
  }

  /**
   * The value TypeScript gives a constant integer expression, with no width to wrap at: comparisons use it, so that
   * `x > -1n` compares with -1 (not with the u64 that -1n wraps to) and `i < 3000000000` with three billion. Built
   * from literals, parentheses, unary `- + ~`, binary `+ - *`, enum members and named constants (a constant declared
   * with a width has its value in that width). Undefined for anything else.
   */
  exactValue(e: ts.Expression, depth = 0): bigint | undefined {
    if (depth > 64) return undefined;
    if (ts.isParenthesizedExpression(e) || ts.isSatisfiesExpression(e)) return this.exactValue(e.expression, depth + 1);
    if (ts.isAsExpression(e)) {
      const isConst = ts.isTypeReferenceNode(e.type) && e.type.getText(this.ctx.sf) === "const";
      if (isConst) return this.exactValue(e.expression, depth + 1);
      const c = this.evalConst(e); // `x as u32` converts
      return c?.k === "int" ? c.value : undefined;
    }
    if (ts.isNumericLiteral(e)) return integerLiteralValue(e.getText(this.ctx.sf));
    if (ts.isBigIntLiteral(e)) return BigInt(e.text.slice(0, -1).replace(/_/g, ""));
    if (ts.isPrefixUnaryExpression(e)) {
      const v = this.exactValue(e.operand, depth + 1);
      if (v === undefined) return undefined;
      return e.operator === ts.SyntaxKind.MinusToken ? -v : e.operator === ts.SyntaxKind.PlusToken ? v : e.operator === ts.SyntaxKind.TildeToken ? ~v : undefined;
    }
    if (ts.isBinaryExpression(e)) {
      const op = e.operatorToken.kind;
      if (op !== ts.SyntaxKind.PlusToken && op !== ts.SyntaxKind.MinusToken && op !== ts.SyntaxKind.AsteriskToken) return undefined;
      const a = this.exactValue(e.left, depth + 1);
      const b = a === undefined ? undefined : this.exactValue(e.right, depth + 1);
      if (a === undefined || b === undefined) return undefined;
      return op === ts.SyntaxKind.PlusToken ? a + b : op === ts.SyntaxKind.MinusToken ? a - b : a * b;
    }
    if (ts.isIdentifier(e)) {
      const sym = resolveSymbol(this.ctx.checker, this.ctx.checker.getSymbolAtLocation(e));
      const decl = sym?.declarations?.[0];
      if (!decl) return undefined;
      const moduleConst = ts.isVariableDeclaration(decl) && !!(decl.parent.flags & ts.NodeFlags.Const) && !!decl.initializer &&
        decl.parent.parent.parent === this.ctx.sf; // a local const is a variable of its function
      if (!moduleConst && !isStdlibDecl(decl)) return undefined;
      if (moduleConst && !decl.type) return this.exactValue(decl.initializer!, depth + 1);
      const c = this.evalConst(e);
      return c?.k === "int" ? c.value : undefined;
    }
    if (ts.isPropertyAccessExpression(e)) {
      const c = this.evalConst(e);
      return c?.k === "int" ? c.value : undefined;
    }
    return undefined;
  }

  /** Evaluates a constant expression; `hint` types an integer literal. Undefined when not constant. */
  evalConst(e: ts.Expression, hint?: IntTy): ConstVal | undefined {
    const { checker } = this.ctx;
    if (ts.isParenthesizedExpression(e) || ts.isAsExpression(e) || ts.isSatisfiesExpression(e) || ts.isTypeAssertionExpression(e)) {
      let inner = e.expression;
      const t = ts.isAsExpression(e) && !(ts.isTypeReferenceNode(e.type) && e.type.getText(this.ctx.sf) === "const") ? this.tryResolve(e.type) : undefined;
      return this.evalConst(inner, t?.kind === "int" ? t : hint);
    }
    if (ts.isNumericLiteral(e)) {
      // From the source text (exact; e.text is a rounded double for huge literals, "1e+300" for exponents).
      const exact = integerLiteralValue(e.getText(this.ctx.sf));
      if (exact === undefined) return undefined;
      const ty = hint ?? I32;
      return { k: "int", ty, value: wrap(exact, ty), lit: !hint };
    }
    if (ts.isBigIntLiteral(e)) {
      const ty = hint && hint.bits === 64 ? hint : U64;
      return { k: "int", ty, value: wrap(BigInt(e.text.slice(0, -1).replace(/_/g, "")), ty), lit: !hint };
    }
    if (e.kind === ts.SyntaxKind.TrueKeyword) return { k: "bool", value: true };
    if (e.kind === ts.SyntaxKind.FalseKeyword) return { k: "bool", value: false };
    if (e.kind === ts.SyntaxKind.NullKeyword) return { k: "null" };
    if (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e)) return { k: "string", value: e.text };
    if (ts.isArrayLiteralExpression(e)) {
      const elems = e.elements.map((x) => this.evalConst(x, hint));
      return elems.every((x) => x !== undefined) ? { k: "tuple", elems: elems as ConstVal[] } : undefined;
    }
    if (ts.isObjectLiteralExpression(e)) {
      const fields = new Map<string, ConstVal>();
      for (const p of e.properties) {
        const name = p.name && (ts.isIdentifier(p.name) || ts.isStringLiteral(p.name)) ? p.name.text : undefined;
        const init = ts.isPropertyAssignment(p) ? p.initializer : ts.isShorthandPropertyAssignment(p) ? p.name : undefined;
        const v = name !== undefined && init ? this.evalConst(init) : undefined;
        if (v === undefined) return undefined;
        fields.set(name!, v);
      }
      return { k: "object", fields };
    }
    if (ts.isIdentifier(e)) {
      const shorthand = ts.isShorthandPropertyAssignment(e.parent) && e.parent.name === e;
      const sym = resolveSymbol(checker, shorthand ? checker.getShorthandAssignmentValueSymbol(e.parent) : checker.getSymbolAtLocation(e));
      if (!sym) return undefined;
      const decl = sym.declarations?.[0];
      if (decl && isStdlibDecl(decl)) {
        const v = STDLIB_CONSTS[sym.getName()];
        return v === undefined ? undefined : { k: "int", ty: hint ?? I32, value: BigInt(v), lit: true };
      }
      const c = this.consts.get(sym);
      if (c) return c;
      // A module-level const declared later in the file, or a local const: evaluate its initializer.
      if (decl && ts.isVariableDeclaration(decl) && decl.parent.flags & ts.NodeFlags.Const && decl.initializer && decl.parent.parent.parent === this.ctx.sf) {
        const t = decl.type ? this.tryResolve(decl.type) : undefined;
        return this.evalConst(decl.initializer, t?.kind === "int" ? t : undefined);
      }
      return undefined;
    }
    if (ts.isCallExpression(e) && ts.isIdentifier(e.expression)) {
      const name = stdlibName(checker, e.expression);
      const arg = e.arguments[0];
      if (!arg || !(ts.isStringLiteral(arg) || ts.isNoSubstitutionTemplateLiteral(arg))) return undefined;
      if (name === "ip4") {
        const r = parseIp4(arg.text);
        return r.ok ? { k: "int", ty: U32, value: BigInt(r.value) } : undefined;
      }
      if (name === "ip6") {
        const r = parseIp6(arg.text);
        return r.ok ? { k: "ip6", bytes: r.value } : undefined;
      }
      if (name === "cidr4") {
        const r = parseCidr4(arg.text);
        return r.ok ? { k: "cidr4", ...r.value } : undefined;
      }
      if (name === "cidr6") {
        const r = parseCidr6(arg.text);
        return r.ok ? { k: "cidr6", ...r.value } : undefined;
      }
      return undefined;
    }
    if (ts.isPrefixUnaryExpression(e)) {
      const v = this.evalConst(e.operand, hint);
      if (v?.k === "bool" && e.operator === ts.SyntaxKind.ExclamationToken) return { k: "bool", value: !v.value };
      if (v?.k !== "int") return undefined;
      const r = { [ts.SyntaxKind.MinusToken]: -v.value, [ts.SyntaxKind.PlusToken]: v.value, [ts.SyntaxKind.TildeToken]: ~v.value }[e.operator as number];
      return r === undefined ? undefined : { ...v, value: wrap(r, v.ty) };
    }
    if (ts.isBinaryExpression(e)) {
      // Lowering asks for every subexpression of an operator chain in turn: remembering the chains that are not
      // constant keeps a long sum linear instead of quadratic (a 400-term sum took 18 s).
      const known = this.notConst.get(e);
      if (known?.has(hint)) return undefined;
      const op = e.operatorToken.kind;
      if (op >= ts.SyntaxKind.LessThanToken && op <= ts.SyntaxKind.ExclamationEqualsEqualsToken) {
        // A comparison of constants compares the values TypeScript gives them, not their wrapped bits.
        const x = this.exactValue(e.left);
        const y = x === undefined ? undefined : this.exactValue(e.right);
        const r = x !== undefined && y !== undefined ? foldConst(op, x, y, I64) : undefined;
        if (typeof r === "boolean") return { k: "bool", value: r };
      }
      const a = this.evalConst(e.left, hint);
      if (a?.k !== "int") return this.rememberNotConst(e, hint);
      const b = this.evalConst(e.right, hint);
      if (b?.k !== "int") return this.rememberNotConst(e, hint);
      const ty = a.lit && !b.lit ? b.ty : a.ty;
      const r = foldConst(e.operatorToken.kind, a.value, b.value, ty);
      if (r === undefined) return undefined;
      return typeof r === "boolean" ? { k: "bool", value: r } : { k: "int", ty, value: wrap(r, ty), lit: !!(a.lit && b.lit) };
    }
    if (ts.isElementAccessExpression(e)) {
      const t = this.evalConst(e.expression);
      const i = this.evalConst(e.argumentExpression);
      if (t?.k === "tuple" && i?.k === "int" && i.value >= 0n && i.value < BigInt(t.elems.length)) return t.elems[Number(i.value)];
      return undefined;
    }
    if (ts.isPropertyAccessExpression(e)) {
      // An enum member (`Proto.TCP`, enum or const enum): TypeScript computes its value.
      const member = resolveSymbol(checker, checker.getSymbolAtLocation(e.name));
      if (member && member.flags & ts.SymbolFlags.EnumMember && member.valueDeclaration && ts.isEnumMember(member.valueDeclaration)) {
        const v = checker.getConstantValue(member.valueDeclaration);
        return typeof v === "number" && Number.isInteger(v) ? { k: "int", ty: hint ?? I32, value: wrap(BigInt(v), hint ?? I32), lit: !hint } : undefined;
      }
      const t = this.evalConst(e.expression);
      if (t?.k === "tuple" && e.name.text === "length") return { k: "int", ty: I32, value: BigInt(t.elems.length), lit: true };
      if (t?.k === "object") {
        const f = t.fields.get(e.name.text);
        return f?.k === "int" && f.lit && hint ? { ...f, ty: hint, value: wrap(f.value, hint), lit: false } : f;
      }
    }
    return undefined;
  }
}

/** Folds a binary operator over integer constants (C semantics at `ty`; x/0 = 0, x%0 = x as BPF does). */
export function foldConst(op: ts.SyntaxKind, a: bigint, b: bigint, ty: IntTy): bigint | boolean | undefined {
  const K = ts.SyntaxKind;
  const bits = BigInt(Math.max(ty.bits, 32));
  switch (op) {
    case K.PlusToken: return a + b;
    case K.MinusToken: return a - b;
    case K.AsteriskToken: return a * b;
    case K.SlashToken: return b === 0n ? 0n : a / b;
    case K.PercentToken: return b === 0n ? a : a % b;
    case K.AmpersandToken: return a & b;
    case K.BarToken: return a | b;
    case K.CaretToken: return a ^ b;
    case K.LessThanLessThanToken: return a << (b & (bits - 1n));
    case K.GreaterThanGreaterThanToken: return a >> (b & (bits - 1n));
    case K.GreaterThanGreaterThanGreaterThanToken: return BigInt.asUintN(Number(bits), a) >> (b & (bits - 1n));
    case K.EqualsEqualsEqualsToken: case K.EqualsEqualsToken: return a === b;
    case K.ExclamationEqualsEqualsToken: case K.ExclamationEqualsToken: return a !== b;
    case K.LessThanToken: return a < b;
    case K.LessThanEqualsToken: return a <= b;
    case K.GreaterThanToken: return a > b;
    case K.GreaterThanEqualsToken: return a >= b;
  }
  return undefined;
}

/** A type node without a BPF layout (internal to the front end; becomes a TSBPF2001 diagnostic). */
export class TypeError_ extends Error {
  constructor(readonly node: ts.Node, message: string) {
    super(message);
  }
}
