/** BTF encoder: a builder that hands out type ids, and the byte encoding of a type list (`.BTF` section). */
import { StringTable } from "./strings.ts";
import { BTF_HEADER_SIZE, BTF_MAGIC, BTF_MAX_VLEN, BTF_VERSION, BtfError, BtfKind, type BtfType } from "./types.ts";

/**
 * Collects types and hands out their ids (1-based; 0 is void). Identical types are stored once, as clang does,
 * except FUNC_PROTOs, of which clang emits one per function.
 */
export class BtfBuilder {
  /** Types in id order: `types[i]` has id i + 1. */
  readonly types: BtfType[] = [];
  private readonly index = new Map<string, number>();

  /** Adds `t` (or finds an identical earlier one) and returns its id. */
  add(t: BtfType): number {
    const key = t.kind === BtfKind.FUNC_PROTO ? undefined : typeKey(t);
    if (key !== undefined) {
      const known = this.index.get(key);
      if (known !== undefined) return known;
    }
    this.types.push(t);
    const id = this.types.length;
    if (key !== undefined) this.index.set(key, id);
    return id;
  }

  /** Reserves an id for a type whose members refer to ids not known yet; fill it with {@link set}. */
  reserve(): number {
    this.types.push({ kind: BtfKind.FWD, name: "", union: false });
    return this.types.length;
  }

  /** Replaces the type with id `id` (from {@link reserve}). */
  set(id: number, t: BtfType): void {
    if (id < 1 || id > this.types.length) throw new BtfError(`no type id ${id} to set`);
    this.types[id - 1] = t;
  }

  /** The type with id `id`. */
  get(id: number): BtfType | undefined {
    return this.types[id - 1];
  }

  /** Encodes the collected types, adding their names to `strings` (a fresh table by default). */
  encode(strings: StringTable = new StringTable()): Uint8Array {
    return encodeBtf(this.types, strings);
  }
}

const typeKey = (t: BtfType): string => JSON.stringify(t, (_k, v) => (typeof v === "bigint" ? `${v}n` : v));

/** Number of bytes a type occupies in the type section. */
function encodedSize(t: BtfType): number {
  switch (t.kind) {
    case BtfKind.INT:
    case BtfKind.VAR:
    case BtfKind.DECL_TAG:
      return 16;
    case BtfKind.ARRAY:
      return 24;
    case BtfKind.STRUCT:
    case BtfKind.UNION:
    case BtfKind.DATASEC:
      return 12 + 12 * (t.kind === BtfKind.DATASEC ? t.vars.length : t.members.length);
    case BtfKind.ENUM:
      return 12 + 8 * t.values.length;
    case BtfKind.ENUM64:
      return 12 + 12 * t.values.length;
    case BtfKind.FUNC_PROTO:
      return 12 + 8 * t.params.length;
    default:
      return 12;
  }
}

const u32 = (n: number, what: string): number => {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new BtfError(`${what} ${n} does not fit in a u32`);
  return n;
};

/**
 * Encodes `types` (ids 1..n in order) into a complete `.BTF` blob: header, type section, string section. Names go
 * into `strings`, whose existing entries (e.g. line info text added earlier) are kept.
 */
export function encodeBtf(types: readonly BtfType[], strings: StringTable = new StringTable()): Uint8Array {
  const typeLen = types.reduce((n, t) => n + encodedSize(t), 0);
  const typeBytes = new Uint8Array(typeLen);
  const v = new DataView(typeBytes.buffer);
  let at = 0;
  const w = (n: number): void => {
    v.setUint32(at, n >>> 0, true);
    at += 4;
  };
  types.forEach((t, i) => {
    const id = i + 1;
    const where = `type [${id}] ${t.name || "(anon)"}`;
    const head = (vlen: number, size: number, kindFlag = false): void => {
      if (vlen > BTF_MAX_VLEN) throw new BtfError(`${where}: ${vlen} entries exceed the BTF limit of ${BTF_MAX_VLEN}`);
      w(strings.add(t.name));
      w(((kindFlag ? 1 : 0) << 31) | (t.kind << 24) | vlen);
      w(u32(size, `${where}: size/type`));
    };
    switch (t.kind) {
      case BtfKind.INT:
        if (t.bits > 128 || t.offset > 255) throw new BtfError(`${where}: bad INT bits ${t.bits} offset ${t.offset}`);
        head(0, t.size);
        w(((t.encoding & 0xf) << 24) | ((t.offset & 0xff) << 16) | (t.bits & 0xff));
        break;
      case BtfKind.PTR:
      case BtfKind.TYPEDEF:
      case BtfKind.VOLATILE:
      case BtfKind.CONST:
      case BtfKind.RESTRICT:
      case BtfKind.TYPE_TAG:
        head(0, t.type);
        break;
      case BtfKind.ARRAY:
        head(0, 0);
        w(u32(t.type, `${where}: element type`));
        w(u32(t.indexType, `${where}: index type`));
        w(u32(t.nelems, `${where}: nelems`));
        break;
      case BtfKind.STRUCT:
      case BtfKind.UNION: {
        const kindFlag = t.kindFlag ?? t.members.some((m) => (m.bitfieldSize ?? 0) > 0);
        head(t.members.length, t.size, kindFlag);
        for (const m of t.members) {
          w(strings.add(m.name));
          w(u32(m.type, `${where}: member ${m.name} type`));
          if (kindFlag) {
            if (m.bitOffset > 0xffffff) throw new BtfError(`${where}: member ${m.name} bit offset too large for a bitfield`);
            w(((m.bitfieldSize ?? 0) << 24) | m.bitOffset);
          } else {
            w(u32(m.bitOffset, `${where}: member ${m.name} offset`));
          }
        }
        break;
      }
      case BtfKind.ENUM:
        head(t.values.length, t.size, t.signed);
        for (const e of t.values) {
          w(strings.add(e.name));
          w(e.value | 0);
        }
        break;
      case BtfKind.ENUM64:
        head(t.values.length, t.size, t.signed);
        for (const e of t.values) {
          const bits = BigInt.asUintN(64, e.value);
          w(strings.add(e.name));
          w(Number(bits & 0xffffffffn));
          w(Number(bits >> 32n));
        }
        break;
      case BtfKind.FWD:
        head(0, 0, t.union);
        break;
      case BtfKind.FUNC:
        head(t.linkage, t.type);
        break;
      case BtfKind.FUNC_PROTO:
        head(t.params.length, t.returnType);
        for (const p of t.params) {
          w(strings.add(p.name));
          w(u32(p.type, `${where}: parameter ${p.name} type`));
        }
        break;
      case BtfKind.VAR:
        head(0, t.type);
        w(t.linkage);
        break;
      case BtfKind.DATASEC:
        head(t.vars.length, t.size);
        for (const s of t.vars) {
          w(u32(s.type, `${where}: var type`));
          w(u32(s.offset, `${where}: var offset`));
          w(u32(s.size, `${where}: var size`));
        }
        break;
      case BtfKind.FLOAT:
        head(0, t.size);
        break;
      case BtfKind.DECL_TAG:
        head(0, t.type);
        w(t.componentIdx | 0);
        break;
      default:
        throw new BtfError(`${where}: unknown kind ${(t as { kind: number }).kind}`);
    }
  });
  const str = strings.bytes();
  const out = new Uint8Array(BTF_HEADER_SIZE + typeLen + str.length);
  const h = new DataView(out.buffer);
  h.setUint16(0, BTF_MAGIC, true);
  h.setUint8(2, BTF_VERSION);
  h.setUint8(3, 0);
  h.setUint32(4, BTF_HEADER_SIZE, true);
  h.setUint32(8, 0, true); // type_off, relative to the end of the header
  h.setUint32(12, typeLen, true);
  h.setUint32(16, typeLen, true); // str_off: strings follow the types
  h.setUint32(20, str.length, true);
  out.set(typeBytes, BTF_HEADER_SIZE);
  out.set(str, BTF_HEADER_SIZE + typeLen);
  return out;
}

/**
 * Adds every name `types` will need to `strings`, in encoding order. Call it before adding other strings (line info
 * text) when the type names should come first in the table, as in clang's output.
 */
export function addTypeNames(types: readonly BtfType[], strings: StringTable): void {
  for (const t of types) {
    strings.add(t.name);
    if (t.kind === BtfKind.STRUCT || t.kind === BtfKind.UNION) t.members.forEach((m) => strings.add(m.name));
    else if (t.kind === BtfKind.ENUM || t.kind === BtfKind.ENUM64) t.values.forEach((e) => strings.add(e.name));
    else if (t.kind === BtfKind.FUNC_PROTO) t.params.forEach((p) => strings.add(p.name));
  }
}
