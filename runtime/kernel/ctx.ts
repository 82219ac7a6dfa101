/**
 * Encoder/decoder of `struct bpf_sk_lookup` (72 bytes) as BPF_PROG_TEST_RUN takes it in ctx_in and gives it back in
 * ctx_out, from the DSL-style context object the CLI's `--ctx` uses. Layout: compiler/abi/sk-lookup.ts.
 * Byte orders follow the kernel: addresses and remote_port are network order, local_port is host order (u32).
 */
import { AF_INET, AF_INET6, CTX_SIZE, CtxOff, IPPROTO_TCP, IPPROTO_UDP } from "../../compiler/abi/sk-lookup.ts";

/** A context as users write it: `{ family: "inet", protocol: "tcp", localIp: "127.0.0.1", localPort: 7007, ... }`. */
export interface CtxSpec {
  /** `inet`/`inet6` or the number (AF_INET 2, AF_INET6 10). */
  family: "inet" | "inet6" | number;
  /** `tcp`/`udp` or the IP protocol number. */
  protocol: "tcp" | "udp" | number;
  /** A v4 or v6 address matching the family (default: all zeros). */
  remoteIp?: string;
  remotePort?: number;
  localIp?: string;
  localPort?: number;
  /** Must stay 0 for BPF_PROG_TEST_RUN (the kernel rejects anything else with EINVAL). */
  ingressIfindex?: number;
}

/** A context that cannot be encoded (bad address, family mismatch, port out of range). */
export class CtxError extends Error {
  override name = "CtxError";
}

/** Parses a dotted-quad IPv4 address into its 4 network-order bytes. */
export function parseIp4(text: string): Uint8Array {
  const parts = text.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    throw new CtxError(`malformed IPv4 address ${JSON.stringify(text)}`);
  }
  return Uint8Array.from(parts.map(Number));
}

/** Parses an IPv6 address (with `::` compression and an optional trailing dotted quad) into 16 network-order bytes. */
export function parseIp6(text: string): Uint8Array {
  const bad = (): never => {
    throw new CtxError(`malformed IPv6 address ${JSON.stringify(text)}`);
  };
  const halves = text.split("::");
  if (halves.length > 2) bad();
  const words = (s: string): number[] => {
    if (s === "") return [];
    const out: number[] = [];
    const groups = s.split(":");
    groups.forEach((g, i) => {
      if (i === groups.length - 1 && g.includes(".")) {
        const b = parseIp4(g);
        out.push((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(g)) out.push(parseInt(g, 16));
      else bad();
    });
    return out;
  };
  const head = words(halves[0]!);
  const tail = halves.length === 2 ? words(halves[1]!) : [];
  if (halves.length === 1 ? head.length !== 8 : head.length + tail.length > 7) bad();
  const all = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((w, i) => {
    bytes[2 * i] = w >> 8;
    bytes[2 * i + 1] = w & 0xff;
  });
  return bytes;
}

/** Formats 4 or 16 network-order bytes as an address string (v6 without compression, lower-case). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join(".");
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return words.join(":");
}

/** AF_* number for a family name or number. */
export function familyNumber(f: CtxSpec["family"]): number {
  if (f === "inet") return AF_INET;
  if (f === "inet6") return AF_INET6;
  if (typeof f === "number" && Number.isInteger(f) && f >= 0) return f;
  throw new CtxError(`unknown family ${JSON.stringify(f)} (expected "inet", "inet6" or a number)`);
}

/** IPPROTO_* number for a protocol name or number. */
export function protocolNumber(p: CtxSpec["protocol"]): number {
  if (p === "tcp") return IPPROTO_TCP;
  if (p === "udp") return IPPROTO_UDP;
  if (typeof p === "number" && Number.isInteger(p) && p >= 0) return p;
  throw new CtxError(`unknown protocol ${JSON.stringify(p)} (expected "tcp", "udp" or a number)`);
}

function port(value: number | undefined, name: string, max: number): number {
  const v = value ?? 0;
  if (!Number.isInteger(v) || v < 0 || v > max) throw new CtxError(`${name} ${v} is out of range 0..${max}`);
  return v;
}

/** Encodes a context into the 72 bytes of `struct bpf_sk_lookup` (cookie 0). */
export function encodeCtx(spec: CtxSpec): Uint8Array {
  const bytes = new Uint8Array(CTX_SIZE);
  const view = new DataView(bytes.buffer);
  const family = familyNumber(spec.family);
  view.setUint32(CtxOff.family, family, true);
  view.setUint32(CtxOff.protocol, protocolNumber(spec.protocol), true);
  const v6 = family === AF_INET6;
  const addr = (text: string | undefined, off4: number, off6: number, name: string) => {
    if (text === undefined) return;
    const isV6 = text.includes(":");
    if (isV6 !== v6) throw new CtxError(`${name} ${text} does not match family ${v6 ? "inet6" : "inet"}`);
    bytes.set(isV6 ? parseIp6(text) : parseIp4(text), isV6 ? off6 : off4);
  };
  addr(spec.remoteIp, CtxOff.remote_ip4, CtxOff.remote_ip6, "remoteIp");
  addr(spec.localIp, CtxOff.local_ip4, CtxOff.local_ip6, "localIp");
  view.setUint16(CtxOff.remote_port, port(spec.remotePort, "remotePort", 0xffff), false);
  view.setUint32(CtxOff.local_port, port(spec.localPort, "localPort", 0xffff), true);
  view.setUint32(CtxOff.ingress_ifindex, spec.ingressIfindex ?? 0, true);
  return bytes;
}

/** Reads the cookie (offset 0) that BPF_PROG_TEST_RUN writes into ctx_out: the selected socket's SO_COOKIE, or 0n. */
export function ctxCookie(ctxOut: Uint8Array): bigint {
  return new DataView(ctxOut.buffer, ctxOut.byteOffset, ctxOut.byteLength).getBigUint64(0, true);
}
