// Each example and its C twin must behave alike: both objects (ours from compile(), clang's from bench/c) are loaded
// by libbpf into the kernel with the same map contents and the same sockets, then run with BPF_PROG_TEST_RUN over a
// grid of lookups (families × protocols × addresses × ports). Verdicts, selected sockets and the final counter maps
// must be identical. The grid also asserts that each program takes its hit path at least once.
import { beforeAll, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { EXAMPLES, route4, sock, type BenchExample, type MapFill } from "../../bench/examples.ts";
import { type PinnedObject, loadPinned } from "../../bench/pinned.ts";
import { type LiveSocket, makeSocket } from "../../bench/sockets.ts";
import { parseIp4 } from "../../runtime/kernel/ctx.ts";
import { kernelBridgeUnavailableReason, openKernel } from "../../runtime/kernel/open.ts";
import { describeKernel } from "../support/kernel.ts";
import { withTempFile } from "./temp.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const noCompiler = existsSync(join(ROOT, "compiler/index.ts")) ? null : "compiler/index.ts has not landed";
const bridge = kernelBridgeUnavailableReason();

/** Lookups every program sees: the addresses and ports the examples care about, and their neighbours. */
function grid() {
  const out: Array<Record<string, string | number>> = [];
  const v4 = ["127.0.0.1", "192.0.2.0", "192.0.2.77", "192.0.3.1", "127.0.2.9", "127.0.3.1"];
  const v6 = ["::1", "fd00::1", "fd00::2", "fd00:1::42", "fd00:1:0:1::1", "fd00:2::1"];
  for (const protocol of ["tcp", "udp"]) {
    for (const localPort of [0, 22, 80, 445, 7007, 7008]) {
      for (const localIp of v4) out.push({ family: "inet", protocol, localIp, localPort, remoteIp: "127.0.0.2", remotePort: 8008 });
      for (const localIp of v6) out.push({ family: "inet6", protocol, localIp, localPort, remoteIp: "::2", remotePort: 8008 });
    }
  }
  return out;
}

/** Extra entries beyond the bench fills, so misses, exact-port hits and label-without-socket paths run too. */
const EXTRA: Record<string, MapFill[]> = {
  "examples/dispatcher.ts": [
    { map: "bindings", kind: "lpm4", prefixLen: 64, protocol: 17, port: 7007, addr: "127.0.0.1", value: 3 },
    { map: "bindings", kind: "lpm4", prefixLen: 64, protocol: 6, port: 7008, addr: "127.0.0.1", value: 9 },
  ],
  // A host route, a catch-all /0 and a /31 whose index has no socket (the walk ends at the first match).
  "examples/port-rules.ts": [route4(32, "127.0.0.1", 1), sock("sockets", 1), route4(0, "0.0.0.0", 0), sock("sockets", 0), route4(31, "127.0.3.0", 3)],
};

async function fill(obj: PinnedObject, fills: MapFill[], sockets: Map<string, LiveSocket & { name: string }>): Promise<Map<bigint, string>> {
  const names = new Map<bigint, string>();
  for (const f of fills) {
    const map = obj.maps.get(f.map);
    if (!map) throw new Error(`no map ${f.map} (maps: ${[...obj.maps.keys()].join(", ")})`);
    if (f.kind === "socket") {
      const name = `${f.map}[${f.key}]`;
      let s = sockets.get(name);
      if (!s) {
        s = { ...(await makeSocket({ ...f.socket, ip: f.socket.family === "inet6" ? "::" : "127.0.0.1" })), name };
        sockets.set(name, s);
      }
      names.set(map.setSocket(f.key, s.handle), name);
    } else if (f.kind === "bytes") {
      map.update(Uint8Array.from(Buffer.from(f.key, "hex")), Uint8Array.from(Buffer.from(f.value, "hex")));
    } else {
      const key = new Uint8Array(12);
      const view = new DataView(key.buffer);
      view.setUint32(0, f.prefixLen, true);
      view.setUint16(4, f.protocol, false);
      view.setUint16(6, f.port, false);
      key.set(parseIp4(f.addr), 8);
      map.update(key, f.value);
    }
  }
  return names;
}

/** Runs the grid on one object; returns one line per lookup and the final contents of its data maps. */
async function behaviour(path: string, ex: BenchExample, sockets: Map<string, LiveSocket & { name: string }>) {
  const obj = loadPinned(openKernel().bpf, path);
  try {
    const fills = [...ex.programs.flatMap((p) => p.fills), ...(EXTRA[ex.source] ?? [])];
    const names = await fill(obj, fills, sockets);
    const lines: string[] = [];
    for (const prog of ex.programs) {
      const program = obj.programs.get(prog.name)!;
      expect(program, `${path} has program ${prog.name}`).toBeDefined();
      for (const ctx of grid()) {
        const r = program.testRun(ctx as never);
        const selected = r.cookie === 0n ? "-" : (names.get(r.cookie) ?? `cookie ${r.cookie}`);
        lines.push(`${prog.name} ${ctx.family}/${ctx.protocol} ${ctx.localIp} ${ctx.localPort}: ${r.verdict} ${selected}`);
      }
    }
    const maps: Record<string, string[]> = {};
    for (const [name, map] of obj.maps) {
      if (map.def.type === 2 /* ARRAY */) maps[name] = map.entries().map(([k, v]) => `${Buffer.from(k).toString("hex")}=${Buffer.from(v).toString("hex")}`);
    }
    return { lines, maps };
  } finally {
    obj.close();
  }
}

describeKernel("examples and their C twins behave alike on the kernel", () => {
  // The kernel is here (describeKernel): where CI requires it, a missing bridge is a failure, not a skip.
  if (bridge && process.env.TSBPF_REQUIRE_KERNEL === "1") throw new Error(`kernel bridge required but unavailable: ${bridge}`);
  if (noCompiler || bridge) {
    it.skip(`needs the compiler and the kernel bridge: ${noCompiler ?? bridge}`, () => {});
    return;
  }
  let compile: typeof import("../../compiler/index.ts").compile;
  beforeAll(async () => {
    ({ compile } = await import("../../compiler/index.ts"));
  });

  for (const ex of EXAMPLES) {
    it(`${ex.source} ≡ ${ex.twinSource}`, async () => {
      const r = compile({ fileName: join(ROOT, ex.source) });
      expect(r.diagnostics, "the example compiles").toEqual([]);
      // One set of sockets per example, shared by both objects, so a selection names the same socket in both.
      const sockets = new Map<string, LiveSocket & { name: string }>();
      let ours, clang;
      try {
        ours = await withTempFile(r.object!, "ours.o", (path) => behaviour(path, ex, sockets));
        clang = await behaviour(join(ROOT, ex.twinObject), ex, sockets);
      } finally {
        for (const s of sockets.values()) s.close();
      }
      expect(ours.lines).toEqual(clang.lines);
      expect(ours.maps).toEqual(clang.maps);
      // The grid reaches every program's selecting path (or, for one that selects nothing, its bench verdict).
      for (const prog of ex.programs) {
        const hit = (l: string) => l.startsWith(`${prog.name} `) && (prog.selects ? !l.endsWith(" -") : l.includes(` ${prog.verdict} `));
        expect(clang.lines.some(hit), `${prog.name} reaches its bench path`).toBe(true);
      }
    });
  }
});
