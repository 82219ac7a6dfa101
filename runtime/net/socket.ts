/**
 * Simulated sockets: what a sk_lookup program can observe of a socket (struct bpf_sock through ctx->sk or a SOCKMAP
 * lookup) and what bpf_sk_assign and the regular listener lookup check (family, protocol, state, address, v6only,
 * reuseport group). Each socket has a unique cookie, like SO_COOKIE, and a reference count so tests can see leaks.
 */
import {
  AF_INET,
  AF_INET6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  SOCK_DGRAM,
  SOCK_SIZE,
  SOCK_STREAM,
  SockOff,
  TCP_STATES,
} from "../../compiler/abi/sk-lookup.ts";
import { Region, RegionKind } from "../vm/region.ts";
import { AddressError, formatIp, parseIp } from "./addr.ts";

/** A socket description as users write it (also the JSON format of `tsbpf run --maps`). */
export interface SocketSpec {
  /** Name reported as `selected` (defaults to `sk<cookie>`). */
  name?: string;
  /** `inet`, `inet6`, 2 or 10. */
  family: "inet" | "inet6" | number;
  /** `tcp`, `udp`, 6 or 17. */
  protocol: "tcp" | "udp" | number;
  /** TCP state name (`listen`, `established`...), `unconnected`/`connected` for UDP, or a number. Default: listen/unconnected. */
  state?: string | number;
  /** Bound address (default the wildcard of the family). */
  ip?: string;
  /** Bound port, host order. */
  port?: number;
  /** IPV6_V6ONLY (inet6 only). */
  v6only?: boolean;
  /** SO_REUSEPORT group: sockets with the same group (and bound address/port) share lookups. `true` = its own group key. */
  reuseport?: boolean | string | number;
  /** Peer address and port of a connected socket. */
  remoteIp?: string;
  remotePort?: number;
}

/** A socket description that is not valid. */
export class SocketError extends Error {
  override name = "SocketError";
}

let nextCookie = 0x1000n;
const SPEC_FIELDS = new Set(["name", "family", "protocol", "state", "ip", "port", "v6only", "reuseport", "remoteIp", "remotePort"]);

const FAMILIES: Record<string, number> = { inet: AF_INET, inet6: AF_INET6 };
const PROTOCOLS: Record<string, number> = { tcp: IPPROTO_TCP, udp: IPPROTO_UDP };

/** Resolves a family name or number. */
export function familyOf(v: unknown): number {
  const n = typeof v === "string" ? FAMILIES[v] : v;
  if (n !== AF_INET && n !== AF_INET6) throw new SocketError(`family must be inet, inet6, 2 or 10 (got ${JSON.stringify(v)})`);
  return n;
}
/** Resolves a protocol name or number. */
export function protocolOf(v: unknown): number {
  const n = typeof v === "string" ? PROTOCOLS[v] : v;
  if (n !== IPPROTO_TCP && n !== IPPROTO_UDP) throw new SocketError(`protocol must be tcp, udp, 6 or 17 (got ${JSON.stringify(v)})`);
  return n;
}

/** A simulated socket. Fields are fixed at creation except `state`. */
export class Socket {
  readonly name: string;
  readonly family: number;
  readonly protocol: number;
  readonly type: number;
  state: number;
  /** Bound address, network order (4 bytes for inet, 16 for inet6). */
  readonly ip: Uint8Array;
  readonly port: number;
  readonly v6only: boolean;
  /** Reuseport group key, or null. */
  readonly reuseport: string | null;
  readonly remoteIp: Uint8Array | null;
  readonly remotePort: number;
  /** SO_COOKIE. */
  readonly cookie: bigint;
  /** References currently held by BPF programs (taken by SOCKMAP/SOCKHASH lookups, dropped by sk_release). */
  refs = 0;
  /** The struct bpf_sock view programs read. */
  readonly region: Region;

  constructor(spec: SocketSpec) {
    if (spec === null || typeof spec !== "object" || Array.isArray(spec)) throw new SocketError("a socket must be an object");
    for (const k of Object.keys(spec)) {
      if (!SPEC_FIELDS.has(k)) throw new SocketError(`unknown socket field '${k}' (known: ${[...SPEC_FIELDS].join(", ")})`);
    }
    this.family = familyOf(spec.family);
    this.protocol = protocolOf(spec.protocol);
    this.type = this.protocol === IPPROTO_TCP ? SOCK_STREAM : SOCK_DGRAM;
    this.cookie = nextCookie++;
    this.name = spec.name ?? `sk${this.cookie}`;
    this.state = stateOf(spec.state, this.protocol);
    const len = this.family === AF_INET ? 4 : 16;
    this.ip = new Uint8Array(len);
    try {
      if (spec.ip !== undefined) {
        const p = parseIp(spec.ip);
        if (p.bytes.length !== len) throw new SocketError(`socket ${this.name}: address ${spec.ip} does not match family`);
        this.ip = p.bytes;
      }
      this.remoteIp = spec.remoteIp === undefined ? null : parseIp(spec.remoteIp).bytes;
    } catch (e) {
      if (e instanceof AddressError) throw new SocketError(`socket ${this.name}: ${e.message}`);
      throw e;
    }
    this.port = portOf(spec.port ?? 0, this.name);
    this.remotePort = portOf(spec.remotePort ?? 0, this.name);
    this.v6only = this.family === AF_INET6 && spec.v6only === true;
    this.reuseport =
      spec.reuseport === undefined || spec.reuseport === false ? null : spec.reuseport === true ? "default" : String(spec.reuseport);
    this.region = new Region(RegionKind.Sock, new Uint8Array(SOCK_SIZE), `sock ${this.name}`, this);
    this.refresh();
  }

  /** True when bpf_sk_assign accepts it state-wise: a TCP listener or an unconnected UDP socket. */
  get assignable(): boolean {
    return this.protocol === IPPROTO_TCP ? this.state === TCP_STATES.listen : this.state === TCP_STATES.close;
  }

  /** Changes the state (e.g. to simulate a listener that was closed) and updates the bpf_sock view. */
  setState(state: string | number): void {
    this.state = stateOf(state, this.protocol);
    this.refresh();
  }

  /** A short description, e.g. `A tcp 127.0.0.1:1234 listen`. */
  toString(): string {
    return `${this.name} ${this.protocol === IPPROTO_TCP ? "tcp" : "udp"}${this.family === AF_INET6 ? "6" : ""} ${formatIp(this.ip)}:${this.port}`;
  }

  /** Rewrites struct bpf_sock (include/uapi/linux/bpf.h) from the fields. */
  private refresh(): void {
    const v = this.region.view;
    v.setUint32(SockOff.family, this.family, true);
    v.setUint32(SockOff.type, this.type, true);
    v.setUint32(SockOff.protocol, this.protocol, true);
    if (this.family === AF_INET) this.region.bytes.set(this.ip, SockOff.src_ip4);
    else this.region.bytes.set(this.ip, SockOff.src_ip6);
    v.setUint32(SockOff.src_port, this.port, true);
    v.setUint16(SockOff.dst_port, this.remotePort, false);
    if (this.remoteIp?.length === 4) this.region.bytes.set(this.remoteIp, SockOff.dst_ip4);
    if (this.remoteIp?.length === 16) this.region.bytes.set(this.remoteIp, SockOff.dst_ip6);
    v.setUint32(SockOff.state, this.state, true);
    v.setInt32(SockOff.rx_queue_mapping, -1, true);
  }
}

function portOf(p: unknown, name: string): number {
  if (typeof p !== "number" || !Number.isInteger(p) || p < 0 || p > 65535) {
    throw new SocketError(`socket ${name}: port must be an integer 0..65535 (got ${JSON.stringify(p)})`);
  }
  return p;
}

function stateOf(s: string | number | undefined, protocol: number): number {
  if (s === undefined) return protocol === IPPROTO_TCP ? TCP_STATES.listen : TCP_STATES.close;
  if (typeof s === "number" && Number.isInteger(s) && s >= 1 && s <= 12) return s;
  if (s === "unconnected" || s === "bound") return TCP_STATES.close;
  if (s === "connected") return TCP_STATES.established;
  const n = typeof s === "string" ? (TCP_STATES as Record<string, number>)[s.toLowerCase()] : undefined;
  if (n === undefined) throw new SocketError(`unknown socket state ${JSON.stringify(s)}`);
  return n;
}
