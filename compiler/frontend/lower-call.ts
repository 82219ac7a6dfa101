/**
 * The part of expression lowering that builds memory and calls: variables' bindings, struct places (local slots and
 * map values, C layout, network-order LPM fields), struct literals, DSL helper calls (ktimeGetNs, trace, ...), map
 * methods with stack-built keys, ctx.assign and calls to local functions.
 */
import { ts } from "@ts-morph/common";
import { Helper } from "../asm/helpers.ts";
import type { Block, Value, VReg } from "../ir/ir.ts";
import { imm, vreg } from "../ir/ir.ts";
import type { FileContext } from "./context.ts";
import type { FnBuilder } from "./builder.ts";
import { wrap, type MapInfo, type ModuleInfo } from "./module.ts";
import { I32, I64, U32, U64, paddingOf, sizeOf, alignOf, stdlibName, resolveSymbol, type IntTy, type Ty } from "./types.ts";
import { isIntConversion } from "./subset.ts";
import { LowerError, ValueOps, constValue, describe, type Place, type V } from "./values.ts";

/** A variable binding in a function scope. */
export type Binding =
  | { b: "val"; val: V }
  | { b: "var"; ty: IntTy | { kind: "bool" }; v: VReg }
  | { b: "ptrvar"; ty: Ty; v: VReg }
  | { b: "ip6var"; words: VReg[] }
  /**
   * A `let` socket. `refs`: it holds lookup results (references), which the release pass follows in `v`. `own`: it
   * may hold a lookup result or a borrowed socket (`ctx.sk`); `v` is then a copy and `own` holds the reference, or 0.
   */
  | { b: "sockvar"; v: VReg; refs: boolean; own?: VReg }
  /** A variable whose declaration failed (already reported): uses are silently skipped. */
  | { b: "poison" };

/** Abandons a statement that uses a poisoned variable, without a second diagnostic. */
export class PoisonedUse extends Error {}


/** Licenses the kernel treats as GPL-compatible (include/linux/license.h), required by GPL-only helpers. */
const GPL_COMPATIBLE = new Set(["GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL", "Dual MIT/GPL", "Dual MPL/GPL"]);

/** Bindings, places, struct building and calls; {@link ExprLowerer} adds operators and conditions. */
export abstract class CallLowerer extends ValueOps {
  readonly scope = new Map<ts.Symbol, Binding>();
  /** Vregs that belong to mutable variables (copy before binding a const to them). */
  readonly varVregs = new Set<VReg>();
  /** Where the next socket-map lookup puts its reference (a socket variable's register), set by `sockInto`. */
  protected sockDst: VReg | undefined;

  constructor(readonly fx: FileContext, readonly mod: ModuleInfo, b: FnBuilder, readonly ctxVreg: VReg | undefined) {
    super(b);
  }

  /** Fails the current construct with a diagnostic at `node`. */
  fail(key: Parameters<FileContext["error"]>[0], node: ts.Node, message: string): never {
    throw this.fx.error(key, node, message);
  }

  /** Lowers an expression to a value. `hint` types untyped literals. */
  sym(e: ts.Node): ts.Symbol | undefined {
    // `{ port }`: the name of a shorthand property stands for the variable, not for the property it declares.
    if (ts.isIdentifier(e) && ts.isShorthandPropertyAssignment(e.parent) && e.parent.name === e) {
      return resolveSymbol(this.fx.checker, this.fx.checker.getShorthandAssignmentValueSymbol(e.parent));
    }
    return resolveSymbol(this.fx.checker, this.fx.checker.getSymbolAtLocation(e));
  }

  readBinding(bnd: Binding): V {
    switch (bnd.b) {
      case "val": return bnd.val;
      case "var": return bnd.ty.kind === "bool" ? { k: "bool", v: vreg(bnd.v) } : { k: "int", ty: bnd.ty, v: vreg(bnd.v) };
      case "ptrvar": return { k: "ptr", ty: bnd.ty, v: bnd.v };
      case "ip6var": return { k: "ip6", words: bnd.words.map(vreg) };
      case "sockvar": return { k: "sock", v: bnd.v };
      case "poison": throw new PoisonedUse();
    }
  }

  placeOf(x: V, _node: ts.Node): Place | undefined {
    if (x.k === "place") return x.place;
    if (x.k === "ptr" && (x.ty.kind === "struct" || x.ty.kind === "array")) return { base: { ptr: x.v }, offset: x.off ?? 0, ty: x.ty };
    return undefined;
  }

  /** The place of field `name` inside a struct place. */
  field(p: Place, name: string, node: ts.Node): Place {
    if (p.ty.kind !== "struct") this.fail("Unsupported", node, `'${name}' is not a struct field`);
    const idx = p.ty.fields.findIndex((f) => f.name === name);
    if (idx < 0) this.fail("Unsupported", node, `struct ${p.ty.name} has no field '${name}'`);
    const f = p.ty.fields[idx]!;
    return { base: p.base, offset: p.offset + f.offset, ty: f.ty, net: p.ty.netOrder && idx > 0 };
  }

  convertOr(x: V, ty: IntTy, node: ts.Node): Value {
    try {
      return this.convert(x, ty).v;
    } catch (err) {
      if (err instanceof LowerError) this.fail("Unsupported", node, err.message);
      throw err;
    }
  }

  /** A boolean-valued expression materialized as 0/1. */
  storeValue(p: Place, x: V, node: ts.Node): void {
    const t = p.ty;
    if (t.kind === "int") return this.storeInt(p, x);
    if (t.kind === "bool") {
      const v = x.k === "bool" ? x.v : this.convertOr(x, I32, node);
      return this.storeRaw(p, 0, 1, v);
    }
    if (t.kind === "ip6") {
      if (x.k !== "ip6") this.fail("Unsupported", node, `expected an Ip6, got ${describe(x)}`);
      return x.words.forEach((w, i) => this.storeRaw(p, 4 * i, 4, w));
    }
    const src = this.placeOf(x, node);
    if (src && (t.kind === "struct" || t.kind === "array")) return this.copyPlace(p, src);
    if (x.k === "const" && x.c.k === "tuple" && t.kind === "array") {
      return x.c.elems.forEach((c, i) => this.storeValue({ base: p.base, offset: p.offset + i * sizeOf(t.elem), ty: t.elem }, constValue(c), node));
    }
    this.fail("Unsupported", node, `cannot store ${describe(x)} into ${t.kind === "struct" ? t.name : t.kind}`);
  }

  /** Copies a struct between places, 8/4/2/1 bytes at a time. */
  private copyPlace(dst: Place, src: Place): void {
    const size = sizeOf(dst.ty);
    let off = 0;
    while (off < size) {
      const chunk = ([8, 4, 2, 1] as const).find((c) => off + c <= size && off % c === 0 && c <= alignOf(dst.ty))!;
      const v = this.loadInt({ base: src.base, offset: src.offset + off, ty: { kind: "int", bits: (chunk * 8) as 8, signed: false } }, U64);
      this.storeRaw(dst, off, chunk, v.v);
      off += chunk;
    }
  }

  /** Builds a struct from an object literal (or copies a struct value) into `p`, zeroing padding. */
  buildStruct(p: Place, e: ts.Expression): void {
    const t = p.ty;
    let inner = e;
    while (ts.isParenthesizedExpression(inner) || ts.isAsExpression(inner) || ts.isSatisfiesExpression(inner)) inner = inner.expression;
    if (t.kind === "struct" && ts.isObjectLiteralExpression(inner)) {
      for (const pad of paddingOf(t)) this.zero(p, pad.offset, pad.size);
      for (const prop of inner.properties) {
        const name = prop.name && ts.isIdentifier(prop.name) ? prop.name.text : undefined;
        if (!name || !(ts.isPropertyAssignment(prop) || ts.isShorthandPropertyAssignment(prop))) {
          this.fail("Unsupported", prop, "struct literals take `name: value` fields only");
        }
        const fp = this.field(p, name, prop.name!);
        const init = ts.isPropertyAssignment(prop) ? prop.initializer : prop.name;
        if (fp.ty.kind === "struct" || fp.ty.kind === "array") this.buildStruct(fp, init);
        else this.storeValue(fp, this.expr(init, fp.ty.kind === "int" ? fp.ty : undefined), init);
      }
      return;
    }
    if (t.kind === "array" && ts.isArrayLiteralExpression(inner)) {
      if (inner.elements.length !== t.length) this.fail("IndexOutOfRange", inner, `expected ${t.length} elements, got ${inner.elements.length}`);
      inner.elements.forEach((el, i) => {
        const ep: Place = { base: p.base, offset: p.offset + i * sizeOf(t.elem), ty: t.elem };
        if (t.elem.kind === "struct" || t.elem.kind === "array") this.buildStruct(ep, el);
        else this.storeValue(ep, this.expr(el, t.elem.kind === "int" ? t.elem : undefined), el);
      });
      return;
    }
    this.storeValue(p, this.expr(e), e);
  }

  private zero(p: Place, offset: number, size: number): void {
    let off = offset;
    while (off < offset + size) {
      const chunk = ([8, 4, 2, 1] as const).find((c) => off + c <= offset + size && (p.offset + off) % c === 0)!;
      this.storeRaw(p, off, chunk, imm(0));
      off += chunk;
    }
  }

  // ------------------------------------------------------------------------------------------------------------
  // Calls

  /** Lowers a call: DSL helpers, map methods, ctx.assign, local functions. */
  call(e: ts.CallExpression): V {
    const callee = e.expression;
    if (ts.isIdentifier(callee)) {
      const name = stdlibName(this.fx.checker, callee);
      if (name === "ktimeGetNs") return this.helper(Helper.ktime_get_ns, [], U64);
      if (name === "getPrandomU32") return this.helper(Helper.get_prandom_u32, [], U32);
      if (name === "trace") return this.trace(e);
      const s = this.sym(callee);
      if (isIntConversion(callee, s) && e.arguments.length === 1) {
        // BigInt(x): the same value as a bigint — an i64 for a signed source (BigInt(-3) < 0n, as in TypeScript), a
        // u64 for an unsigned one; Number(x): a `number` (i64), exact as TypeScript's Number(bigint) is below 2^53
        // (and a u32/i32 target keeps the low 32 bits, as the assignment rules say).
        const arg = e.arguments[0]!;
        const x = this.expr(arg);
        const signed = x.k === "int" && (x.lit ? x.v.kind === "imm" && wrap(x.v.value, x.ty) < 0n : x.ty.signed);
        const to = callee.text === "BigInt" ? (signed ? I64 : U64) : I64;
        try {
          return this.convert(x, to);
        } catch (err) {
          if (err instanceof LowerError) this.fail("Unsupported", arg, err.message);
          throw err;
        }
      }
      const fn = s && this.mod.functions.get(s);
      if (fn) return this.callLocal(fn, e);
      this.fail("BadCall", callee, `'${callee.text}' cannot be called here`);
    }
    if (ts.isPropertyAccessExpression(callee)) {
      const method = callee.name.text;
      if (method === "has" || method === "equals" || method === "includes") return this.condValue(e);
      const recv = this.expr(callee.expression);
      if (recv.k === "ctx" && method === "assign") return this.skAssign(e);
      if (recv.k === "map") return this.mapCall(recv.map, method, e);
    }
    this.fail("BadCall", callee, `'${callee.getText(this.fx.sf)}' cannot be called here`);
  }

  /** Calls helper `id`; the result is an integer of type `ty`. */
  helper(id: number, args: Value[], ty: IntTy): V {
    const dst = this.b.vreg();
    this.b.emit({ op: "call", dst, helper: id, args });
    return { k: "int", ty, v: vreg(dst) };
  }

  private skAssign(e: ts.CallExpression): V {
    const [skArg, flagsArg] = e.arguments;
    if (!skArg) this.fail("BadCall", e, "assign() needs a socket (or null)");
    const sk = this.expr(skArg);
    let skv: Value;
    if (sk.k === "null") skv = imm(0);
    else if (sk.k === "sock") skv = vreg(sk.v);
    else this.fail("Unsupported", skArg, `assign() takes a socket, got ${describe(sk)}`);
    const flags = flagsArg ? this.convertOr(this.expr(flagsArg, U64), U64, flagsArg) : imm(0);
    return this.helper(Helper.sk_assign, [vreg(this.ctxVreg!), skv, flags], I32);
  }

  private trace(e: ts.CallExpression): V {
    const [fmt, ...rest] = e.arguments;
    if (!fmt || !(ts.isStringLiteral(fmt) || ts.isNoSubstitutionTemplateLiteral(fmt))) this.fail("String", fmt ?? e, "the trace format must be a string literal");
    if (rest.length > 3) this.fail("TraceArgs", rest[3]!, `trace takes at most 3 values after the format, got ${rest.length}`);
    if (!GPL_COMPATIBLE.has(this.mod.license)) {
      this.fail("GplOnly", e.expression, `trace (bpf_trace_printk) is GPL-only, and the license is "${this.mod.license}"`);
    }
    const bytes = new TextEncoder().encode(fmt.text + "\0");
    const size = Math.ceil(bytes.length / 8) * 8;
    const slot = this.b.tempSlot(size, 8);
    for (let off = 0; off < size; off += 8) {
      let word = 0n;
      for (let i = 7; i >= 0; i--) word = (word << 8n) | BigInt(bytes[off + i] ?? 0);
      this.b.emit({ op: "slot_store", slot, offset: off, size: 8, value: imm(BigInt.asIntN(64, word)) });
    }
    const args = rest.map((a) => {
      const v = this.expr(a);
      return v.k === "bool" ? v.v : this.full64(v);
    });
    const ptr = this.b.vreg("stack");
    this.b.emit({ op: "slot_addr", dst: ptr, slot, offset: 0 });
    return this.helper(Helper.trace_printk, [vreg(ptr), imm(bytes.length), ...args], I32);
  }

  /** A pointer to `key` laid out as the map's key type (on the stack unless it already is memory). */
  keyPtr(map: MapInfo, arg: ts.Expression): Value {
    const kt = map.key;
    if (kt.kind === "int") {
      const x = this.expr(arg, kt);
      if ((map.kind === "array" || map.kind === "sockmap") && x.k === "int" && x.v.kind === "imm" && (x.v.value < 0n || x.v.value >= BigInt(map.def.maxEntries))) {
        this.fail("IndexOutOfRange", arg, `index ${x.v.value} is out of range for map '${map.name}' (maxEntries ${map.def.maxEntries})`);
      }
      if (x.k === "ptr" && !x.off && x.ty.kind === "int" && x.ty.bits === kt.bits) return vreg(x.v); // a map value is memory already
      const slot = this.b.tempSlot(kt.bits / 8, (kt.bits / 8) as 1);
      this.storeInt({ base: { slot }, offset: 0, ty: kt }, x);
      return this.slotAddr(slot);
    }
    let inner = arg;
    while (ts.isParenthesizedExpression(inner)) inner = inner.expression;
    if (!ts.isObjectLiteralExpression(inner) && !ts.isArrayLiteralExpression(inner)) {
      const x = this.expr(arg);
      const p = this.placeOf(x, arg);
      if (p && "ptr" in p.base && p.offset === 0) return vreg(p.base.ptr);
      if (p && "slot" in p.base) return this.slotAddr(p.base.slot, p.offset);
    }
    const slot = this.b.tempSlot(sizeOf(kt), alignOf(kt) as 1);
    this.buildStruct({ base: { slot }, offset: 0, ty: kt }, arg);
    return this.slotAddr(slot);
  }

  /** `slot_addr`. */
  slotAddr(slot: number, offset = 0): Value {
    const dst = this.b.vreg("stack");
    this.b.emit({ op: "slot_addr", dst, slot, offset });
    return vreg(dst);
  }

  private mapRef(map: MapInfo): Value {
    const dst = this.b.vreg("map");
    this.b.emit({ op: "map_ref", dst, map: map.name });
    return vreg(dst);
  }

  /** A pointer to a value of the map's value type. */
  private valuePtr(map: MapInfo, arg: ts.Expression): Value {
    const vt = map.value;
    if (vt.kind === "int" || vt.kind === "bool") {
      const x = this.expr(arg, vt.kind === "int" ? vt : undefined);
      const size = vt.kind === "int" ? vt.bits / 8 : 1;
      const slot = this.b.tempSlot(size, size as 1);
      this.storeValue({ base: { slot }, offset: 0, ty: vt }, x, arg);
      return this.slotAddr(slot);
    }
    return this.keyPtr({ ...map, key: vt }, arg);
  }

  private mapCall(map: MapInfo, method: string, e: ts.CallExpression): V {
    const [a0, a1, a2] = e.arguments;
    const sockish = map.kind === "sockmap" || map.kind === "sockhash";
    if (!a0) this.fail("BadCall", e, `${method}() needs a key`);
    switch (method) {
      case "lookup": {
        const into = this.sockDst;
        this.sockDst = undefined;
        const key = this.keyPtr(map, a0);
        const dst = sockish && into !== undefined ? into : this.b.vreg(sockish ? "sock_or_null" : "map_value_or_null");
        this.b.emit({ op: "call", dst, helper: Helper.map_lookup_elem, args: [this.mapRef(map), key], resultKind: sockish ? "sock_or_null" : "map_value_or_null" });
        return sockish ? { k: "sock", v: dst } : { k: "ptr", ty: map.value, v: dst };
      }
      case "update": {
        if (!a1) this.fail("BadCall", e, "update() needs a key and a value");
        const key = this.keyPtr(map, a0);
        let value: Value;
        if (sockish) {
          const s = this.expr(a1);
          if (s.k !== "sock") this.fail("Unsupported", a1, "update() of a socket map takes a socket");
          value = vreg(s.v);
        } else value = this.valuePtr(map, a1);
        const flags = a2 ? this.convertOr(this.expr(a2, U64), U64, a2) : imm(0);
        return this.helper(Helper.map_update_elem, [this.mapRef(map), key, value, flags], I32);
      }
      case "delete":
        return this.helper(Helper.map_delete_elem, [this.mapRef(map), this.keyPtr(map, a0)], I32);
      case "increment":
        return this.incrementMap(map, a0, a1, e);
    }
    this.fail("BadCall", e.expression, `maps have no method '${method}'`);
  }

  /** lookup + atomic add; a hash map inserts `by` when the key is missing. */
  private incrementMap(map: MapInfo, keyArg: ts.Expression, byArg: ts.Expression | undefined, e: ts.CallExpression): V {
    const vt = map.value;
    if (vt.kind !== "int" || (map.kind !== "array" && map.kind !== "hash")) this.fail("BadCall", e, "increment() needs an ArrayMap or HashMap with integer values");
    const by = byArg ? this.convert(this.expr(byArg, vt), vt).v : imm(1);
    const key = this.keyPtr(map, keyArg);
    const p = this.b.vreg("map_value_or_null");
    this.b.emit({ op: "call", dst: p, helper: Helper.map_lookup_elem, args: [this.mapRef(map), key], resultKind: "map_value_or_null" });
    const hit = this.b.newBlock(), miss = this.b.newBlock(), done = this.b.newBlock();
    this.b.terminate({ op: "cbr", cmp: "eq", width: 64, a: vreg(p), b: imm(0), then: map.kind === "hash" ? miss.id : done.id, else: hit.id });
    this.b.setBlock(hit);
    if (vt.bits >= 32) {
      this.b.emit({ op: "atomic_add", ptr: p, offset: 0, size: (vt.bits / 8) as 4 | 8, value: by });
    } else {
      // No atomic add below 32 bits in BPF: load, add, store.
      const cur = this.loadInt({ base: { ptr: p }, offset: 0, ty: vt }, vt);
      this.storeRaw({ base: { ptr: p }, offset: 0, ty: vt }, 0, (vt.bits / 8) as 1, this.bin("add", 32, cur.v, by, I32));
    }
    this.b.terminate({ op: "br", target: done.id });
    if (map.kind === "hash") {
      this.b.setBlock(miss);
      const slot = this.b.tempSlot(vt.bits / 8, (vt.bits / 8) as 1);
      this.storeInt({ base: { slot }, offset: 0, ty: vt }, { k: "int", ty: vt, v: by });
      // BPF_NOEXIST: if another CPU inserted meanwhile, its count stands (one increment may be lost, never doubled).
      this.helper(Helper.map_update_elem, [this.mapRef(map), key, this.slotAddr(slot), imm(1)], I32);
      this.b.terminate({ op: "br", target: done.id });
    }
    this.b.setBlock(done);
    return { k: "void" };
  }

  /**
   * Calls a local function (the backend inlines it). A struct argument is passed by reference, as TypeScript passes
   * objects (the callee sees the caller's struct or map value); a struct result is written by the callee into a
   * slot of the caller, whose address is the last argument. A missing argument takes the parameter's default.
   */
  private callLocal(fn: ts.FunctionDeclaration, e: ts.CallExpression): V {
    const args: Value[] = [];
    fn.parameters.forEach((p, i) => {
      const given = e.arguments[i];
      if (!p.type) this.fail("BadCall", e, "every parameter of a local function needs a type");
      const t = this.mod.tryResolve(p.type);
      if (p.questionToken && !p.initializer) {
        if (t?.kind !== "sock") return void args.push(this.optionalArg(t, given));
        if (!given) return void args.push(imm(0)); // `sk?: Sock`: an omitted socket is null
      }
      if (!given && !p.initializer) this.fail("BadCall", e, `'${fn.name!.text}' needs an argument for '${p.name.getText(this.fx.sf)}'`);
      if (!given && this.mod.evalConst(p.initializer!, t?.kind === "int" ? t : undefined) === undefined) {
        this.fail("Unsupported", p.initializer!, "a default parameter value must be a constant (write the argument at the call when it depends on other values)");
      }
      const a = given ?? p.initializer!;
      if (t?.kind === "struct" || t?.kind === "array") return void args.push(this.structRef(t, a));
      const x = this.expr(a, t?.kind === "int" ? t : undefined);
      if (t?.kind === "int") args.push(this.convertOr(x, t, a));
      else if (t?.kind === "bool" && x.k === "bool") args.push(x.v);
      else if (t?.kind === "ctx" && x.k === "ctx") args.push(vreg(x.v));
      else if (t?.kind === "ip6" && x.k === "ip6") args.push(...x.words);
      else if (t?.kind === "sock" && (x.k === "sock" || x.k === "null")) args.push(x.k === "sock" ? vreg(x.v) : imm(0));
      else this.fail("BadType", p.type, `parameters of local functions must be integers, booleans, Ip6, structs, sockets or the context`);
    });
    const rt = fn.type ? this.mod.tryResolve(fn.type) : { kind: "void" as const };
    let result: Place | undefined;
    if (rt?.kind === "struct" || rt?.kind === "array") {
      // Lives as long as the function: the caller may keep the result in a const.
      const slot = this.b.slot(sizeOf(rt), alignOf(rt) as 1, `${fn.name!.text}()`);
      result = { base: { slot }, offset: 0, ty: rt };
      args.push(this.slotAddr(slot));
    }
    const dst = this.b.vreg();
    this.b.emit({ op: "call_local", dst, callee: fn.name!.text, args });
    if (result) return { k: "place", place: result };
    if (rt?.kind === "int") return { k: "int", ty: rt, v: vreg(dst) };
    if (rt?.kind === "bool") return { k: "bool", v: vreg(dst) };
    return { k: "void" };
  }

  /**
   * The argument of an optional parameter (`x?: u32`): 0 when omitted or `undefined`, else a pointer to the value (a
   * temporary holding an integer or boolean, the struct itself, or a map value that may be null, passed on as is).
   */
  private optionalArg(t: Ty | undefined, given: ts.Expression | undefined): Value {
    while (given && ts.isParenthesizedExpression(given)) given = given.expression;
    if (!given || (ts.isIdentifier(given) && given.text === "undefined")) return imm(0);
    if (ts.isConditionalExpression(given)) {
      // `f(c ? undefined : 4)`: one pointer register, chosen like the value.
      const dst = this.b.vreg("stack");
      const yes = this.b.newBlock(), no = this.b.newBlock(), join = this.b.newBlock();
      this.cond(given.condition, yes, no);
      for (const [block, arm] of [[yes, given.whenTrue], [no, given.whenFalse]] as const) {
        this.b.setBlock(block);
        this.b.emit({ op: "mov", dst, src: this.optionalArg(t, arm) });
        this.b.jumpTo(join);
      }
      return vreg(dst);
    }
    if ((t?.kind === "struct" || t?.kind === "array") && (ts.isObjectLiteralExpression(given) || ts.isArrayLiteralExpression(given))) {
      return this.structRef(t, given);
    }
    const x = this.expr(given, t?.kind === "int" ? t : undefined);
    if (t?.kind === "struct" || t?.kind === "array") {
      // A struct or map value that may be null is passed as it is: null stays undefined's 0.
      if (x.k === "null") return imm(0);
      if (x.k === "ptr" && !x.off) return vreg(x.v);
      return this.structRef(t, given, x);
    }
    if (x.k === "null") return imm(0);
    if (x.k === "ptr" && !x.off && t && JSON.stringify(x.ty) === JSON.stringify(t)) return vreg(x.v);
    const size = t?.kind === "int" ? t.bits / 8 : 1;
    const slot = this.b.tempSlot(size, size as 1);
    this.storeValue({ base: { slot }, offset: 0, ty: t! }, x, given);
    return this.slotAddr(slot);
  }

  /** A pointer to a struct argument: the struct itself when it is already in memory, else a temporary built from `arg`. */
  private structRef(t: Ty, arg: ts.Expression, evaluated?: V): Value {
    let inner = arg;
    while (ts.isParenthesizedExpression(inner)) inner = inner.expression;
    if (!ts.isObjectLiteralExpression(inner) && !ts.isArrayLiteralExpression(inner)) {
      const x = evaluated ?? this.expr(arg);
      const p = this.placeOf(x, arg);
      if (p && sizeOf(p.ty) === sizeOf(t)) {
        if ("slot" in p.base) return this.slotAddr(p.base.slot, p.offset);
        if (p.offset === 0) return vreg(p.base.ptr);
        return this.bin("add", 64, vreg(p.base.ptr), imm(p.offset), U64);
      }
      if (!p) this.fail("Unsupported", arg, `expected a struct, got ${describe(x)}`);
    }
    const slot = this.b.tempSlot(sizeOf(t), alignOf(t) as 1);
    this.buildStruct({ base: { slot }, offset: 0, ty: t }, arg);
    return this.slotAddr(slot);
  }


  /** Lowers an expression to a value (implemented by the expression lowerer). */
  abstract expr(e: ts.Expression, hint?: IntTy): V;
  /** A boolean-valued expression as 0/1 (implemented by the expression lowerer). */
  abstract condValue(e: ts.Expression): V;
  /** Branches to `t` when `e` is true, else to `f` (implemented by the expression lowerer). */
  abstract cond(e: ts.Expression, t: Block & { done: boolean }, f: Block & { done: boolean }): void;
}
