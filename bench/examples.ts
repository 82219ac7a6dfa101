/**
 * The examples the benchmark compares with their C twins (bench/c), and for each program a context that takes its
 * interesting path (a hit that selects a socket), with what user space must put into the maps first.
 */

/** How a benchmark fills one map before running: sockets by index/label, or plain entries. */
export type MapFill =
  | { map: string; kind: "socket"; key: number; socket: { family: "inet" | "inet6"; protocol: "tcp" | "udp" } }
  | { map: string; kind: "lpm4"; prefixLen: number; protocol: number; port: number; addr: string; value: number }
  /** Any other map: the key and value bytes, in hex. */
  | { map: string; kind: "bytes"; key: string; value: string };

/** One program of an example. */
export interface BenchProgram {
  name: string;
  /** DSL-style context (`tsbpf run --ctx`) of the measured run. */
  ctx: { family: "inet" | "inet6"; protocol: "tcp" | "udp"; remoteIp: string; remotePort: number; localIp: string; localPort: number };
  fills: MapFill[];
  /** The verdict this run must produce (a mismatch means the two programs do not behave alike). */
  verdict: "SK_PASS" | "SK_DROP";
  /** Whether a socket must be selected. */
  selects: boolean;
}

/** An example file and its C twin. */
export interface BenchExample {
  /** Path of the DSL file, from the repo root. */
  source: string;
  /** Path of the C twin's source and object, from the repo root. */
  twinSource: string;
  twinObject: string;
  programs: BenchProgram[];
}

const tcp4 = (localIp: string, localPort: number) =>
  ({ family: "inet", protocol: "tcp", remoteIp: "127.0.0.2", remotePort: 8008, localIp, localPort }) as const;
const tcp6 = (localIp: string, localPort: number) =>
  ({ family: "inet6", protocol: "tcp", remoteIp: "::2", remotePort: 8008, localIp, localPort }) as const;
/** A TCP socket of `family` at `map[key]`. */
export const sock = (map: string, key: number, family: "inet" | "inet6" = "inet"): MapFill =>
  ({ map, kind: "socket", key, socket: { family, protocol: "tcp" } });

/** A u32 in little-endian hex, as a map key or value field holds it. */
const u32hex = (n: number): string => Buffer.from(new Uint32Array([n]).buffer).toString("hex");
/** A route of examples/port-rules.ts: { prefixLen: u32, addr: u32 (host order) } → socket index. */
export const route4 = (prefixLen: number, addr: string, index: number): MapFill => ({
  map: "routes",
  kind: "bytes",
  key: u32hex(prefixLen) + u32hex(addr.split(".").reduce((a, b) => a * 256 + Number(b), 0)),
  value: u32hex(index),
});

/** The examples of docs/ARCHITECTURE.md, in its order. */
export const EXAMPLES: readonly BenchExample[] = [
  {
    source: "examples/redirect-port.ts",
    twinSource: "bench/c/redirect-port.c",
    twinObject: "bench/c/redirect-port.o",
    programs: [{ name: "redir_port", ctx: tcp4("127.0.0.1", 7007), fills: [sock("sockets", 0)], verdict: "SK_PASS", selects: true }],
  },
  {
    source: "examples/cidr-all-ports.ts",
    twinSource: "bench/c/cidr-all-ports.c",
    twinObject: "bench/c/cidr-all-ports.o",
    programs: [{ name: "serve_range", ctx: tcp4("192.0.2.77", 443), fills: [sock("sockets", 0)], verdict: "SK_PASS", selects: true }],
  },
  {
    source: "examples/l7-proxy.ts",
    twinSource: "bench/c/l7-proxy.c",
    twinObject: "bench/c/l7-proxy.o",
    // A dual-stack listener serves both families; the measured run is IPv6 so the counter index is computed.
    programs: [{ name: "proxy_all", ctx: tcp6("::1", 8080), fills: [sock("proxy", 0, "inet6")], verdict: "SK_PASS", selects: true }],
  },
  {
    source: "examples/dispatcher.ts",
    twinSource: "bench/c/dispatcher.c",
    twinObject: "bench/c/dispatcher.o",
    // Only the port-0 binding exists, so both lookups of the trie run (the slowest hit path).
    programs: [
      {
        name: "dispatch",
        ctx: tcp4("127.0.2.9", 8080),
        fills: [
          { map: "bindings", kind: "lpm4", prefixLen: 32 + 24, protocol: 6, port: 0, addr: "127.0.2.0", value: 3 },
          sock("destinations", 3),
        ],
        verdict: "SK_PASS",
        selects: true,
      },
    ],
  },
  {
    source: "examples/redirect-ip6.ts",
    twinSource: "bench/c/redirect-ip6.c",
    twinObject: "bench/c/redirect-ip6.o",
    programs: [
      { name: "redir_ip6", ctx: tcp6("fd00::1", 7007), fills: [sock("sockets", 0, "inet6")], verdict: "SK_PASS", selects: true },
      { name: "redir_ip6_range", ctx: tcp6("fd00:1::42", 9000), fills: [sock("sockets", 1, "inet6")], verdict: "SK_PASS", selects: true },
    ],
  },
  {
    source: "examples/port-rules.ts",
    twinSource: "bench/c/port-rules.c",
    twinObject: "bench/c/port-rules.o",
    programs: [
      { name: "redir_ports", ctx: tcp4("127.0.0.1", 7007), fills: [sock("sockets", 0)], verdict: "SK_PASS", selects: true },
      { name: "tcp4_only", ctx: tcp4("127.0.0.1", 7007), fills: [], verdict: "SK_PASS", selects: false },
      // remotePort 8008 % 4 = 0.
      { name: "spread4", ctx: tcp4("127.0.0.1", 7007), fills: [sock("sockets", 0)], verdict: "SK_PASS", selects: true },
      { name: "block_ports", ctx: tcp4("127.0.0.1", 3389), fills: [], verdict: "SK_DROP", selects: false },
      // The /24 route: 9 misses (/32 … /25) before the hit.
      { name: "prefix_walk", ctx: tcp4("192.0.2.77", 80), fills: [route4(24, "192.0.2.0", 2), sock("sockets", 2)], verdict: "SK_PASS", selects: true },
    ],
  },
];
