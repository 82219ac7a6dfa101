/**
 * A simulated network namespace: a socket table plus sk_lookup programs attached in order, answering "which socket
 * receives this packet?" by the kernel's rules (include/linux/filter.h BPF_PROG_SK_LOOKUP_RUN_ARRAY and its callers
 * in net/ipv4/inet_hashtables.c, udp.c, and the IPv6 twins; Documentation/bpf/prog_sk_lookup.rst):
 *
 * - programs run in attach order; each starts with ctx->sk = the most recent selection made by a program that
 *   returned SK_PASS (a later program must pass BPF_SK_LOOKUP_F_REPLACE to override it);
 * - a selection made by a program that returns SK_DROP is discarded; a NULL selection never replaces one;
 * - overall: SK_PASS when every program passed or a selection exists, else SK_DROP → the lookup is refused;
 * - a selection is used as is with NO_REUSEPORT; otherwise a reuseport socket is swapped for a member of its group
 *   (chosen by a hash of the 4-tuple, standing in for the kernel's reuseport hash);
 * - SK_PASS without a selection falls back to the regular listener lookup over the socket table (an exact local
 *   address beats a wildcard bind; an AF_INET socket beats a dual-stack AF_INET6 one for IPv4).
 */
import { AF_INET, AF_INET6, IPPROTO_TCP, TCP_STATES } from "../../compiler/abi/sk-lookup.ts";
import { buildCtx, describeCtx, normalizeCtx, type SkLookupInput } from "../vm/ctx.ts";
import type { RunResult, Tier, VmProgram } from "../vm/object.ts";
import { isAnyAddr, v4Mapped } from "./addr.ts";
import { Socket, type SocketSpec } from "./socket.ts";

/** The kernel's limit of sk_lookup links per netns (the 65th fails with E2BIG). */
export const MAX_LINKS = 64;

/** How a lookup ended. */
export type LookupOutcome =
  /** A program selected the socket (possibly swapped within its reuseport group). */
  | "selected"
  /** No selection and some program returned SK_DROP: the connection is refused / datagram dropped. */
  | "refused"
  /** Every program passed without a selection: the regular lookup ran (`socket` may still be null). */
  | "regular";

/** The result of a netns lookup. */
export interface LookupResult {
  outcome: LookupOutcome;
  /** The receiving socket, or null (refused, or nothing listens). */
  socket: Socket | null;
  /** Each attached program's run, in order. */
  runs: RunResult[];
}

/** Too many links, or detaching a program that is not attached. */
export class NetnsError extends Error {
  override name = "NetnsError";
}

/** A simulated network namespace. */
export class Netns {
  readonly sockets: Socket[] = [];
  private readonly links: VmProgram[] = [];

  /** Creates a socket from a spec and adds it to the socket table. */
  socket(spec: SocketSpec): Socket {
    return this.add(new Socket(spec));
  }
  /** Adds an existing socket to the table (idempotent). */
  add(s: Socket): Socket {
    if (!this.sockets.includes(s)) this.sockets.push(s);
    return s;
  }
  /** Removes a socket from the table (like close()). */
  remove(s: Socket): void {
    const i = this.sockets.indexOf(s);
    if (i >= 0) this.sockets.splice(i, 1);
  }
  /** Attaches a program after the ones already attached (a program may be attached more than once, like links). */
  attach(p: VmProgram): this {
    if (this.links.length >= MAX_LINKS) throw new NetnsError(`a netns holds at most ${MAX_LINKS} sk_lookup links (E2BIG)`);
    this.links.push(p);
    return this;
  }
  /** Detaches the last attachment of `p`. */
  detach(p: VmProgram): this {
    const i = this.links.lastIndexOf(p);
    if (i < 0) throw new NetnsError(`program ${p.name} is not attached`);
    this.links.splice(i, 1);
    return this;
  }
  /** Attached programs, in order. */
  get programs(): readonly VmProgram[] {
    return this.links;
  }

  /** Answers which socket receives a packet described by `packet` (DSL ctx field names, or raw ctx bytes). */
  lookup(packet: SkLookupInput | Uint8Array, opts: { tier?: Tier } = {}): LookupResult {
    const ctx = packet instanceof Uint8Array ? normalizeCtx(packet) : buildCtx(packet);
    const runs: RunResult[] = [];
    let selected: Socket | null = null;
    let noReuseport = false;
    let allPass = true;
    for (const p of this.links) {
      const r = p.runCtx(ctx, { tier: opts.tier, selected, noReuseport });
      runs.push(r);
      if (r.verdict === "SK_PASS" && r.selected) {
        selected = r.selected;
        noReuseport = r.noReuseport;
      } else if (r.verdict === "SK_DROP") {
        allPass = false;
      }
    }
    const d = describeCtx(ctx);
    if (selected) return { outcome: "selected", socket: noReuseport ? selected : this.reuseportPick(selected, d), runs };
    if (!allPass) return { outcome: "refused", socket: null, runs };
    return { outcome: "regular", socket: this.regularLookup(d), runs };
  }

  /** The member of `s`'s reuseport group (same group key, protocol, family, address, port) that serves this flow. */
  private reuseportPick(s: Socket, d: ReturnType<typeof describeCtx>): Socket {
    if (!s.reuseport) return s;
    const group = this.sockets.filter(
      (o) =>
        o.reuseport === s.reuseport &&
        o.protocol === s.protocol &&
        o.family === s.family &&
        o.port === s.port &&
        o.state === s.state &&
        Buffer.compare(o.ip, s.ip) === 0,
    );
    if (group.length <= 1) return s;
    return group[flowHash(d) % group.length]!;
  }

  /** The kernel's regular lookup: best-scoring bound socket for (protocol, local address, local port). */
  private regularLookup(d: ReturnType<typeof describeCtx>): Socket | null {
    let best: Socket | null = null;
    let bestScore = -1;
    for (const s of this.sockets) {
      const score = this.score(s, d);
      if (score > bestScore) {
        best = s;
        bestScore = score;
      }
    }
    return best ? this.reuseportPick(best, d) : null;
  }

  private score(s: Socket, d: ReturnType<typeof describeCtx>): number {
    if (s.protocol !== d.protocol || s.port !== d.localPort) return -1;
    if (s.protocol === IPPROTO_TCP ? s.state !== TCP_STATES.listen : s.state !== TCP_STATES.close && s.state !== TCP_STATES.established) return -1;
    let score = 1;
    if (d.family === AF_INET) {
      if (s.family === AF_INET) {
        score++;
        if (!isAnyAddr(s.ip)) {
          if (Buffer.compare(s.ip, d.localIp) !== 0) return -1;
          score += 4;
        }
      } else {
        if (s.v6only) return -1;
        if (!isAnyAddr(s.ip)) {
          if (Buffer.compare(s.ip, v4Mapped(d.localIp)) !== 0) return -1;
          score += 4;
        }
      }
    } else {
      if (s.family !== AF_INET6) return -1;
      if (!isAnyAddr(s.ip)) {
        if (Buffer.compare(s.ip, d.localIp) !== 0) return -1;
        score += 4;
      }
    }
    if (s.state === TCP_STATES.established && s.protocol !== IPPROTO_TCP) {
      // A connected UDP socket only receives from its peer, and then beats unconnected ones.
      if (!s.remoteIp || Buffer.compare(s.remoteIp, d.remoteIp) !== 0 || s.remotePort !== d.remotePort) return -1;
      score += 8;
    }
    return score;
  }
}

/** A deterministic 4-tuple hash (FNV-1a) standing in for the kernel's reuseport hash. */
function flowHash(d: ReturnType<typeof describeCtx>): number {
  let h = 0x811c9dc5;
  const mix = (b: number): void => {
    h ^= b & 0xff;
    h = Math.imul(h, 0x01000193);
  };
  for (const b of d.remoteIp) mix(b);
  for (const b of d.localIp) mix(b);
  mix(d.remotePort >> 8);
  mix(d.remotePort);
  mix(d.localPort >> 8);
  mix(d.localPort);
  return h >>> 0;
}
