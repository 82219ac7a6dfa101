/**
 * The front end's view of DSL types: integers with width and signedness, booleans, Ip6, C-layout structs and fixed
 * arrays, sockets and the context. TypeScript erases `type u16 = number` to `number`, so widths come from the type
 * *nodes* the user wrote (annotations, interface fields, map type arguments), resolved here.
 */
import { ts } from "@ts-morph/common";
import type { IrType } from "../ir/ir.ts";

/** An integer type. `number` without a width is i32 (C's int); `bigint` without a width is u64. */
export interface IntTy {
  kind: "int";
  bits: 8 | 16 | 32 | 64;
  signed: boolean;
}
/** A C-layout struct (an interface or type literal). `netOrder`: fields after the first are stored big-endian (LPM keys). */
export interface StructTy {
  kind: "struct";
  name: string;
  size: number;
  align: number;
  fields: { name: string; offset: number; ty: Ty }[];
  netOrder: boolean;
}
/** Every type a DSL value can have. */
export type Ty =
  | IntTy
  | { kind: "bool" }
  | { kind: "ip6" }
  | StructTy
  | { kind: "array"; elem: Ty; length: number }
  | { kind: "sock" }
  | { kind: "ctx" }
  | { kind: "void" };

/** Integer type constructor. */
export const int = (bits: 8 | 16 | 32 | 64, signed: boolean): IntTy => ({ kind: "int", bits, signed });
/** u8. */
export const U8 = int(8, false);
/** u16. */
export const U16 = int(16, false);
/** u32. */
export const U32 = int(32, false);
/** u64 (also plain `bigint`). */
export const U64 = int(64, false);
/** i32 (also plain `number`). */
export const I32 = int(32, true);
/** i64. */
export const I64 = int(64, true);
/** boolean. */
export const BOOL: Ty = { kind: "bool" };

/** The integer type aliases of the stdlib by name. */
export const INT_ALIASES: Readonly<Record<string, IntTy>> = {
  u8: U8, u16: U16, u32: U32, u64: U64,
  i8: int(8, true), i16: int(16, true), i32: I32, i64: I64,
};

/** Size in bytes of a type stored in memory. */
export function sizeOf(t: Ty): number {
  switch (t.kind) {
    case "int": return t.bits / 8;
    case "bool": return 1;
    case "ip6": return 16;
    case "struct": return t.size;
    case "array": return sizeOf(t.elem) * t.length;
    default: return 8;
  }
}

/** Alignment in bytes (C rules). */
export function alignOf(t: Ty): number {
  switch (t.kind) {
    case "int": return t.bits / 8;
    case "bool": return 1;
    case "ip6": return 4;
    case "struct": return t.align;
    case "array": return alignOf(t.elem);
    default: return 8;
  }
}

/** Lays out fields as a C compiler would: each at its alignment, size rounded up to the largest alignment. */
export function layoutStruct(name: string, fields: { name: string; ty: Ty }[], netOrder = false): StructTy {
  let offset = 0;
  let align = 1;
  const out: StructTy["fields"] = [];
  for (const f of fields) {
    const a = alignOf(f.ty);
    offset = Math.ceil(offset / a) * a;
    out.push({ name: f.name, offset, ty: f.ty });
    offset += sizeOf(f.ty);
    align = Math.max(align, a);
  }
  return { kind: "struct", name, size: Math.ceil(offset / align) * align || align, align, fields: out, netOrder };
}

/** Byte ranges inside a struct that no field covers (must be zeroed in map keys). */
export function paddingOf(t: StructTy): { offset: number; size: number }[] {
  const covered = new Uint8Array(t.size);
  for (const f of t.fields) covered.fill(1, f.offset, f.offset + sizeOf(f.ty));
  const out: { offset: number; size: number }[] = [];
  for (let i = 0; i < t.size; i++) {
    if (covered[i]) continue;
    const start = i;
    while (i < t.size && !covered[i]) i++;
    out.push({ offset: start, size: i - start });
  }
  return out;
}

const C_INT_NAMES: Record<string, string> = {
  "8u": "unsigned char", "16u": "unsigned short", "32u": "unsigned int", "64u": "unsigned long long",
  "8s": "signed char", "16s": "short", "32s": "int", "64s": "long long",
};

/** The C-layout IR type (for BTF) of a DSL type. */
export function toIrType(t: Ty): IrType {
  switch (t.kind) {
    case "int": return { kind: "int", name: C_INT_NAMES[`${t.bits}${t.signed ? "s" : "u"}`]!, bytes: (t.bits / 8) as 1 | 2 | 4 | 8, signed: t.signed };
    case "bool": return { kind: "bool" };
    case "ip6": return { kind: "array", elem: toIrType(U32), length: 4 };
    case "array": return { kind: "array", elem: toIrType(t.elem), length: t.length };
    case "struct":
      return { kind: "struct", name: t.name, size: t.size, align: t.align, fields: t.fields.map((f) => ({ name: f.name, offset: f.offset, type: toIrType(f.ty) })) };
    default: return { kind: "int", name: "unsigned long long", bytes: 8, signed: false };
  }
}

/** Human-readable type name for messages. */
export function tyName(t: Ty): string {
  switch (t.kind) {
    case "int": return `${t.signed ? "i" : "u"}${t.bits}`;
    case "struct": return t.name;
    case "array": return `[${tyName(t.elem)} x ${t.length}]`;
    default: return t.kind;
  }
}

/** True when `node` (or the symbol it names) is declared in the tsbpf stdlib. */
export function isStdlibDecl(decl: ts.Node | undefined): boolean {
  return !!decl && /[\\/]stdlib[\\/]index\.d\.ts$/.test(decl.getSourceFile().fileName);
}

/** Follows import aliases to the declared symbol. */
export function resolveSymbol(checker: ts.TypeChecker, sym: ts.Symbol | undefined): ts.Symbol | undefined {
  if (sym && sym.flags & ts.SymbolFlags.Alias) return checker.getAliasedSymbol(sym);
  return sym;
}

/** The stdlib name a node refers to (`"ip4"`, `"SockMap"`, `"u16"`...), or undefined when it is not a stdlib name. */
export function stdlibName(checker: ts.TypeChecker, node: ts.Node): string | undefined {
  const sym = resolveSymbol(checker, checker.getSymbolAtLocation(node));
  const decl = sym?.declarations?.[0];
  return decl && isStdlibDecl(decl) ? sym!.getName() : undefined;
}

/** The stdlib name of a TypeScript type's symbol (`SkLookup`, `Sock`, `Ip6`, `SockMap`, ...), if any. */
export function stdlibTypeName(type: ts.Type): string | undefined {
  const sym = type.aliasSymbol ?? type.getSymbol();
  const decl = sym?.declarations?.[0];
  return decl && isStdlibDecl(decl) ? sym!.getName() : undefined;
}
