/**
 * The BTF clang emits for a program `int prog(struct bpf_sk_lookup *ctx)`: the context struct with its members as
 * the UAPI header declares them (the anonymous union holding `sk` and `cookie`, `__be16 remote_port`), the
 * FUNC_PROTO and the global FUNC. Offsets come from compiler/abi/sk-lookup.ts.
 */
import { CTX_SIZE, CtxOff } from "../abi/sk-lookup.ts";
import type { BtfBuilder } from "./encode.ts";
import { BtfKind, IntEncoding, Linkage } from "./types.ts";

/** Adds `struct bpf_sk_lookup` (and what it references) and returns the id of `struct bpf_sk_lookup *`. */
export function addSkLookupCtx(b: BtfBuilder): number {
  const u32i = b.add({ kind: BtfKind.INT, name: "unsigned int", size: 4, bits: 32, offset: 0, encoding: IntEncoding.NONE });
  const u32 = b.add({ kind: BtfKind.TYPEDEF, name: "__u32", type: u32i });
  const u64i = b.add({ kind: BtfKind.INT, name: "unsigned long long", size: 8, bits: 64, offset: 0, encoding: IntEncoding.NONE });
  const u64 = b.add({ kind: BtfKind.TYPEDEF, name: "__u64", type: u64i });
  const u16i = b.add({ kind: BtfKind.INT, name: "unsigned short", size: 2, bits: 16, offset: 0, encoding: IntEncoding.NONE });
  const be16 = b.add({ kind: BtfKind.TYPEDEF, name: "__be16", type: b.add({ kind: BtfKind.TYPEDEF, name: "__u16", type: u16i }) });
  const index = b.add({ kind: BtfKind.INT, name: "__ARRAY_SIZE_TYPE__", size: 4, bits: 32, offset: 0, encoding: IntEncoding.NONE });
  const ip6 = b.add({ kind: BtfKind.ARRAY, name: "", type: u32, indexType: index, nelems: 4 });
  const sock = b.add({ kind: BtfKind.PTR, name: "", type: b.add({ kind: BtfKind.FWD, name: "bpf_sock", union: false }) });
  // __bpf_md_ptr(struct bpf_sock *, sk) is itself an 8-byte union, nested in the union with `cookie`.
  const skUnion = b.add({ kind: BtfKind.UNION, name: "", size: 8, members: [{ name: "sk", type: sock, bitOffset: 0 }] });
  const outer = b.add({
    kind: BtfKind.UNION,
    name: "",
    size: 8,
    members: [
      { name: "", type: skUnion, bitOffset: 0 },
      { name: "cookie", type: u64, bitOffset: 0 },
    ],
  });
  const at = (off: number): number => off * 8;
  const ctx = b.add({
    kind: BtfKind.STRUCT,
    name: "bpf_sk_lookup",
    size: CTX_SIZE,
    members: [
      { name: "", type: outer, bitOffset: at(CtxOff.sk) },
      { name: "family", type: u32, bitOffset: at(CtxOff.family) },
      { name: "protocol", type: u32, bitOffset: at(CtxOff.protocol) },
      { name: "remote_ip4", type: u32, bitOffset: at(CtxOff.remote_ip4) },
      { name: "remote_ip6", type: ip6, bitOffset: at(CtxOff.remote_ip6) },
      { name: "remote_port", type: be16, bitOffset: at(CtxOff.remote_port) },
      { name: "local_ip4", type: u32, bitOffset: at(CtxOff.local_ip4) },
      { name: "local_ip6", type: ip6, bitOffset: at(CtxOff.local_ip6) },
      { name: "local_port", type: u32, bitOffset: at(CtxOff.local_port) },
      { name: "ingress_ifindex", type: u32, bitOffset: at(CtxOff.ingress_ifindex) },
    ],
  });
  return b.add({ kind: BtfKind.PTR, name: "", type: ctx });
}

/** Adds `int name(struct bpf_sk_lookup *ctx)` as a FUNC_PROTO and a FUNC (global) and returns the FUNC's id. */
export function addProgramFunc(b: BtfBuilder, name: string, ctxPtr: number, linkage: Linkage = Linkage.GLOBAL): number {
  const int = b.add({ kind: BtfKind.INT, name: "int", size: 4, bits: 32, offset: 0, encoding: IntEncoding.SIGNED });
  const proto = b.add({ kind: BtfKind.FUNC_PROTO, name: "", returnType: int, params: [{ name: "ctx", type: ctxPtr }] });
  return b.add({ kind: BtfKind.FUNC, name, type: proto, linkage });
}
