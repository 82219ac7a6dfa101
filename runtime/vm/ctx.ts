/**
 * Building the 72-byte struct bpf_sk_lookup a program reads, from the user-facing description (DSL field names, as
 * in `tsbpf run --ctx`) or from raw bytes (as given to BPF_PROG_TEST_RUN). Validation follows the kernel's
 * test_run rules (net/bpf/test_run.c bpf_prog_test_run_sk_lookup, kernel-facts "What BPF_PROG_TEST_RUN requires").
 */
import { AF_INET, AF_INET6, CTX_SIZE, CtxOff } from "../../compiler/abi/sk-lookup.ts";
import { AddressError, parseIp } from "../net/addr.ts";
import { SocketError, familyOf, protocolOf } from "../net/socket.ts";

/** A lookup to run a program on, by DSL field names. Missing fields are 0. */
export interface SkLookupInput {
  family: "inet" | "inet6" | number;
  protocol: "tcp" | "udp" | number;
  remoteIp?: string;
  remotePort?: number;
  localIp?: string;
  localPort?: number;
  ingressIfindex?: number;
}

/** A context description the kernel would refuse (with the errno name BPF_PROG_TEST_RUN would give). */
export class CtxError extends Error {
  override name = "CtxError";
  constructor(
    message: string,
    readonly errno: "EINVAL" | "EAFNOSUPPORT" | "ERANGE" | "E2BIG",
  ) {
    super(message);
  }
}

const FIELDS = new Set(["family", "protocol", "remoteIp", "remotePort", "localIp", "localPort", "ingressIfindex"]);

/** Encodes a lookup description into kernel ctx bytes. */
export function buildCtx(input: SkLookupInput): Uint8Array {
  if (input === null || typeof input !== "object" || Array.isArray(input)) throw new CtxError("ctx must be a JSON object", "EINVAL");
  for (const k of Object.keys(input)) if (!FIELDS.has(k)) throw new CtxError(`unknown ctx field '${k}' (known: ${[...FIELDS].join(", ")})`, "EINVAL");
  let family: number;
  let protocol: number;
  try {
    family = familyOf(input.family);
  } catch (e) {
    throw new CtxError((e as SocketError).message, "EAFNOSUPPORT");
  }
  protocol = typeof input.protocol === "number" ? input.protocol : NaN;
  if (typeof input.protocol === "string") {
    try {
      protocol = protocolOf(input.protocol);
    } catch (e) {
      throw new CtxError((e as SocketError).message, "EINVAL");
    }
  }
  if (!Number.isInteger(protocol) || protocol < 0 || protocol > 0xffff) throw new CtxError(`protocol must be tcp, udp or a number (got ${JSON.stringify(input.protocol)})`, "EINVAL");
  const out = new Uint8Array(CTX_SIZE);
  const v = new DataView(out.buffer);
  v.setUint32(CtxOff.family, family, true);
  v.setUint32(CtxOff.protocol, protocol, true);
  const addr = (s: string | undefined, at4: number, at6: number, what: string): void => {
    if (s === undefined) return;
    let p;
    try {
      p = parseIp(s);
    } catch (e) {
      throw new CtxError(`${what}: ${(e as AddressError).message}`, "EINVAL");
    }
    if (p.family !== family) throw new CtxError(`${what} ${s} does not match family ${family === AF_INET ? "inet" : "inet6"}`, "EINVAL");
    out.set(p.bytes, family === AF_INET ? at4 : at6);
  };
  addr(input.remoteIp, CtxOff.remote_ip4, CtxOff.remote_ip6, "remoteIp");
  addr(input.localIp, CtxOff.local_ip4, CtxOff.local_ip6, "localIp");
  const port = (p: unknown, what: string): number => {
    if (p === undefined) return 0;
    if (typeof p !== "number" || !Number.isInteger(p) || p < 0) throw new CtxError(`${what} must be an integer 0..65535 (got ${JSON.stringify(p)})`, "EINVAL");
    if (p > 65535) throw new CtxError(`${what} ${p} is out of range (0..65535)`, "ERANGE");
    return p;
  };
  v.setUint16(CtxOff.remote_port, port(input.remotePort, "remotePort"), false);
  v.setUint32(CtxOff.local_port, port(input.localPort, "localPort"), true);
  const ifindex = input.ingressIfindex ?? 0;
  if (typeof ifindex !== "number" || !Number.isInteger(ifindex) || ifindex < 0 || ifindex > 0xffffffff) {
    throw new CtxError(`ingressIfindex must be a u32 (got ${JSON.stringify(ifindex)})`, "EINVAL");
  }
  v.setUint32(CtxOff.ingress_ifindex, ifindex, true);
  return out;
}

/**
 * Normalizes raw ctx bytes the way the kernel converts test_run input: only the low 16 bits of family, protocol
 * and local_port are kept (the kernel stores them as u16), fields of the other family read 0, the padding reads 0.
 */
export function normalizeCtx(raw: Uint8Array): Uint8Array {
  if (raw.length > CTX_SIZE && raw.subarray(CTX_SIZE).some((b) => b !== 0)) throw new CtxError("ctx longer than 72 bytes with a non-zero tail", "E2BIG");
  const src = new Uint8Array(CTX_SIZE);
  src.set(raw.subarray(0, CTX_SIZE));
  const sv = new DataView(src.buffer);
  if (sv.getBigUint64(CtxOff.sk, true) !== 0n) throw new CtxError("ctx sk/cookie field must be 0", "EINVAL");
  const family = sv.getUint32(CtxOff.family, true) & 0xffff;
  if (family !== AF_INET && family !== AF_INET6) throw new CtxError(`family ${family} is not inet or inet6`, "EAFNOSUPPORT");
  const localPort = sv.getUint32(CtxOff.local_port, true);
  if (localPort > 0xffff) throw new CtxError(`local_port ${localPort} is out of range`, "ERANGE");
  const out = new Uint8Array(CTX_SIZE);
  const v = new DataView(out.buffer);
  v.setUint32(CtxOff.family, family, true);
  v.setUint32(CtxOff.protocol, sv.getUint32(CtxOff.protocol, true) & 0xffff, true);
  if (family === AF_INET) {
    out.set(src.subarray(CtxOff.remote_ip4, CtxOff.remote_ip4 + 4), CtxOff.remote_ip4);
    out.set(src.subarray(CtxOff.local_ip4, CtxOff.local_ip4 + 4), CtxOff.local_ip4);
  } else {
    out.set(src.subarray(CtxOff.remote_ip6, CtxOff.remote_ip6 + 16), CtxOff.remote_ip6);
    out.set(src.subarray(CtxOff.local_ip6, CtxOff.local_ip6 + 16), CtxOff.local_ip6);
  }
  out.set(src.subarray(CtxOff.remote_port, CtxOff.remote_port + 2), CtxOff.remote_port);
  v.setUint32(CtxOff.local_port, localPort, true);
  v.setUint32(CtxOff.ingress_ifindex, sv.getUint32(CtxOff.ingress_ifindex, true), true);
  return out;
}

/** Reads back the description of ctx bytes (for reports and the netns regular lookup). */
export function describeCtx(b: Uint8Array): { family: number; protocol: number; localIp: Uint8Array; localPort: number; remoteIp: Uint8Array; remotePort: number } {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const family = v.getUint32(CtxOff.family, true);
  const v4 = family !== AF_INET6;
  return {
    family,
    protocol: v.getUint32(CtxOff.protocol, true),
    localIp: b.slice(v4 ? CtxOff.local_ip4 : CtxOff.local_ip6, (v4 ? CtxOff.local_ip4 : CtxOff.local_ip6) + (v4 ? 4 : 16)),
    remoteIp: b.slice(v4 ? CtxOff.remote_ip4 : CtxOff.remote_ip6, (v4 ? CtxOff.remote_ip4 : CtxOff.remote_ip6) + (v4 ? 4 : 16)),
    localPort: v.getUint32(CtxOff.local_port, true),
    remotePort: v.getUint16(CtxOff.remote_port, false),
  };
}
