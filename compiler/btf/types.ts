/**
 * The BTF type model (include/uapi/linux/btf.h). Types are referenced by id: id 0 is `void`, the first type in a BTF
 * blob has id 1. Names are kept as strings here; the encoder builds the string table and the decoder resolves it, so a
 * model round-trips through bytes without the caller handling string offsets.
 */

/** BTF magic number, stored little-endian as the first two bytes of `.BTF` and `.BTF.ext`. */
export const BTF_MAGIC = 0xeb9f;
/** The only BTF version the kernel accepts. */
export const BTF_VERSION = 1;
/** Size of `struct btf_header`. */
export const BTF_HEADER_SIZE = 24;
/** Largest vlen a type can carry (16 bits of `info`). */
export const BTF_MAX_VLEN = 0xffff;

/** `BTF_KIND_*` numbers, the 5 bits at 24..28 of `btf_type.info`. */
export const enum BtfKind {
  UNKN = 0,
  INT = 1,
  PTR = 2,
  ARRAY = 3,
  STRUCT = 4,
  UNION = 5,
  ENUM = 6,
  FWD = 7,
  TYPEDEF = 8,
  VOLATILE = 9,
  CONST = 10,
  RESTRICT = 11,
  FUNC = 12,
  FUNC_PROTO = 13,
  VAR = 14,
  DATASEC = 15,
  FLOAT = 16,
  DECL_TAG = 17,
  TYPE_TAG = 18,
  ENUM64 = 19,
}

/** Kind names as bpftool prints them, indexed by kind number. */
export const BTF_KIND_NAMES: readonly string[] = [
  "UNKN", "INT", "PTR", "ARRAY", "STRUCT", "UNION", "ENUM", "FWD", "TYPEDEF", "VOLATILE", "CONST", "RESTRICT",
  "FUNC", "FUNC_PROTO", "VAR", "DATASEC", "FLOAT", "DECL_TAG", "TYPE_TAG", "ENUM64",
];

/** Bits of an INT's encoding (`BTF_INT_ENCODING`). */
export const enum IntEncoding {
  NONE = 0,
  SIGNED = 1,
  CHAR = 2,
  BOOL = 4,
}

/** Linkage of a FUNC (`enum btf_func_linkage`) and of a VAR (`BTF_VAR_*`; only static=0 and global=1 exist). */
export const enum Linkage {
  STATIC = 0,
  GLOBAL = 1,
  EXTERN = 2,
}

/** A struct or union member. `bitOffset` counts from the start of the aggregate; `bitfieldSize` 0 = not a bitfield. */
export interface BtfMember {
  name: string;
  type: number;
  bitOffset: number;
  bitfieldSize?: number;
}

/** One FUNC_PROTO parameter; a trailing `{ name: "", type: 0 }` marks varargs. */
export interface BtfParam {
  name: string;
  type: number;
}

/** One DATASEC entry: a VAR (or FUNC for extern ksyms) at `offset` in the section. */
export interface BtfVarSecInfo {
  type: number;
  offset: number;
  size: number;
}

/** One BTF type. `name` is "" for anonymous types. */
export type BtfType =
  | { kind: BtfKind.INT; name: string; size: number; bits: number; offset: number; encoding: number }
  | { kind: BtfKind.PTR; name: string; type: number }
  | { kind: BtfKind.ARRAY; name: string; type: number; indexType: number; nelems: number }
  | { kind: BtfKind.STRUCT | BtfKind.UNION; name: string; size: number; members: BtfMember[]; kindFlag?: boolean }
  | { kind: BtfKind.ENUM; name: string; size: number; signed: boolean; values: { name: string; value: number }[] }
  | { kind: BtfKind.ENUM64; name: string; size: number; signed: boolean; values: { name: string; value: bigint }[] }
  | { kind: BtfKind.FWD; name: string; union: boolean }
  | { kind: BtfKind.TYPEDEF | BtfKind.VOLATILE | BtfKind.CONST | BtfKind.RESTRICT | BtfKind.TYPE_TAG; name: string; type: number }
  | { kind: BtfKind.FUNC; name: string; type: number; linkage: number }
  | { kind: BtfKind.FUNC_PROTO; name: string; returnType: number; params: BtfParam[] }
  | { kind: BtfKind.VAR; name: string; type: number; linkage: number }
  | { kind: BtfKind.DATASEC; name: string; size: number; vars: BtfVarSecInfo[] }
  | { kind: BtfKind.FLOAT; name: string; size: number }
  | { kind: BtfKind.DECL_TAG; name: string; type: number; componentIdx: number };

/** Malformed BTF or BTF.ext bytes, or a type model that cannot be encoded. The message says what and where. */
export class BtfError extends Error {
  override name = "BtfError";
}

/** Kinds whose third word is a type id (as opposed to a size). */
export function kindHasTypeRef(kind: BtfKind): boolean {
  switch (kind) {
    case BtfKind.PTR:
    case BtfKind.TYPEDEF:
    case BtfKind.VOLATILE:
    case BtfKind.CONST:
    case BtfKind.RESTRICT:
    case BtfKind.FUNC:
    case BtfKind.FUNC_PROTO:
    case BtfKind.VAR:
    case BtfKind.DECL_TAG:
    case BtfKind.TYPE_TAG:
      return true;
    default:
      return false;
  }
}
