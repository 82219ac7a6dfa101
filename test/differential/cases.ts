/**
 * The differential grid: for each subject program, every combination of a context (family × protocol × local
 * address × local port, remote varied along), a filling of its socket-map keys from the zoo, and a variant of its
 * data-map contents. A case is plain data; executors (kernel, VM) turn it into runs.
 */
import type { ObjectFile } from "../../compiler/elf/object.ts";
import type { CtxSpec } from "../../runtime/kernel/ctx.ts";

/** Initial contents of the data maps: map name → [key bytes, value bytes] pairs (all other entries zero/absent). */
export type DataFill = Record<string, Array<[Uint8Array, Uint8Array]>>;

/** Socket-map contents: map name → [key bytes, zoo socket name] pairs. */
export type SocketFill = Record<string, Array<[Uint8Array, string]>>;

/** One compared case. */
export interface Case {
  subject: string;
  program: string;
  ctx: CtxSpec;
  sockets: SocketFill;
  data: DataFill;
}

/** What a run produced, normalised so kernel and VM outcomes compare with deep equality. */
export interface Outcome {
  /** `SK_PASS`/`SK_DROP`, or `error:<what>` when the run itself failed (kernel test_run errno, VM fault). */
  verdict: string;
  /** Zoo name of the selected socket, or null. */
  selected: string | null;
  /** Every map after the run: `key hex → value hex` for data maps (per-CPU values summed), `key hex → name` for socket maps. */
  maps: Record<string, Record<string, string>>;
}

/** A program under test and how to fill its maps. */
export interface Subject {
  /** Label, e.g. `dispatch.o:dispatch`. */
  name: string;
  object: ObjectFile;
  program: string;
  /** Socket-map keys to fill (default: keys 0 and 1 of every SOCKMAP/SOCKHASH). */
  socketKeys?: Record<string, Uint8Array[]>;
  /** Data-map variants (default: one variant, all maps empty). */
  data?: DataFill[];
  /** Contexts (default: {@link contextGrid}). */
  ctxs?: CtxSpec[];
  /** "pairs": every ordered pair of zoo sockets over the first two keys (default "rotate": one rotation per zoo member). */
  fill?: "rotate" | "pairs";
}

/** Little-endian u32 bytes. */
export const u32 = (v: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
};
/** Little-endian u64 bytes. */
export const u64 = (v: bigint): Uint8Array => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, v), true);
  return b;
};
/** Concatenation of byte strings. */
export const cat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};
/** Big-endian u16 bytes. */
export const be16 = (v: number): Uint8Array => Uint8Array.of((v >> 8) & 0xff, v & 0xff);
/** Bytes as lower-case hex. */
export const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");

export const V4_LOCAL = ["127.0.0.1", "192.0.2.1", "192.0.2.254", "192.0.3.1", "127.0.2.9"];
export const V6_LOCAL = ["::1", "fd00::1", "fd00:1::7", "fd00:2::1"];
export const PORTS = [7007, 7008, 7000, 7010, 53, 80, 443, 22, 65535];
const V4_REMOTE: Array<[string, number]> = [["127.0.0.2", 40000], ["198.51.100.7", 53], ["10.1.2.3", 7007]];
const V6_REMOTE: Array<[string, number]> = [["::2", 40000], ["2001:db8::9", 53], ["fd00::1", 7007]];

/** The default context grid: v4/v6 × tcp/udp × local addresses × local ports; remote endpoints rotate. */
export function contextGrid(): CtxSpec[] {
  const out: CtxSpec[] = [];
  let i = 0;
  for (const family of ["inet", "inet6"] as const) {
    for (const protocol of ["tcp", "udp"] as const) {
      for (const localIp of family === "inet" ? V4_LOCAL : V6_LOCAL) {
        for (const localPort of PORTS) {
          const [remoteIp, remotePort] = (family === "inet" ? V4_REMOTE : V6_REMOTE)[i++ % 3]!;
          out.push({ family, protocol, localIp, localPort, remoteIp, remotePort });
        }
      }
    }
  }
  return out;
}

/** A small grid: one context per family × protocol, on port 7007 (for subjects whose interest is elsewhere). */
export function smallGrid(ports: number[] = [7007]): CtxSpec[] {
  const out: CtxSpec[] = [];
  for (const family of ["inet", "inet6"] as const) {
    for (const protocol of ["tcp", "udp"] as const) {
      for (const localPort of ports) {
        out.push(
          family === "inet"
            ? { family, protocol, localIp: "127.0.0.1", localPort, remoteIp: "127.0.0.2", remotePort: 40000 }
            : { family, protocol, localIp: "::1", localPort, remoteIp: "::2", remotePort: 40000 },
        );
      }
    }
  }
  return out;
}

const SOCKET_MAP_TYPES = new Set([15, 18]);

/** Expands a subject into cases, given the zoo's socket names. */
export function expand(subject: Subject, zooNames: string[]): Case[] {
  const socketMaps = subject.object.maps.filter((m) => SOCKET_MAP_TYPES.has(m.type));
  const keys: Record<string, Uint8Array[]> =
    subject.socketKeys ?? Object.fromEntries(socketMaps.map((m) => [m.name, [u32(0), u32(1)].slice(0, Math.min(2, m.maxEntries))]));
  // Slot choices: a zoo name or null (empty).
  const choices: Array<string | null> = [null, ...zooNames];
  const fills: SocketFill[] = [];
  if (subject.fill === "pairs") {
    for (const a of choices) {
      for (const b of choices) {
        const fill: SocketFill = {};
        for (const [map, ks] of Object.entries(keys)) {
          fill[map] = ks.flatMap((k, i): Array<[Uint8Array, string]> => {
            const name = i === 0 ? a : i === 1 ? b : null;
            return name ? [[k, name]] : [];
          });
        }
        fills.push(fill);
      }
    }
  } else {
    for (let j = 0; j < choices.length; j++) {
      const fill: SocketFill = {};
      for (const [map, ks] of Object.entries(keys)) {
        fill[map] = ks.flatMap((k, i): Array<[Uint8Array, string]> => {
          const name = choices[(j + i) % choices.length]!;
          return name ? [[k, name]] : [];
        });
      }
      fills.push(fill);
    }
  }
  const datas = subject.data ?? [{}];
  const ctxs = subject.ctxs ?? contextGrid();
  const out: Case[] = [];
  for (const data of datas) {
    for (const sockets of fills) {
      for (const ctx of ctxs) out.push({ subject: subject.name, program: subject.program, ctx, sockets, data });
    }
  }
  return out;
}
