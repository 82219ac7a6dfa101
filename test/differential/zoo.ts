/**
 * The socket zoo of the differential suite: one real socket of every kind sk_assign treats differently, each with the
 * description the VM's simulated socket table takes (same name, family, protocol, state, address, port, v6only).
 * Kernel runs put the real sockets into maps and map ctx_out cookies back to names; VM runs use the descriptions.
 * Every socket is bound to loopback on an ephemeral port and nothing is attached, so nothing outside sees them.
 */
import { once } from "node:events";
import { createSocket, type Socket as DgramSocket } from "node:dgram";
import { createServer, Socket, type Server } from "node:net";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { openKernel } from "../../runtime/kernel/index.ts";

/** A socket description in the VM's (and `tsbpf run --maps`) format. */
export interface SockDesc {
  name: string;
  family: "inet" | "inet6";
  protocol: "tcp" | "udp";
  state: string;
  ip: string;
  port: number;
  v6only?: boolean;
  reuseport?: boolean;
  remoteIp?: string;
  remotePort?: number;
}

/** One zoo member: its description, the live Node socket and its cookie. */
export interface ZooSocket {
  desc: SockDesc;
  /** The Node socket, or a raw fd for sockets Node cannot make (R). */
  handle: Server | Socket | DgramSocket | number;
  cookie: bigint;
}

/** All zoo sockets, by name and by cookie. */
export class Zoo {
  readonly byCookie = new Map<bigint, ZooSocket>();
  readonly byName = new Map<string, ZooSocket>();
  constructor(readonly all: ZooSocket[]) {
    for (const z of all) {
      this.byCookie.set(z.cookie, z);
      this.byName.set(z.desc.name, z);
    }
  }
  /** Closes every socket. */
  close(): void {
    for (const z of this.all) {
      if (typeof z.handle === "number") openKernel().bpf.close(z.handle);
      else if ("destroy" in z.handle) z.handle.destroy();
      else z.handle.close();
    }
  }
}

async function tcpListener(host: string, v6only: boolean): Promise<Server> {
  const s = createServer().listen({ host, port: 0, ipv6Only: v6only });
  await once(s, "listening");
  return s;
}

async function udpBound(host: string, v6only: boolean): Promise<DgramSocket> {
  const s = createSocket({ type: host.includes(":") ? "udp6" : "udp4", ipv6Only: v6only });
  s.bind(0, host);
  await once(s, "listening");
  return s;
}

/**
 * Opens the zoo: A, B TCP v4 listeners; A6 TCP v6-only listener; D6 dual-stack TCP listener; U UDP v4; U6 UDP v6-only;
 * UD6 dual-stack UDP; E established TCP (client side); UC connected UDP. The names follow test/fixtures/c/corpus.json.
 */
export async function openZoo(): Promise<Zoo> {
  const k = openKernel();
  const out: ZooSocket[] = [];
  const add = (desc: Omit<SockDesc, "port">, handle: ZooSocket["handle"], port: number) =>
    out.push({ desc: { ...desc, port }, handle, cookie: k.socketCookie(handle) });
  const tcpPort = (s: Server) => (s.address() as { port: number }).port;

  const a = await tcpListener("127.0.0.1", false);
  add({ name: "A", family: "inet", protocol: "tcp", state: "listen", ip: "127.0.0.1" }, a, tcpPort(a));
  const b = await tcpListener("127.0.0.1", false);
  add({ name: "B", family: "inet", protocol: "tcp", state: "listen", ip: "127.0.0.1" }, b, tcpPort(b));
  const a6 = await tcpListener("::1", true);
  add({ name: "A6", family: "inet6", protocol: "tcp", state: "listen", ip: "::1", v6only: true }, a6, tcpPort(a6));
  // Dual-stack sockets are bound to the v4-mapped loopback: binding a v6 socket to a specific non-mapped address
  // (such as ::1) makes the kernel set sk_ipv6only by itself (inet6_bind), and binding :: would listen everywhere.
  const d6 = await tcpListener("::ffff:127.0.0.1", false);
  add({ name: "D6", family: "inet6", protocol: "tcp", state: "listen", ip: "::ffff:127.0.0.1", v6only: false }, d6, tcpPort(d6));
  const u = await udpBound("127.0.0.1", false);
  add({ name: "U", family: "inet", protocol: "udp", state: "unconnected", ip: "127.0.0.1" }, u, u.address().port);
  const u6 = await udpBound("::1", true);
  add({ name: "U6", family: "inet6", protocol: "udp", state: "unconnected", ip: "::1", v6only: true }, u6, u6.address().port);
  const ud6 = await udpBound("::ffff:127.0.0.1", false);
  add({ name: "UD6", family: "inet6", protocol: "udp", state: "unconnected", ip: "::ffff:127.0.0.1", v6only: false }, ud6, ud6.address().port);

  const e = new Socket();
  e.connect(tcpPort(a), "127.0.0.1");
  await once(e, "connect");
  add(
    { name: "E", family: "inet", protocol: "tcp", state: "established", ip: "127.0.0.1", remoteIp: "127.0.0.1", remotePort: tcpPort(a) },
    e,
    e.localPort!,
  );
  const uc = await udpBound("127.0.0.1", false);
  uc.connect(u.address().port, "127.0.0.1");
  await once(uc, "connect");
  add(
    { name: "UC", family: "inet", protocol: "udp", state: "connected", ip: "127.0.0.1", remoteIp: "127.0.0.1", remotePort: u.address().port },
    uc,
    uc.address().port,
  );
  const r = await reuseportListener();
  add({ name: "R", family: "inet", protocol: "tcp", state: "listen", ip: "127.0.0.1", reuseport: true }, r.fd, r.port);
  return new Zoo(out);
}

/**
 * A TCP listener with SO_REUSEPORT, which Node 20 cannot create: Python makes it, and the fd is copied into this
 * process with pidfd_getfd. Python then exits; our copy keeps the socket.
 */
async function reuseportListener(): Promise<{ fd: number; port: number }> {
  const script = [
    "import os, socket, sys",
    "s = socket.socket()",
    "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)",
    "s.bind(('127.0.0.1', 0)); s.listen(16)",
    "print('%d %d' % (s.fileno(), s.getsockname()[1]), flush=True)",
    "sys.stdin.read()",
  ].join("\n");
  const child = spawn("python3", ["-c", script], { stdio: ["pipe", "pipe", "inherit"] });
  // print() may write its arguments separately: read a whole line.
  const [line] = (await once(createInterface({ input: child.stdout! }), "line")) as [string];
  const [fdText, portText] = line.trim().split(" ");
  try {
    return { fd: openKernel().bpf.fdFromProcess(child.pid!, Number(fdText)), port: Number(portText) };
  } finally {
    child.stdin!.end();
  }
}

