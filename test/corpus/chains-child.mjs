// Child process of chains.test.ts, run inside a throwaway network namespace (`ip netns exec`). Reads a JSON plan on
// stdin: the addon path, the sockets to create, and the chains. Programs and maps arrive as inherited fds (numbers in
// the plan): `ip netns exec` remounts /sys, so the parent's bpffs pins are not visible in here. For each chain it attaches
// the programs in order to this namespace (BPF links), connects to 127.0.0.1:7007 and reports which listener took
// the connection (a socket name; the plain listener bound to :7007 means the regular lookup ran) or the errno.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { once } from "node:events";

const plan = JSON.parse(readFileSync(0, "utf8"));
const bpf = createRequire(import.meta.url)(plan.addon);
const BPF_SK_LOOKUP = 36;

const servers = new Map(); // name -> net.Server
let lastAccept = null;
async function listen(name, port) {
  const server = createServer((sock) => {
    lastAccept = name;
    sock.destroy();
  });
  server.listen({ port, host: "127.0.0.1" });
  await once(server, "listening");
  servers.set(name, server);
  return server;
}

// The sockets of the SOCKMAPs (ephemeral ports), and the regular listener on :7007.
for (const s of plan.sockets) {
  const server = await listen(s.name, 0);
  const mapFd = s.map;
  const value = new Uint8Array(bpf.mapInfo(mapFd).valueSize);
  new DataView(value.buffer).setUint32(0, server._handle.fd, true);
  const key = new Uint8Array(4);
  new DataView(key.buffer).setUint32(0, s.key, true);
  bpf.mapUpdate(mapFd, key, value, 0);
}
await listen(plan.regularName, 7007);

const nsFd = bpf.openPath("/proc/self/ns/net");
const results = [];
for (const chain of plan.chains) {
  const links = chain.map((progFd) => bpf.linkCreate(progFd, nsFd, BPF_SK_LOOKUP));
  lastAccept = null;
  let result;
  try {
    const client = connect({ port: 7007, host: "127.0.0.1" });
    await once(client, "connect");
    // The listener's 'connection' event may come a tick after the client's 'connect'.
    for (let i = 0; i < 1000 && lastAccept === null; i++) await new Promise((r) => setTimeout(r, 2));
    result = lastAccept ?? "connected, but no listener saw it";
    client.destroy();
  } catch (err) {
    result = err.code ?? String(err);
  }
  for (const l of links) bpf.close(l);
  results.push(result);
}
console.log(JSON.stringify(results));
for (const s of servers.values()) s.close();
process.exit(0);
