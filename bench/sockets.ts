/**
 * Real sockets for kernel runs, made from the socket descriptions of `tsbpf run --maps` and the corpus manifest:
 * `{ name, family: "inet"|"inet6", protocol: "tcp"|"udp", state, ip, v6only? }`. Ports are ephemeral (the
 * description's port is ignored); `port` tells which one was bound.
 */
import { once } from "node:events";
import { createSocket, type Socket as DgramSocket } from "node:dgram";
import { connect, createServer, type Server, type Socket } from "node:net";
import type { SocketLike } from "../runtime/kernel/sockets.ts";

/** A socket description (see module comment). */
export interface SocketDesc {
  name?: string;
  family: "inet" | "inet6";
  protocol: "tcp" | "udp";
  state?: string;
  ip?: string;
  port?: number;
  v6only?: boolean;
  reuseport?: boolean;
}

/** A socket that exists, with what a SOCKMAP update needs. */
export interface LiveSocket {
  handle: SocketLike;
  /** The bound local port. */
  port: number;
  close(): void;
}

/** A description this harness cannot realise with Node's socket API. */
export class UnsupportedSocketError extends Error {
  override name = "UnsupportedSocketError";
}

const anyAddr = (d: SocketDesc) => d.ip ?? (d.family === "inet6" ? "::1" : "127.0.0.1");

async function listener(d: SocketDesc): Promise<Server> {
  const server = createServer();
  server.listen({ port: 0, host: anyAddr(d), ipv6Only: d.v6only ?? false });
  await once(server, "listening");
  return server;
}

async function udp(d: SocketDesc): Promise<DgramSocket> {
  const s = createSocket({ type: d.family === "inet6" ? "udp6" : "udp4", ipv6Only: d.v6only ?? false });
  s.bind(0, anyAddr(d));
  await once(s, "listening");
  return s;
}

/** Creates the socket a description asks for. */
export async function makeSocket(d: SocketDesc): Promise<LiveSocket> {
  // Node 20 has no SO_REUSEPORT for TCP servers (reusePort arrived in Node 22.12).
  if (d.reuseport) throw new UnsupportedSocketError("SO_REUSEPORT listeners cannot be created from Node 20");
  const state = d.state ?? (d.protocol === "tcp" ? "listen" : "unconnected");
  if (d.protocol === "tcp" && state === "listen") {
    const server = await listener(d);
    return { handle: server, port: (server.address() as { port: number }).port, close: () => server.close() };
  }
  if (d.protocol === "tcp" && state === "established") {
    const server = await listener(d);
    const port = (server.address() as { port: number }).port;
    const client: Socket = connect({ port, host: anyAddr(d) });
    await once(client, "connect");
    return {
      handle: client,
      port: client.localPort!,
      close: () => {
        client.destroy();
        server.close();
      },
    };
  }
  if (d.protocol === "udp" && state === "unconnected") {
    const s = await udp(d);
    return { handle: s, port: s.address().port, close: () => s.close() };
  }
  if (d.protocol === "udp" && state === "connected") {
    const peer = await udp(d);
    const s = await udp(d);
    s.connect(peer.address().port, anyAddr(d));
    await once(s, "connect");
    return {
      handle: s,
      port: s.address().port,
      close: () => {
        s.close();
        peer.close();
      },
    };
  }
  throw new UnsupportedSocketError(`no way to make a ${d.protocol} socket in state ${state}`);
}
