// The e2e agent: runs inside a test's network namespace (`ip netns exec NAME node agent.mjs LOADER.mjs`), loads
// objects with the tsbpf loader, attaches programs to its own namespace, owns servers and dials connections.
// Commands arrive as JSON lines on stdin; each gets one JSON line back on stdout. EOF on stdin ends the agent.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createServer, Socket } from "node:net";
import { createSocket } from "node:dgram";
import { createInterface } from "node:readline";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const loader = await import(process.argv[2]);
const kernel = loader.openKernel();
const objects = new Map();
const links = new Map();
const sockets = new Map();
let nextId = 1;

function loadObject(path) {
  const json = JSON.parse(readFileSync(path, "utf8"));
  const obj = {
    license: json.license,
    maps: json.maps,
    programs: json.programs.map((p) => ({ ...p, bytes: new Uint8Array(Buffer.from(p.bytes, "base64")), insns: [], lineInfo: [], funcInfo: [] })),
  };
  return kernel.load(obj);
}

/** Parses "127.0.0.1:80" / "[::1]:80" style host strings out of Node's address objects. */
const addr = (a) => (a.family === "IPv6" || a.family === 6 ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`);

async function listen({ proto, host, port = 0, v6only = false, origdst = false }) {
  const id = nextId++;
  if (proto === "tcp") {
    const server = createServer((conn) => {
      conn.end(`${JSON.stringify({ server: id, local: addr({ address: conn.localAddress, port: conn.localPort, family: conn.localFamily }) })}\n`);
    });
    server.listen({ host, port, ipv6Only: v6only });
    await once(server, "listening");
    sockets.set(id, { kind: "tcp", handle: server });
    return { sock: id, port: server.address().port, cookie: String(kernel.socketCookie(server)) };
  }
  const type = host.includes(":") ? "udp6" : "udp4";
  const udp = createSocket({ type, ipv6Only: v6only });
  udp.bind(port, host);
  await once(udp, "listening");
  const entry = { kind: "udp", handle: udp, messages: [], helper: null };
  const cookie = String(kernel.socketCookie(udp));
  const boundPort = udp.address().port;
  if (origdst) {
    // Node cannot read IP_RECVORIGDSTADDR ancillary data: hand the same socket (fd 3) to a Python reader and close
    // our copy, so only the helper receives. The SOCKMAP entry refers to the socket, not to our fd.
    const helper = spawn("python3", [join(dirname(fileURLToPath(import.meta.url)), "origdst.py")], {
      stdio: ["ignore", "pipe", "inherit", loader.socketFd(udp)],
    });
    entry.helper = helper;
    createInterface({ input: helper.stdout }).on("line", (line) => {
      const m = JSON.parse(line);
      if (m.ready) entry.ready?.();
      else entry.messages.push(m);
    });
    await new Promise((r) => (entry.ready = r));
    entry.keepOpen = true;
  } else {
    udp.on("message", (msg, rinfo) => entry.messages.push({ data: msg.toString(), from: addr(rinfo) }));
  }
  sockets.set(id, entry);
  return { sock: id, port: boundPort, cookie };
}

function connect({ host, port, timeoutMs = 2000 }) {
  return new Promise((resolve) => {
    const c = new Socket();
    let data = "";
    const timer = setTimeout(() => {
      c.destroy();
      resolve({ connected: false, code: "ETIMEDOUT" });
    }, timeoutMs);
    c.on("data", (d) => (data += d));
    c.on("end", () => {
      clearTimeout(timer);
      resolve({ connected: true, ...JSON.parse(data) });
    });
    c.on("error", (err) => {
      clearTimeout(timer);
      resolve({ connected: false, code: err.code });
    });
    c.connect(port, host);
  });
}

async function udpSend({ host, port, payload }) {
  const s = createSocket(host.includes(":") ? "udp6" : "udp4");
  await new Promise((resolve, reject) => s.send(payload, port, host, (err) => (err ? reject(err) : resolve())));
  s.close();
  return {};
}

async function udpRecv({ sock, count = 1, timeoutMs = 1000 }) {
  const entry = sockets.get(sock);
  const deadline = Date.now() + timeoutMs;
  while (entry.messages.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return { messages: entry.messages.splice(0) };
}

const ops = {
  load: ({ path }) => {
    const id = nextId++;
    const obj = loadObject(path);
    objects.set(id, obj);
    return { obj: id, programs: [...obj.programs.keys()], maps: [...obj.maps.keys()] };
  },
  attach: ({ obj, prog }) => {
    const link = objects.get(obj).program(prog).attach();
    const id = nextId++;
    links.set(id, link);
    return { link: id, info: link.info() };
  },
  update: ({ link, obj, prog }) => {
    links.get(link).update(objects.get(obj).program(prog));
    return { info: links.get(link).info() };
  },
  detach: ({ link }) => {
    links.get(link).close();
    links.delete(link);
    return {};
  },
  listen,
  setSocket: ({ obj, map, key, sock }) => {
    const entry = sockets.get(sock);
    return { cookie: String(objects.get(obj).map(map).setSocket(key, entry.handle)) };
  },
  closeOurCopies: () => {
    // After setSocket, the origdst helpers own their sockets: drop Node's copies.
    for (const e of sockets.values()) if (e.keepOpen && e.handle) (e.handle.close(), (e.handle = null));
    return {};
  },
  mapLookup: ({ obj, map, key }) => {
    const v = objects.get(obj).map(map).lookupInt(key);
    return { value: v === null ? null : String(v) };
  },
  mapUpdateHex: ({ obj, map, key, value }) => {
    objects.get(obj).map(map).update(new Uint8Array(Buffer.from(key, "hex")), new Uint8Array(Buffer.from(value, "hex")));
    return {};
  },
  mapUpdate: ({ obj, map, key, value }) => {
    objects.get(obj).map(map).update(typeof key === "string" ? BigInt(key) : key, typeof value === "string" ? BigInt(value) : value);
    return {};
  },
  connect,
  udpSend,
  udpRecv,
};

const rl = createInterface({ input: process.stdin });
let queue = Promise.resolve();
rl.on("line", (line) => {
  queue = queue.then(async () => {
    const cmd = JSON.parse(line);
    let reply;
    try {
      reply = { ok: true, ...(await ops[cmd.op](cmd)) };
    } catch (err) {
      reply = { ok: false, error: String(err?.message ?? err), code: err?.code };
    }
    process.stdout.write(`${JSON.stringify(reply)}\n`);
  });
});
rl.on("close", async () => {
  await queue;
  for (const l of links.values()) l.close();
  for (const o of objects.values()) o.close();
  for (const e of sockets.values()) {
    e.helper?.kill();
    e.handle?.close();
  }
  process.exit(0);
});
