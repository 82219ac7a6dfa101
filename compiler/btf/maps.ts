/**
 * BTF-defined maps (`.maps` section), in both directions:
 * - writing: the anonymous struct clang emits for `struct { __uint(type, T); __type(key, K); ... } name SEC(".maps")`,
 *   where `__uint(f, N)` is `int (*f)[N]` (a pointer to an array of N ints) and `__type(f, T)` is `T *f`;
 * - reading: the map definitions libbpf derives from the DATASEC `.maps` VARs.
 */
import { BPF_F_NO_PREALLOC, MapType, type MapDef } from "../abi/maps.ts";
import type { IrMap, IrType } from "../ir/ir.ts";
import type { BtfBuilder } from "./encode.ts";
import { type Btf, btfType, resolveSize, skipModifiers } from "./decode.ts";
import { BtfError, BtfKind, IntEncoding, Linkage, type BtfMember } from "./types.ts";

/** Ids of the two integer types every map definition uses. */
function intTypes(b: BtfBuilder): { int: number; index: number } {
  return {
    int: b.add({ kind: BtfKind.INT, name: "int", size: 4, bits: 32, offset: 0, encoding: IntEncoding.SIGNED }),
    index: b.add({ kind: BtfKind.INT, name: "__ARRAY_SIZE_TYPE__", size: 4, bits: 32, offset: 0, encoding: IntEncoding.NONE }),
  };
}

/**
 * A name the kernel accepts for a struct, member or typedef (`btf_name_valid_identifier`: [A-Za-z_][A-Za-z0-9_]*).
 * TypeScript allows `$` and non-ASCII letters in identifiers; the kernel would reject the whole BTF for them.
 */
export function cIdentifier(name: string): string {
  const s = name.replace(/[^A-Za-z0-9_]/g, "_");
  return /^[0-9]/.test(s) ? `_${s}` : s;
}

/** Adds the BTF type of an IR (C-layout) type and returns its id. */
export function addIrType(b: BtfBuilder, t: IrType): number {
  switch (t.kind) {
    case "int":
      return b.add({ kind: BtfKind.INT, name: t.name, size: t.bytes, bits: t.bytes * 8, offset: 0, encoding: t.signed ? IntEncoding.SIGNED : IntEncoding.NONE });
    case "bool":
      return b.add({ kind: BtfKind.INT, name: "_Bool", size: 1, bits: 8, offset: 0, encoding: IntEncoding.BOOL });
    case "array": {
      const elem = addIrType(b, t.elem);
      return b.add({ kind: BtfKind.ARRAY, name: "", type: elem, indexType: intTypes(b).index, nelems: t.length });
    }
    case "struct": {
      const members: BtfMember[] = t.fields.map((f) => ({ name: cIdentifier(f.name), type: addIrType(b, f.type), bitOffset: f.offset * 8 }));
      return b.add({ kind: BtfKind.STRUCT, name: cIdentifier(t.name), size: t.size, members });
    }
  }
}

/** An unsigned integer type for a key/value given only by size (SockMap values, keys without IR types). */
function sizedInt(b: BtfBuilder, bytes: number): number | undefined {
  if (bytes !== 1 && bytes !== 2 && bytes !== 4 && bytes !== 8) return undefined;
  return addIrType(b, { kind: "int", name: `__u${bytes * 8}`, bytes, signed: false });
}

/**
 * Adds one map's definition struct and VAR; returns the VAR id and the struct's size (its size in `.maps`).
 * LPM tries get BPF_F_NO_PREALLOC, which the kernel requires of them.
 */
export function addMapDefinition(b: BtfBuilder, map: IrMap): { varId: number; size: number; keyTypeId: number; valueTypeId: number } {
  const { int, index } = intTypes(b);
  const uint = (n: number): number => {
    const arr = b.add({ kind: BtfKind.ARRAY, name: "", type: int, indexType: index, nelems: n >>> 0 });
    return b.add({ kind: BtfKind.PTR, name: "", type: arr });
  };
  const flags = map.type === MapType.LPM_TRIE ? map.flags | BPF_F_NO_PREALLOC : map.flags;
  const members: { name: string; type: number }[] = [
    { name: "type", type: uint(map.type) },
    { name: "max_entries", type: uint(map.maxEntries) },
  ];
  if (flags) members.push({ name: "map_flags", type: uint(flags) });
  const typed = (field: "key" | "value", ir: IrType | undefined, size: number): number => {
    const id = ir ? addIrType(b, ir) : sizedInt(b, size);
    if (id === undefined) {
      members.push({ name: `${field}_size`, type: uint(size) });
      return 0;
    }
    members.push({ name: field, type: b.add({ kind: BtfKind.PTR, name: "", type: id }) });
    return id;
  };
  const keyTypeId = typed("key", map.keyType, map.keySize);
  const valueTypeId = typed("value", map.valueType, map.valueSize);
  if (map.pinning) members.push({ name: "pinning", type: uint(map.pinning) });
  const size = members.length * 8;
  const def = b.add({ kind: BtfKind.STRUCT, name: "", size, members: members.map((m, i) => ({ ...m, bitOffset: i * 64 })) });
  const varId = b.add({ kind: BtfKind.VAR, name: map.name, type: def, linkage: Linkage.GLOBAL });
  return { varId, size, keyTypeId, valueTypeId };
}

/** A map definition found in BTF, with the offset of its VAR in `.maps` as the DATASEC states it. */
export interface BtfMapDef extends MapDef {
  /** Offset in the `.maps` section per DATASEC (clang leaves 0 there; the ELF symbol value is authoritative). */
  datasecOffset: number;
}

/** Integer fields libbpf reads from `int (*name)[N]` members. */
const INT_FIELDS = new Set(["type", "max_entries", "map_flags", "key_size", "value_size", "pinning", "numa_node", "map_extra"]);

/** The N of an `int (*f)[N]` member, or BtfError naming the map and field. */
function uintField(btf: Btf, map: string, field: string, typeId: number): number {
  const ptr = btfType(btf, skipModifiers(btf, typeId));
  if (ptr?.kind !== BtfKind.PTR) throw new BtfError(`map '${map}': field '${field}' is not a pointer to an array (__uint)`);
  const arr = btfType(btf, skipModifiers(btf, ptr.type));
  if (arr?.kind !== BtfKind.ARRAY) throw new BtfError(`map '${map}': field '${field}' does not point to an array (__uint)`);
  return arr.nelems;
}

/**
 * Reads every map definition of the DATASEC `.maps`, the way libbpf 1.x interprets BTF-defined maps: `__uint` fields,
 * `__type(key/value)` (size of the pointed-to type), consistency between key and key_size. Unsupported or unknown
 * fields (map-in-map `values`, anything else) are errors, as in libbpf's strict mode.
 */
export function parseBtfMaps(btf: Btf): BtfMapDef[] {
  const secId = btf.types.findIndex((t) => t?.kind === BtfKind.DATASEC && t.name === ".maps");
  if (secId < 0) return [];
  const sec = btf.types[secId]!;
  if (sec.kind !== BtfKind.DATASEC) return [];
  return sec.vars.map((vs) => {
    const v = btfType(btf, vs.type);
    if (v?.kind !== BtfKind.VAR) throw new BtfError(`DATASEC .maps entry (type ${vs.type}) is not a VAR`);
    const name = v.name;
    if (!name) throw new BtfError("a map in .maps has no name");
    const def = btfType(btf, skipModifiers(btf, v.type));
    if (def?.kind !== BtfKind.STRUCT) throw new BtfError(`map '${name}': its definition is not a struct`);
    const m: BtfMapDef = { name, type: 0, keySize: 0, valueSize: 0, maxEntries: 0, flags: 0, pinning: 0, keyTypeId: 0, valueTypeId: 0, datasecOffset: vs.offset };
    let keySizeField: number | undefined;
    let valueSizeField: number | undefined;
    for (const mem of def.members) {
      if (INT_FIELDS.has(mem.name)) {
        const n = uintField(btf, name, mem.name, mem.type);
        if (mem.name === "type") m.type = n;
        else if (mem.name === "max_entries") m.maxEntries = n;
        else if (mem.name === "map_flags") m.flags = n;
        else if (mem.name === "pinning") m.pinning = n;
        else if (mem.name === "key_size") keySizeField = n;
        else if (mem.name === "value_size") valueSizeField = n;
      } else if (mem.name === "key" || mem.name === "value") {
        const ptr = btfType(btf, skipModifiers(btf, mem.type));
        if (ptr?.kind !== BtfKind.PTR) throw new BtfError(`map '${name}': '${mem.name}' is not a pointer (__type)`);
        const size = resolveSize(btf, ptr.type);
        if (mem.name === "key") {
          m.keySize = size;
          m.keyTypeId = ptr.type;
        } else {
          m.valueSize = size;
          m.valueTypeId = ptr.type;
        }
      } else if (mem.name === "values") {
        throw new BtfError(`map '${name}': map-in-map and prog-array 'values' are not supported`);
      } else {
        throw new BtfError(`map '${name}': unknown field '${mem.name}'`);
      }
    }
    if (keySizeField !== undefined) {
      if (m.keyTypeId && keySizeField !== m.keySize) throw new BtfError(`map '${name}': key_size ${keySizeField} conflicts with key type size ${m.keySize}`);
      m.keySize = keySizeField;
    }
    if (valueSizeField !== undefined) {
      if (m.valueTypeId && valueSizeField !== m.valueSize) throw new BtfError(`map '${name}': value_size ${valueSizeField} conflicts with value type size ${m.valueSize}`);
      m.valueSize = valueSizeField;
    }
    if (m.pinning > 1) throw new BtfError(`map '${name}': pinning ${m.pinning} is not supported (0 none, 1 by name)`);
    return m;
  });
}
