/**
 * File descriptors of Node sockets, for SOCKMAP/SOCKHASH updates and SO_COOKIE.
 *
 * Node does not expose socket fds publicly. We read them from libuv handles, which is stable in practice on Linux
 * but internal API: `net.Server` and `net.Socket` keep theirs in `_handle.fd`; `dgram.Socket` keeps its handle in
 * an internal state object (a symbol-keyed property described as "state symbol"), read here to avoid the deprecated
 * `dgram.Socket#_handle` getter. A socket must be bound/listening first, otherwise it has no fd yet.
 */

/**
 * A Node socket object: `net.Server`, `net.Socket` or `dgram.Socket`. Typed by the one method all three share, so
 * that the package's declarations do not need @types/node (the fd is read from internals, see above).
 */
export interface NodeSocketObject {
  address(): unknown;
}

/** A socket the loader accepts: a raw fd, a listening `net.Server`, a connected `net.Socket`, or a bound `dgram.Socket`. */
export type SocketLike = number | NodeSocketObject;

/** The socket cannot provide an fd (not listening/bound yet, closed, or not a socket object). */
export class SocketFdError extends Error {
  override name = "SocketFdError";
}

function handleFd(handle: unknown): number | undefined {
  const fd = (handle as { fd?: unknown } | null | undefined)?.fd;
  return typeof fd === "number" && fd >= 0 ? fd : undefined;
}

/** The fd behind a Node socket (see the module comment for where it comes from). */
export function socketFd(socket: SocketLike): number {
  if (typeof socket === "number") {
    if (!Number.isInteger(socket) || socket < 0) throw new SocketFdError(`invalid fd ${socket}`);
    return socket;
  }
  if (socket === null || typeof socket !== "object") throw new SocketFdError(`not a socket: ${String(socket)}`);
  const stateSym = Object.getOwnPropertySymbols(socket).find((s) => s.description === "state symbol");
  if (stateSym) {
    const fd = handleFd((socket as unknown as Record<symbol, { handle?: unknown }>)[stateSym]?.handle);
    if (fd === undefined) throw new SocketFdError("the dgram socket has no fd: bind() it (and wait for 'listening') first");
    return fd;
  }
  const fd = handleFd((socket as unknown as { _handle?: unknown })._handle);
  if (fd === undefined) {
    throw new SocketFdError("the socket has no fd: call listen()/connect() and wait for 'listening'/'connect' first");
  }
  return fd;
}
