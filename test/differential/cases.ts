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
  /** A DSL-style context, or raw `struct bpf_sk_lookup` bytes as BPF_PROG_TEST_RUN takes them. */
  ctx: CtxSpec | Uint8Array;
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
  ctxs?: Array<CtxSpec | Uint8Array>;
  /** Use only the first N socket fillings (default: all). */
  maxFills?: number;
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

/**
 * Grid axes: addresses and ports inside and outside every rule of the corpus and the examples (7007, 7000..7009,
 * 53, 80, 22; 192.0.2.0/24, 127.0.2.0/24, fd00::1, fd00:1::/64). TSBPF_DIFF_FULL=1 adds more of each (slower).
 */
const FULL = process.env.TSBPF_DIFF_FULL === "1";
/** IPv4 local addresses of the grid. */
export const V4_LOCAL = FULL ? ["127.0.0.1", "192.0.2.1", "192.0.2.254", "192.0.3.1", "127.0.2.9"] : ["127.0.0.1", "192.0.2.1", "192.0.3.1", "127.0.2.9"];
/** IPv6 local addresses of the grid. */
export const V6_LOCAL = FULL ? ["::1", "fd00::1", "fd00:1::7", "fd00:2::1"] : ["::1", "fd00::1", "fd00:1::7"];
/** Local ports of the grid. */
export const PORTS = FULL ? [7007, 7008, 7000, 7010, 53, 80, 443, 22, 65535] : [7007, 7008, 7009, 53, 80, 22];
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
  if (subject.maxFills !== undefined) fills.splice(subject.maxFills);
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

/**
 * Raw contexts that BPF_PROG_TEST_RUN accepts but that no DSL object can express (kernel-facts "What
 * BPF_PROG_TEST_RUN requires of ctx_in"): only the low 16 bits of family/protocol/local_port count, protocol is not
 * validated, padding and the other family's address fields are ignored, a short ctx_in is zero-extended.
 */
export function rawContexts(): Uint8Array[] {
  const base = (family: number, protocol: number, localPort: number): Uint8Array => {
    const b = new Uint8Array(72);
    const v = new DataView(b.buffer);
    v.setUint32(8, family, true);
    v.setUint32(12, protocol, true);
    if ((family & 0xffff) === 2) {
      b.set([127, 0, 0, 2], 16);
      b.set([127, 0, 0, 1], 40);
    } else {
      b[20 + 15] = 2;
      b[44 + 15] = 1;
    }
    v.setUint16(36, 40000, false);
    v.setUint32(60, localPort, true);
    return b;
  };
  const out: Uint8Array[] = [];
  for (const family of [2, 10, 0x10002, 0xffff000a]) {
    for (const protocol of [6, 17, 0, 132, 0x10006, 0xffff0011]) {
      for (const port of [7007, 0, 65535]) out.push(base(family, protocol, port));
    }
  }
  // Padding after remote_port, the other family's addresses, and a remote port with both bytes set.
  const pad = base(2, 6, 7007);
  pad[38] = 0xaa;
  pad[39] = 0x55;
  out.push(pad);
  const cross4 = base(2, 6, 7007);
  cross4.fill(0xee, 20, 36);
  cross4.fill(0xdd, 44, 60);
  out.push(cross4);
  const cross6 = base(10, 17, 7007);
  cross6.fill(0xee, 16, 20);
  cross6.fill(0xdd, 40, 44);
  out.push(cross6);
  const port = base(2, 17, 7007);
  new DataView(port.buffer).setUint16(36, 0xabcd, false);
  out.push(port);
  // A 64-byte ctx_in (the missing tail reads zero) and a 128-byte one with a zero tail.
  out.push(base(2, 6, 7007).slice(0, 64));
  const long = new Uint8Array(128);
  long.set(base(10, 6, 7007));
  out.push(long);
  return out;
}

/** Raw contexts that BPF_PROG_TEST_RUN refuses, each with the errno it gives (kernel-facts). */
export function rejectedContexts(): Array<[string, Uint8Array]> {
  const ok = rawContexts()[0]!;
  const edit = (f: (b: Uint8Array, v: DataView) => void): Uint8Array => {
    const b = ok.slice();
    f(b, new DataView(b.buffer));
    return b;
  };
  const long = new Uint8Array(128);
  long.set(ok);
  long[100] = 1;
  return [
    ["family 0", edit((_, v) => v.setUint32(8, 0, true))],
    ["family AF_UNIX", edit((_, v) => v.setUint32(8, 1, true))],
    ["local_port 65536", edit((_, v) => v.setUint32(60, 65536, true))],
    ["cookie set", edit((b) => (b[0] = 1))],
    ["ingress_ifindex 1", edit((_, v) => v.setUint32(64, 1, true))],
    ["128 bytes, non-zero tail", long],
  ];
}
