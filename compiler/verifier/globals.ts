/**
 * Global (non-static) functions. When an object carries BTF func info, libbpf passes it to the kernel, which then
 * verifies a function with global linkage on its own, from its BTF prototype (an integer argument is any number, a
 * `struct bpf_sk_lookup *` is the context), and lets callers assume only that it returns some integer. Static
 * functions are verified inline at each call, with the caller's actual arguments.
 */
import { type Btf, BtfKind, decodeBtf } from "../btf/index.ts";
import type { FuncInfo } from "../elf/object.ts";

/** How a global function's argument is checked at calls and set up for its own verification. */
export type GlobalArg = "scalar" | "ctx" | { unsupported: string };

/** A global function's prototype. */
export interface GlobalFunc {
  name: string;
  args: GlobalArg[];
}

/** BTF_FUNC_GLOBAL. */
const LINKAGE_GLOBAL = 1;

function resolve(btf: Btf, id: number): number {
  for (let i = 0; i < 32; i++) {
    const t = btf.types[id];
    if (!t || ![BtfKind.TYPEDEF, BtfKind.VOLATILE, BtfKind.CONST, BtfKind.RESTRICT, BtfKind.TYPE_TAG].includes(t.kind)) return id;
    id = (t as { type: number }).type;
  }
  return id;
}

function argKind(btf: Btf, id: number): GlobalArg {
  const t = btf.types[resolve(btf, id)];
  if (!t) return { unsupported: "void" };
  if (t.kind === BtfKind.INT || t.kind === BtfKind.ENUM || t.kind === BtfKind.ENUM64) return "scalar";
  if (t.kind === BtfKind.PTR) {
    const target = btf.types[resolve(btf, t.type)];
    if (target && target.kind === BtfKind.STRUCT && target.name === "bpf_sk_lookup") return "ctx";
    return { unsupported: `pointer to ${target?.name || "an unnamed type"}` };
  }
  return { unsupported: t.name || `BTF kind ${t.kind}` };
}

/** Decoded .BTF per object (null: does not decode); an object's programs share it, and re-verifying reuses it. */
const DECODED = new WeakMap<Uint8Array, { length: number; btf: Btf | null }>();

function decoded(bytes: Uint8Array): Btf | null {
  const hit = DECODED.get(bytes);
  if (hit && hit.length === bytes.length) return hit.btf;
  let btf: Btf | null;
  try {
    btf = decodeBtf(bytes);
  } catch {
    btf = null;
  }
  DECODED.set(bytes, { length: bytes.length, btf });
  return btf;
}

/** Global functions of a linked program by entry slot (empty without BTF or func info). */
export function globalFunctions(btfBytes: Uint8Array | undefined, funcInfo: readonly FuncInfo[]): Map<number, GlobalFunc> {
  const out = new Map<number, GlobalFunc>();
  if (!btfBytes || funcInfo.length < 2) return out;
  const btf = decoded(btfBytes);
  if (!btf) return out;
  for (const fi of funcInfo) {
    if (fi.slot === 0) continue;
    const f = btf.types[fi.typeId];
    if (!f || f.kind !== BtfKind.FUNC || f.linkage !== LINKAGE_GLOBAL) continue;
    const proto = btf.types[f.type];
    if (!proto || proto.kind !== BtfKind.FUNC_PROTO) continue;
    out.set(fi.slot, { name: fi.name || f.name, args: proto.params.map((p) => argKind(btf, p.type)) });
  }
  return out;
}
