// Child process of reuseport.test.ts, started by a Python parent that created a socket Node 20 cannot make
// (SO_REUSEPORT) and passed its fd down as TSBPF_FD. Reads a JSON plan on stdin, drives the kernel bridge's addon
// directly on pinned objects, prints one JSON line: { retval?, errno?, cookie, fdCookie, reads }.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const plan = JSON.parse(readFileSync(0, "utf8"));
const bpf = createRequire(import.meta.url)(plan.addon);
const hex = (s) => Uint8Array.from(Buffer.from(s, "hex"));
const fd = Number(process.env.TSBPF_FD);
const out = { fdCookie: String(bpf.socketCookie(fd)), reads: [] };
for (const u of plan.updates) {
  const mapFd = bpf.objGet(u.map);
  let value;
  if (u.value === "fd") {
    value = new Uint8Array(bpf.mapInfo(mapFd).valueSize);
    new DataView(value.buffer).setUint32(0, fd, true);
  } else value = hex(u.value);
  bpf.mapUpdate(mapFd, hex(u.key), value, 0);
  bpf.close(mapFd);
}
const progFd = bpf.objGet(plan.prog);
const ctxOut = new Uint8Array(72);
try {
  out.retval = bpf.progTestRun(progFd, hex(plan.ctx), ctxOut, 1).retval;
} catch (err) {
  out.errno = err.code;
}
out.cookie = String(new DataView(ctxOut.buffer).getBigUint64(0, true));
for (const r of plan.reads) {
  const mapFd = bpf.objGet(r.map);
  const buf = new Uint8Array(r.size);
  out.reads.push(bpf.mapLookup(mapFd, hex(r.key), buf) ? Buffer.from(buf).toString("hex") : null);
  bpf.close(mapFd);
}
console.log(JSON.stringify(out));
