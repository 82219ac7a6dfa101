/**
 * The sk_lookup context for BPF_PROG_TEST_RUN. The encoder is the VM's (runtime/vm/ctx.ts `buildCtx`), so the kernel
 * loader and the VM turn a DSL-style context (`{ family: "inet", protocol: "tcp", localIp, localPort, ... }`) into
 * the same 72 bytes of `struct bpf_sk_lookup`; a context the kernel would refuse throws its `CtxError` with the errno
 * name test_run would give. Only the ctx_out side (the selected socket's cookie) is specific to the kernel.
 */
export { buildCtx as encodeCtx, CtxError, type SkLookupInput as CtxSpec } from "../vm/ctx.ts";
export { formatIp, parseIp4, parseIp6 } from "../net/addr.ts";

/** Reads the cookie (offset 0) that BPF_PROG_TEST_RUN writes into ctx_out: the selected socket's SO_COOKIE, or 0n. */
export function ctxCookie(ctxOut: Uint8Array): bigint {
  return new DataView(ctxOut.buffer, ctxOut.byteOffset, ctxOut.byteLength).getBigUint64(0, true);
}
