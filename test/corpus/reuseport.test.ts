// The manifest's SO_REUSEPORT cases on the kernel. Node 20 cannot create a SO_REUSEPORT socket, so a Python parent
// creates the listener and runs a Node child (fd-child.mjs) with the fd inherited; the child fills the pinned maps,
// runs BPF_PROG_TEST_RUN through the kernel bridge's addon and reports back.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import { encodeCtx } from "../../runtime/kernel/ctx.ts";
import { addonPath } from "../../runtime/kernel/native.ts";
import { describeKernel } from "../support/kernel.ts";
import { decodeValue, encodeKey, encodeValue, possibleCpus } from "./kernel-case.ts";
import { type CorpusCase, corpusPath, loadCorpus, usesReuseport } from "./manifest.ts";

const CHILD = fileURLToPath(new URL("./fd-child.mjs", import.meta.url));
const PARENT = `
import os, socket, subprocess, sys
v6 = sys.argv[1] == "inet6"
s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.bind(("::1" if v6 else "127.0.0.1", 0))
s.listen(16)
os.set_inheritable(s.fileno(), True)
env = dict(os.environ, TSBPF_FD=str(s.fileno()))
sys.exit(subprocess.run(sys.argv[2:], pass_fds=[s.fileno()], env=env).returncode)
`;

const corpus = loadCorpus();
const TAG = randomBytes(3).toString("hex");
const cases: Array<{ prog: string; object: string; c: CorpusCase }> = [];
for (const p of corpus.programs) {
  for (const c of p.cases) if (usesReuseport(c)) cases.push({ prog: p.name, object: p.object, c });
}
const python = spawnSync("python3", ["--version"]).status === 0 ? null : "python3 is not installed";
const addon = addonPath();

describeKernel("SO_REUSEPORT cases of the manifest on the kernel", () => {
  // Where CI requires the kernel, a missing piece of the harness is a failure, not a skip.
  const missingPart = python ?? (addon === null ? "the kernel bridge addon is not built" : null);
  if (missingPart && process.env.TSBPF_REQUIRE_KERNEL === "1") throw new Error(`reuseport cases need ${missingPart}`);
  if (missingPart) console.warn(`[skip] reuseport cases: ${missingPart}`);
  it("the manifest has reuseport cases", () => expect(cases.length).toBeGreaterThan(0));
  for (const { prog, object, c } of cases) {
    it.skipIf(python !== null || addon === null)(`${prog} / ${c.name}`, () => {
      const obj = corpus.objects.find((o) => o.file === object)!;
      const base = `/sys/fs/bpf/tsbpf-reuseport-${process.pid}-${TAG}`;
      const progDir = `${base}-progs`;
      const mapDir = `${base}-maps`;
      try {
        const load = spawnSync("bpftool", ["prog", "loadall", corpusPath(object), progDir, "pinmaps", mapDir], { encoding: "utf8" });
        expect(load.status, load.stderr).toBe(0);
        const updates: Array<{ map: string; key: string; value: string }> = [];
        let family = "inet";
        for (const [name, entries] of Object.entries(c.maps ?? {})) {
          const def = obj.maps.find((m) => m.name === name)!;
          for (const [k, v] of Object.entries(entries)) {
            const key = Buffer.from(encodeKey(def, k)).toString("hex");
            if (def.value === "socket") {
              const s = v as { reuseport?: boolean; family: string };
              expect(s.reuseport, "only the reuseport socket can be made in this harness").toBe(true);
              family = s.family;
              updates.push({ map: join(mapDir, name), key, value: "fd" });
            } else updates.push({ map: join(mapDir, name), key, value: Buffer.from(encodeValue(def, v as number, possibleCpus())).toString("hex") });
          }
        }
        const reads = Object.entries(c.expect.maps ?? {}).flatMap(([name, entries]) => {
          const def = obj.maps.find((m) => m.name === name)!;
          return Object.keys(entries).map((k) => ({ map: join(mapDir, name), key: Buffer.from(encodeKey(def, k)).toString("hex"), size: def.valueSize, name, k }));
        });
        const plan = {
          addon,
          prog: join(progDir, prog.slice(0, 15)),
          updates,
          ctx: Buffer.from(encodeCtx(c.ctx as never)).toString("hex"),
          reads,
        };
        const r = spawnSync("python3", ["-c", PARENT, family, process.execPath, CHILD], { input: JSON.stringify(plan), encoding: "utf8" });
        expect(r.status, r.stderr).toBe(0);
        const out = JSON.parse(r.stdout) as { retval?: number; errno?: string; cookie: string; fdCookie: string; reads: Array<string | null> };
        const outcome: Record<string, unknown> = {};
        if (out.errno) outcome.testRunErrno = out.errno;
        else {
          outcome.verdict = out.retval === 1 ? "SK_PASS" : "SK_DROP";
          outcome.selected = out.cookie === "0" ? null : out.cookie === out.fdCookie ? "R" : `cookie ${out.cookie}`;
        }
        if (c.expect.maps && !out.errno) {
          const maps: Record<string, Record<string, unknown>> = {};
          reads.forEach((rd, i) => {
            const def = obj.maps.find((m) => m.name === rd.name)!;
            const hex = out.reads[i];
            (maps[rd.name] ??= {})[rd.k] = hex === null || hex === undefined ? "absent" : decodeValue(def, Uint8Array.from(Buffer.from(hex, "hex")));
          });
          outcome.maps = maps;
        }
        const expected: Record<string, unknown> = { ...c.expect };
        delete expected.note;
        // A failed test_run leaves nothing to read back: compare the errno alone.
        if (c.expect.testRunErrno) for (const k of ["verdict", "selected", "maps"]) delete expected[k];
        expect(outcome).toEqual(expected);
      } finally {
        rmSync(progDir, { recursive: true, force: true });
        rmSync(mapDir, { recursive: true, force: true });
      }
    });
  }
});
