/**
 * Packets for handler tests: the lookup a program is asked about, written as plain fields (the DSL's context names,
 * like `tsbpf run --ctx`) or as a one-line string such as `"tcp 127.0.0.2:40000 -> 127.0.0.1:7007"`. Omitted fields
 * get defaults a test would otherwise repeat everywhere: the family follows the addresses, the protocol is TCP.
 */
import { CtxError, type SkLookupInput } from "../index.ts";

/** A lookup described by fields. Everything is optional: family from the addresses (else inet), protocol tcp. */
export interface PacketFields {
  /** `inet`, `inet6`, 2 or 10; default: `inet6` when an address contains ':', else `inet`. */
  family?: "inet" | "inet6" | number;
  /** `tcp`, `udp` or a protocol number; default `tcp`. */
  protocol?: "tcp" | "udp" | number;
  /** The peer's address (where the packet comes from). */
  remoteIp?: string;
  /** The peer's port. */
  remotePort?: number;
  /** The local (destination) address the packet was sent to. */
  localIp?: string;
  /** The local (destination) port. */
  localPort?: number;
  /** The ingress interface index (BPF_PROG_TEST_RUN refuses non-zero; real lookups on lo give 1). */
  ingressIfindex?: number;
}

/**
 * A packet for `run`/`lookup`: fields, a string `"PROTO [REMOTE ->] LOCAL"` (addresses as `1.2.3.4:80` or
 * `[fd00::1]:80`, e.g. `"udp [fd00::9]:5000 -> [fd00::1]:53"`), or raw 72-byte ctx bytes as BPF_PROG_TEST_RUN takes.
 */
export type Packet = string | PacketFields | Uint8Array;

const ENDPOINT = /^(?:\[([0-9a-fA-F:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):(\d+)$/;

/** Parses `"tcp 127.0.0.2:40000 -> 127.0.0.1:7007"` (the remote side is optional). Throws CtxError when malformed. */
export function parsePacket(text: string): PacketFields {
  const m = /^\s*(tcp|udp)\s+(?:(\S+)\s*->\s*)?(\S+)\s*$/i.exec(text);
  const bad = (why: string): never => {
    throw new CtxError(`packet ${JSON.stringify(text)}: ${why} (write e.g. "tcp 127.0.0.2:40000 -> 127.0.0.1:7007" or "udp [fd00::1]:53")`, "EINVAL");
  };
  if (!m) return bad("expected PROTO [REMOTE ->] LOCAL");
  const endpoint = (s: string): { ip: string; port: number } => {
    const e = ENDPOINT.exec(s);
    if (!e) return bad(`'${s}' is not ADDRESS:PORT`);
    return { ip: e[1] ?? e[2]!, port: Number(e[3]) };
  };
  const local = endpoint(m[3]!);
  const out: PacketFields = { protocol: m[1]!.toLowerCase() as "tcp" | "udp", localIp: local.ip, localPort: local.port };
  if (m[2] !== undefined) {
    const remote = endpoint(m[2]);
    out.remoteIp = remote.ip;
    out.remotePort = remote.port;
  }
  return out;
}

/** The full context description for a packet (defaults applied), as `buildCtx` takes it. Raw bytes pass through. */
export function toCtxInput(p: Packet): SkLookupInput | Uint8Array {
  if (p instanceof Uint8Array) return p;
  if (typeof p === "string") return toCtxInput(parsePacket(p));
  if (p === null || typeof p !== "object" || Array.isArray(p)) {
    throw new CtxError(`a packet is an object of ctx fields, a string like "tcp 127.0.0.1:7007", or ctx bytes (got ${JSON.stringify(p)})`, "EINVAL");
  }
  const v6 = [p.localIp, p.remoteIp].some((a) => typeof a === "string" && a.includes(":"));
  return { ...p, family: p.family ?? (v6 ? "inet6" : "inet"), protocol: p.protocol ?? "tcp" };
}

/** A one-line description for messages: `tcp 127.0.0.2:40000 -> 127.0.0.1:7007`. */
export function describePacket(p: Packet): string {
  if (p instanceof Uint8Array) return `raw ctx (${p.length} bytes)`;
  let f: PacketFields;
  try {
    f = typeof p === "string" ? parsePacket(p) : p;
  } catch {
    return String(p);
  }
  const proto = f.protocol === 6 || f.protocol === undefined ? "tcp" : f.protocol === 17 ? "udp" : String(f.protocol).toLowerCase();
  const v6 = f.family === "inet6" || f.family === 10 || [f.localIp, f.remoteIp].some((a) => a?.includes(":"));
  const end = (ip: string | undefined, port: number | undefined): string => {
    const addr = ip ?? (v6 ? "::" : "0.0.0.0");
    return `${addr.includes(":") ? `[${addr}]` : addr}:${port ?? 0}`;
  };
  const local = end(f.localIp, f.localPort);
  const remote = f.remoteIp !== undefined || f.remotePort !== undefined ? `${end(f.remoteIp, f.remotePort)} -> ` : "";
  const name = proto === "tcp" || proto === "udp" ? `${proto}${v6 ? "6" : ""}` : `protocol ${proto}`;
  return `${name} ${remote}${local}`;
}
