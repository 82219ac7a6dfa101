/**
 * Converting user values (JSON from `tsbpf run --maps`, or JS values in tests) to and from map key/value bytes.
 * The layout comes from the object's BTF when it has one: struct keys/values are written as objects with the C/DSL
 * field names; integers are little-endian except fields typed `__be16`/`__be32`/`__be64` and, per
 * docs/ARCHITECTURE.md, every data field of an LPM-trie key after `prefixLen`, which are network order. An address
 * string is accepted wherever 4 (IPv4) or 16 (IPv6) bytes are expected. Without BTF a key/value is a plain integer
 * of the map's key/value size, or raw bytes.
 */
import { MapType, type MapDef } from "../../compiler/abi/maps.ts";
import { type Btf, btfType, resolveSize, skipModifiers } from "../../compiler/btf/decode.ts";
import { BtfKind, IntEncoding } from "../../compiler/btf/types.ts";
import { AddressError, formatIp, parseIp } from "../net/addr.ts";

/** A value that cannot be encoded for a map key or value. */
export class CodecError extends Error {
  override name = "CodecError";
}

/** One scalar (or byte-array) slot of a layout. */
export interface Field {
  name: string;
  offset: number;
  size: number;
  signed: boolean;
  bigEndian: boolean;
  /** Arrays of bytes/words (e.g. Ip6): written from an address string or an array of numbers. */
  array: boolean;
}

/** How a key or value is laid out: a single scalar (`fields` undefined) or a struct. */
export interface Layout {
  size: number;
  fields?: Field[];
  signed: boolean;
  bigEndian: boolean;
}

/** The layout of a map's key or value, from BTF when available. */
export function layoutOf(def: MapDef, which: "key" | "value", btf?: Btf): Layout {
  const size = which === "key" ? def.keySize : def.valueSize;
  const typeId = which === "key" ? def.keyTypeId : def.valueTypeId;
  const plain: Layout = { size, signed: false, bigEndian: false };
  if (!btf || !typeId) return plain;
  try {
    const id = skipModifiers(btf, typeId);
    const t = btfType(btf, id);
    if (!t) return plain;
    if (t.kind === BtfKind.INT) return { size, signed: (t.encoding & IntEncoding.SIGNED) !== 0, bigEndian: isBe(btf, typeId) };
    if (t.kind !== BtfKind.STRUCT) return plain;
    const lpm = def.type === MapType.LPM_TRIE && which === "key";
    const fields: Field[] = t.members.map((mem, i) => {
      const mid = skipModifiers(btf, mem.type);
      const mt = btfType(btf, mid);
      return {
        name: mem.name,
        offset: mem.bitOffset / 8,
        size: resolveSize(btf, mem.type),
        signed: mt?.kind === BtfKind.INT && (mt.encoding & IntEncoding.SIGNED) !== 0,
        bigEndian: isBe(btf, mem.type) || (lpm && i > 0),
        array: mt?.kind === BtfKind.ARRAY,
      };
    });
    return { size, fields, signed: false, bigEndian: false };
  } catch {
    return plain;
  }
}

/** True when the type's typedef chain names a big-endian type (__be16, __be32, __be64). */
function isBe(btf: Btf, id: number): boolean {
  for (let i = 0; i < 16 && id; i++) {
    const t = btfType(btf, id);
    if (!t) return false;
    if (/^__be(16|32|64)$/.test(t.name)) return true;
    if (t.kind !== BtfKind.TYPEDEF && t.kind !== BtfKind.CONST && t.kind !== BtfKind.VOLATILE) return false;
    id = t.type;
  }
  return false;
}

function writeInt(out: Uint8Array, at: number, size: number, v: bigint, be: boolean): void {
  let x = BigInt.asUintN(size * 8, v);
  for (let i = 0; i < size; i++) {
    out[be ? at + size - 1 - i : at + i] = Number(x & 0xffn);
    x >>= 8n;
  }
}

function readInt(b: Uint8Array, at: number, size: number, signed: boolean, be: boolean): bigint {
  let x = 0n;
  for (let i = 0; i < size; i++) x = (x << 8n) | BigInt(b[be ? at + i : at + size - 1 - i]!);
  return signed ? BigInt.asIntN(size * 8, x) : x;
}

/** Encodes a scalar slot: integer, numeric string, address string (4/16-byte slots), or an array of bytes. */
function encodeScalar(out: Uint8Array, at: number, size: number, v: unknown, be: boolean, what: string): void {
  if (typeof v === "number" || typeof v === "bigint") {
    if (typeof v === "number" && !Number.isInteger(v)) throw new CodecError(`${what}: ${v} is not an integer`);
    const b = BigInt(v);
    if (b >= 1n << BigInt(size * 8) || b < -(1n << BigInt(size * 8 - 1))) throw new CodecError(`${what}: ${v} does not fit in ${size} bytes`);
    writeInt(out, at, size, b, be);
    return;
  }
  if (typeof v === "string") {
    const t = v.trim();
    if (/^-?(0x[0-9a-f]+|\d+)$/i.test(t)) {
      // BigInt() takes no sign before a hex literal ("-0x1" is a SyntaxError), and a huge digit string would take
      // quadratic time: the sign is applied here, and no 64-byte slot needs more than 160 digits.
      if (t.length > 200) throw new CodecError(`${what}: ${t.slice(0, 20)}... is too long for a ${size}-byte number`);
      const neg = t.startsWith("-");
      const mag = BigInt(neg ? t.slice(1) : t);
      return encodeScalar(out, at, size, neg ? -mag : mag, be, what);
    }
    if ((size === 4 || size === 16) && /[.:]/.test(v)) {
      let p;
      try {
        p = parseIp(v);
      } catch (e) {
        throw new CodecError(`${what}: ${(e as AddressError).message}`);
      }
      if (p.bytes.length !== size) throw new CodecError(`${what}: ${v} needs ${p.bytes.length} bytes, the field has ${size}`);
      out.set(p.bytes, at);
      return;
    }
    throw new CodecError(`${what}: cannot encode ${JSON.stringify(v)} (expected an integer or an address)`);
  }
  if (v instanceof Uint8Array || Array.isArray(v)) {
    const bytes = Array.from(v as ArrayLike<unknown>);
    if (bytes.length !== size || bytes.some((x) => typeof x !== "number" || !Number.isInteger(x) || x < 0 || x > 255)) {
      throw new CodecError(`${what}: expected ${size} bytes`);
    }
    out.set(bytes as number[], at);
    return;
  }
  throw new CodecError(`${what}: cannot encode ${JSON.stringify(v) ?? String(v)}`);
}

/** Encodes a user value for `layout`. A struct takes an object (or its JSON text); unknown/missing fields are errors/zero. */
export function encodeValue(layout: Layout, v: unknown, what: string): Uint8Array {
  const out = new Uint8Array(layout.size);
  if (v instanceof Uint8Array) {
    if (v.length !== layout.size) throw new CodecError(`${what}: expected ${layout.size} bytes, got ${v.length}`);
    return v.slice();
  }
  if (!layout.fields) {
    encodeScalar(out, 0, layout.size, v, layout.bigEndian, what);
    return out;
  }
  let obj = v;
  if (typeof obj === "string" && obj.trim().startsWith("{")) {
    try {
      obj = JSON.parse(obj);
    } catch {
      throw new CodecError(`${what}: ${JSON.stringify(v)} is not valid JSON`);
    }
  }
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) {
    throw new CodecError(`${what}: expected an object with fields ${layout.fields.map((f) => f.name).join(", ")}`);
  }
  const byName = new Map(layout.fields.map((f) => [f.name, f]));
  for (const [k, fv] of Object.entries(obj as Record<string, unknown>)) {
    const f = byName.get(k) ?? byName.get(k.toLowerCase());
    if (!f) throw new CodecError(`${what}: no field '${k}' (fields: ${layout.fields.map((x) => x.name).join(", ")})`);
    encodeScalar(out, f.offset, f.size, fv, f.bigEndian, `${what}.${k}`);
  }
  return out;
}

/**
 * A decoded integer, address or byte-array slot: integers of up to 32 bits are numbers, 64-bit integers (`u64`,
 * `i64`) are bigints whatever their value, 4- and 16-byte addresses in address fields are strings, other byte
 * arrays are arrays of numbers.
 */
export type MapScalarValue = number | bigint | string | number[];

/** A decoded map key or value: one slot, or a struct's fields by name (see {@link MapScalarValue}). */
export type MapData = MapScalarValue | { [field: string]: MapScalarValue };

/** Decodes key or value bytes (the inverse of {@link encodeValue}: a decoded value encodes back to the same bytes). */
export function decodeValue(layout: Layout, b: Uint8Array): MapData {
  const scalar = (at: number, size: number, signed: boolean, be: boolean, array: boolean): MapScalarValue => {
    if (array || size > 8) return size === 16 ? formatIp(b.slice(at, at + 16)) : Array.from(b.subarray(at, at + size));
    const x = readInt(b, at, size, signed, be);
    // 64-bit slots stay bigint even when small, so a counter's type does not change with its value.
    return size === 8 ? x : Number(x);
  };
  if (!layout.fields) return scalar(0, layout.size, layout.signed, layout.bigEndian, false);
  const out: { [field: string]: MapScalarValue } = {};
  for (const f of layout.fields) {
    // A network-order 4-byte field named like an address reads back as one (the form `--maps` takes).
    const address = f.bigEndian && f.size === 4 && /addr|ip/i.test(f.name);
    out[f.name] = address ? formatIp(b.slice(f.offset, f.offset + 4)) : scalar(f.offset, f.size, f.signed, f.bigEndian, f.array);
  }
  return out;
}
