// Does the compile server's memory grow per request? `node bench/server-memory.mjs [BUILDS]` (default 1000, after
// `npm run build`) starts a server through the client (in a temporary cache directory), then sends it BUILDS builds of
// different files (redirect-port.ts with another port and map size each time) straight over its socket, the way
// the clients do (protocol 2: a JSON line out, binary frames back), and prints the server's RSS (VmRSS) at a few points and once it has been idle for a few seconds.
// The server is stopped at the end.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const builds = Number(process.argv[2] ?? 1000);
const dir = mkdtempSync(join(tmpdir(), "tsbpf-server-memory-"));
const env = { ...process.env, TSBPF_SERVER: "1", TSBPF_CACHE_DIR: join(dir, "cache") };
const source = readFileSync(join(root, "examples/redirect-port.ts"), "utf8");

/** The client's request (compiler/server/protocol.ts), sent by hand; resolves to the exit code. */
function build(socket, key, file) {
  return new Promise((done, fail) => {
    const conn = createConnection(socket);
    const chunks = [];
    conn.on("connect", () => conn.write(JSON.stringify({ v: 2, key, argv: ["build", file, "-o", join(dir, "out.o")], cwd: dir, env: {}, umask: 0o022, stdoutIsTTY: false, stderrIsTTY: false }) + "\n"));
    conn.on("data", (d) => chunks.push(d));
    conn.on("close", () => {
      // Frames: a type byte, a little-endian u32 length, the payload; `x` is the exit code, `f` a refusal.
      const bytes = Buffer.concat(chunks);
      for (let at = 0; at + 5 <= bytes.length; at += 5 + bytes.readUInt32LE(at + 1)) {
        const type = String.fromCharCode(bytes[at]);
        const payload = bytes.subarray(at + 5, at + 5 + bytes.readUInt32LE(at + 1)).toString("utf8");
        if (type === "x") return done(Number(payload));
        if (type === "f") return fail(new Error(`fallback: ${payload}`));
      }
      fail(new Error(`no exit: ${bytes.subarray(0, 200).toString("latin1")}`));
    });
    conn.on("error", fail);
  });
}

const first = join(dir, "first.ts");
writeFileSync(first, source);
const r = spawnSync(join(root, "bin/tsbpf.js"), ["build", first, "-o", join(dir, "out.o")], { env, encoding: "utf8" });
if (r.status !== 0) throw new Error(`first build failed: ${r.stderr}`);
const serverDir = join(dir, "cache", "server");
const sock = readdirSync(serverDir).find((f) => f.endsWith(".sock"));
const socket = join(serverDir, sock);
const key = sock.replace(/\.sock$/, "");
const pid = Number(readFileSync(`${socket}.pid`, "utf8"));
const rss = () => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]) / 1024;
const at = [0, 10, 100, 250, 500, 750, 1000, 1500, 2000, 2500, 3000, 4000, 5000].filter((n) => n <= builds);
const t0 = Date.now();
console.log(`server ${pid}: RSS ${rss().toFixed(1)} MiB after its first build`);
for (let i = 1; i <= builds; i++) {
  const file = join(dir, `f${i % 2}.ts`);
  // A different program each time: another port and map size (so no two sources are the same).
  writeFileSync(file, source.replace(/7007/g, String(1024 + i)).replace(/maxEntries: \d+/, `maxEntries: ${1 + (i % 64)}`) + `\n// build ${i}\n`);
  const code = await build(socket, key, file);
  if (code !== 0) throw new Error(`build ${i} exited ${code}`);
  if (at.includes(i)) console.log(`after ${i} builds: RSS ${rss().toFixed(1)} MiB (${((Date.now() - t0) / i).toFixed(1)} ms per build, wall)`);
}
// The server collects its garbage a few seconds after its last request.
await new Promise((done) => setTimeout(done, 5000));
console.log(`idle 5 s later: RSS ${rss().toFixed(1)} MiB`);
process.kill(pid, "SIGTERM");
rmSync(dir, { recursive: true, force: true });
