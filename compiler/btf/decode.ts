/** BTF decoder: `.BTF` bytes → type model, with every offset and count bounds-checked (BtfError otherwise). */
import { readCString } from "./strings.ts";
import { BTF_HEADER_SIZE, BTF_MAGIC, BTF_VERSION, BtfError, BtfKind, type BtfMember, type BtfType } from "./types.ts";

/** A decoded `.BTF` blob. */
export interface Btf {
  /** Types by id: `types[0]` is void (undefined), `types[id]` the type with that id. */
  types: (BtfType | undefined)[];
  /** The raw string section, for string offsets found elsewhere (`.BTF.ext` line info). */
  strings: Uint8Array;
}

/** The string at `off` in a decoded BTF's string section; BtfError when the offset is invalid. */
export function btfString(btf: Btf, off: number, what = "string"): string {
  const s = readCString(btf.strings, off);
  if (s === undefined) throw new BtfError(`${what}: string offset ${off} is outside the BTF string section (${btf.strings.length} bytes)`);
  return s;
}

/** Decodes a `.BTF` section. Every type reference is checked to name an existing id. */
export function decodeBtf(bytes: Uint8Array): Btf {
  if (bytes.length < BTF_HEADER_SIZE) throw new BtfError(`.BTF is ${bytes.length} bytes, shorter than its ${BTF_HEADER_SIZE}-byte header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint16(0, true);
  if (magic !== BTF_MAGIC) throw new BtfError(`.BTF has magic 0x${magic.toString(16)}, expected 0x${BTF_MAGIC.toString(16)} (little endian)`);
  const version = view.getUint8(2);
  if (version !== BTF_VERSION) throw new BtfError(`.BTF version ${version} is not supported (expected ${BTF_VERSION})`);
  const hdrLen = view.getUint32(4, true);
  if (hdrLen < BTF_HEADER_SIZE || hdrLen > bytes.length) throw new BtfError(`.BTF header length ${hdrLen} is out of range`);
  const typeOff = view.getUint32(8, true);
  const typeLen = view.getUint32(12, true);
  const strOff = view.getUint32(16, true);
  const strLen = view.getUint32(20, true);
  const body = bytes.length - hdrLen;
  if (typeOff + typeLen > body) throw new BtfError(`.BTF type section (offset ${typeOff}, ${typeLen} bytes) runs past the end (${body} bytes)`);
  if (strOff + strLen > body) throw new BtfError(`.BTF string section (offset ${strOff}, ${strLen} bytes) runs past the end (${body} bytes)`);
  if (typeLen % 4 !== 0) throw new BtfError(`.BTF type section length ${typeLen} is not a multiple of 4`);
  if (strLen > 0 && bytes[hdrLen + strOff + strLen - 1] !== 0) throw new BtfError(".BTF string section does not end with NUL");
  const strings = bytes.subarray(hdrLen + strOff, hdrLen + strOff + strLen);
  const btf: Btf = { types: [undefined], strings };

  const base = hdrLen + typeOff;
  const end = base + typeLen;
  let at = base;
  const need = (n: number, id: number): void => {
    if (at + n > end) throw new BtfError(`.BTF type [${id}] at offset ${at - base} is truncated (needs ${n} more bytes)`);
  };
  const r = (): number => {
    const x = view.getUint32(at, true);
    at += 4;
    return x;
  };
  while (at < end) {
    const id = btf.types.length;
    need(12, id);
    const nameOff = r();
    const info = r();
    const sizeOrType = r();
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const kindFlag = info >>> 31 === 1;
    const name = btfString(btf, nameOff, `.BTF type [${id}] name`);
    const where = `.BTF type [${id}]`;
    let t: BtfType;
    switch (kind) {
      case BtfKind.INT: {
        need(4, id);
        const x = r();
        t = { kind, name, size: sizeOrType, encoding: (x >>> 24) & 0xf, offset: (x >>> 16) & 0xff, bits: x & 0xff };
        break;
      }
      case BtfKind.PTR:
      case BtfKind.TYPEDEF:
      case BtfKind.VOLATILE:
      case BtfKind.CONST:
      case BtfKind.RESTRICT:
      case BtfKind.TYPE_TAG:
        t = { kind, name, type: sizeOrType };
        break;
      case BtfKind.ARRAY:
        need(12, id);
        t = { kind, name, type: r(), indexType: r(), nelems: r() };
        break;
      case BtfKind.STRUCT:
      case BtfKind.UNION: {
        need(12 * vlen, id);
        const members: BtfMember[] = [];
        for (let i = 0; i < vlen; i++) {
          const mName = btfString(btf, r(), `${where} member ${i} name`);
          const type = r();
          const off = r();
          members.push(kindFlag ? { name: mName, type, bitOffset: off & 0xffffff, bitfieldSize: off >>> 24 } : { name: mName, type, bitOffset: off });
        }
        t = { kind, name, size: sizeOrType, members, kindFlag };
        break;
      }
      case BtfKind.ENUM: {
        need(8 * vlen, id);
        const values: { name: string; value: number }[] = [];
        for (let i = 0; i < vlen; i++) {
          const eName = btfString(btf, r(), `${where} enumerator ${i} name`);
          values.push({ name: eName, value: r() | 0 });
        }
        t = { kind, name, size: sizeOrType, signed: kindFlag, values };
        break;
      }
      case BtfKind.ENUM64: {
        need(12 * vlen, id);
        const values: { name: string; value: bigint }[] = [];
        for (let i = 0; i < vlen; i++) {
          const eName = btfString(btf, r(), `${where} enumerator ${i} name`);
          const lo = BigInt(r());
          const hi = BigInt(r());
          const u = (hi << 32n) | lo;
          values.push({ name: eName, value: kindFlag ? BigInt.asIntN(64, u) : u });
        }
        t = { kind, name, size: sizeOrType, signed: kindFlag, values };
        break;
      }
      case BtfKind.FWD:
        t = { kind, name, union: kindFlag };
        break;
      case BtfKind.FUNC:
        t = { kind, name, type: sizeOrType, linkage: vlen };
        break;
      case BtfKind.FUNC_PROTO: {
        need(8 * vlen, id);
        const params = [];
        for (let i = 0; i < vlen; i++) params.push({ name: btfString(btf, r(), `${where} parameter ${i} name`), type: r() });
        t = { kind, name, returnType: sizeOrType, params };
        break;
      }
      case BtfKind.VAR:
        need(4, id);
        t = { kind, name, type: sizeOrType, linkage: r() };
        break;
      case BtfKind.DATASEC: {
        need(12 * vlen, id);
        const vars = [];
        for (let i = 0; i < vlen; i++) vars.push({ type: r(), offset: r(), size: r() });
        t = { kind, name, size: sizeOrType, vars };
        break;
      }
      case BtfKind.FLOAT:
        t = { kind, name, size: sizeOrType };
        break;
      case BtfKind.DECL_TAG:
        need(4, id);
        t = { kind, name, type: sizeOrType, componentIdx: r() | 0 };
        break;
      default:
        throw new BtfError(`${where} at offset ${at - 12 - base} has unknown kind ${kind}`);
    }
    btf.types.push(t);
  }
  checkReferences(btf);
  return btf;
}

/** Every type id a type refers to. */
export function typeRefs(t: BtfType): number[] {
  switch (t.kind) {
    case BtfKind.ARRAY:
      return [t.type, t.indexType];
    case BtfKind.STRUCT:
    case BtfKind.UNION:
      return t.members.map((m) => m.type);
    case BtfKind.FUNC_PROTO:
      return [t.returnType, ...t.params.map((p) => p.type)];
    case BtfKind.DATASEC:
      return t.vars.map((v) => v.type);
    case BtfKind.PTR:
    case BtfKind.TYPEDEF:
    case BtfKind.VOLATILE:
    case BtfKind.CONST:
    case BtfKind.RESTRICT:
    case BtfKind.TYPE_TAG:
    case BtfKind.FUNC:
    case BtfKind.VAR:
    case BtfKind.DECL_TAG:
      return [t.type];
    default:
      return [];
  }
}

function checkReferences(btf: Btf): void {
  const n = btf.types.length;
  btf.types.forEach((t, id) => {
    if (!t) return;
    for (const ref of typeRefs(t)) {
      if (ref >= n) throw new BtfError(`.BTF type [${id}] ${t.name || "(anon)"} refers to type id ${ref}, but only ${n - 1} types exist`);
    }
  });
}

/** The type with id `id`; BtfError when it does not exist (id 0, void, gives undefined). */
export function btfType(btf: Btf, id: number): BtfType | undefined {
  if (id === 0) return undefined;
  const t = btf.types[id];
  if (!t) throw new BtfError(`no BTF type with id ${id}`);
  return t;
}

/** Follows TYPEDEF/VOLATILE/CONST/RESTRICT/TYPE_TAG to the underlying type id (bounded, so cycles cannot hang). */
export function skipModifiers(btf: Btf, id: number): number {
  for (let i = 0; i < 64; i++) {
    const t = btfType(btf, id);
    if (!t) return id;
    switch (t.kind) {
      case BtfKind.TYPEDEF:
      case BtfKind.VOLATILE:
      case BtfKind.CONST:
      case BtfKind.RESTRICT:
      case BtfKind.TYPE_TAG:
        id = t.type;
        continue;
      default:
        return id;
    }
  }
  throw new BtfError(`type id ${id}: modifier chain is too long (a cycle?)`);
}

/** Size in bytes of the type with id `id`, like libbpf's btf__resolve_size. BtfError for sizeless types. */
export function resolveSize(btf: Btf, id: number, depth = 0): number {
  if (depth > 32) throw new BtfError(`type id ${id}: type nesting is too deep (a cycle?)`);
  const t = btfType(btf, skipModifiers(btf, id));
  if (!t) throw new BtfError("void has no size");
  switch (t.kind) {
    case BtfKind.INT:
    case BtfKind.STRUCT:
    case BtfKind.UNION:
    case BtfKind.ENUM:
    case BtfKind.ENUM64:
    case BtfKind.FLOAT:
    case BtfKind.DATASEC:
      return t.size;
    case BtfKind.PTR:
      return 8;
    case BtfKind.ARRAY: {
      const size = resolveSize(btf, t.type, depth + 1) * t.nelems;
      if (size > 0xffffffff) throw new BtfError(`array type ${id} is larger than 4 GiB`);
      return size;
    }
    case BtfKind.VAR:
      return resolveSize(btf, t.type, depth + 1);
    default:
      throw new BtfError(`type id ${id} (${t.name || "anon"}, kind ${t.kind}) has no size`);
  }
}

/** The id of the first type of `kind` named `name`, or undefined. */
export function findType(btf: Btf, kind: BtfKind, name: string): number | undefined {
  const id = btf.types.findIndex((t) => t !== undefined && t.kind === kind && t.name === name);
  return id > 0 ? id : undefined;
}
