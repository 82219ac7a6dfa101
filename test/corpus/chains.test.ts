// The manifest's attach-order chains on the real kernel: every chain's programs are linked, in order, to a
// throwaway network namespace (a Node child runs inside it), a TCP client connects to 127.0.0.1:7007 and the
// listener that accepts must be the one the manifest names. A plain listener C on 127.0.0.1:7007 tells the regular
// lookup (`regular` → C) apart from a refusal (`refused` → ECONNREFUSED).
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { addonPath } from "../../runtime/kernel/native.ts";
import { openKernel } from "../../runtime/kernel/open.ts";
import { describeKernel } from "../support/kernel.ts";
import { corpusPath, loadCorpus } from "./manifest.ts";

const CHILD = fileURLToPath(new URL("./chains-child.mjs", import.meta.url));
const corpus = loadCorpus();
const addon = addonPath();
const ipMissing = spawnSync("ip", ["-V"]).status === 0 ? null : "iproute2 (ip) is not installed";

describeKernel("attach-order chains of the manifest on the kernel (real TCP connects in a netns)", () => {
  // Where CI requires the kernel, a missing piece of the harness is a failure, not a skip.
  const missingPart = ipMissing ?? (addon === null ? "the kernel bridge addon is not built" : null);
  if (missingPart && process.env.TSBPF_REQUIRE_KERNEL === "1") throw new Error(`chains need ${missingPart}`);
  if (missingPart) console.warn(`[skip] chains: ${missingPart}`);
  const tag = `${process.pid}-${randomBytes(3).toString("hex")}`;
  const ns = `tsbpf-corpus-${tag}`;
  const pins: string[] = [];
  const progPaths = new Map<string, string>();
  const mapPaths = new Map<string, string>();

  beforeAll(() => {
    if (ipMissing || !addon) return;
    execFileSync("ip", ["netns", "add", ns]);
    execFileSync("ip", ["-n", ns, "link", "set", "lo", "up"]);
    // Load every object a chain uses once, pinned (bpffs is not per-netns, so the child can open the pins).
    const objects = new Set(corpus.chains.cases.flatMap((c) => c.programs.map((p) => corpus.programs.find((q) => q.name === p)!.object)));
    [...objects].forEach((file, n) => {
      const dir = `/sys/fs/bpf/tsbpf-chains-${tag}-${n}`;
      pins.push(`${dir}-progs`, `${dir}-maps`);
      execFileSync("bpftool", ["prog", "loadall", corpusPath(file), `${dir}-progs`, "pinmaps", `${dir}-maps`], { stdio: "pipe" });
      for (const p of corpus.programs.filter((q) => q.object === file)) progPaths.set(p.name, join(`${dir}-progs`, p.name.slice(0, 15)));
      for (const m of corpus.objects.find((o) => o.file === file)!.maps) mapPaths.set(`${file}/${m.name}`, join(`${dir}-maps`, m.name));
    });
  });
  afterAll(() => {
    spawnSync("ip", ["netns", "delete", ns]);
    for (const p of pins) rmSync(p, { recursive: true, force: true });
  });

  it.skipIf(ipMissing !== null || addon === null)("every chain selects what the manifest says", () => {
    const sockets = Object.entries(corpus.chains.maps).flatMap(([file, maps]) =>
      Object.entries(maps).flatMap(([map, entries]) =>
        Object.entries(entries).map(([key, s]) => ({ name: (s as { name: string }).name, map: mapPaths.get(`${file}/${map}`)!, key: Number(key) })),
      ),
    );
    // `ip netns exec` hides the bpffs pins from the child (it remounts /sys): hand it fds instead, at 3, 4, ...
    const bpf = openKernel().bpf;
    const fds: number[] = [];
    const fdOf = (path: string) => {
      const at = fds.length + 3;
      fds.push(bpf.objGet(path));
      return at;
    };
    const plan = {
      addon,
      sockets: sockets.map((s) => ({ ...s, map: fdOf(s.map) })),
      regularName: "C",
      chains: corpus.chains.cases.map((c) => c.programs.map((p) => fdOf(progPaths.get(p)!))),
    };
    let r;
    try {
      r = spawnSync("ip", ["netns", "exec", ns, process.execPath, CHILD], {
        input: JSON.stringify(plan),
        encoding: "utf8",
        timeout: 30_000,
        stdio: ["pipe", "pipe", "pipe", ...fds],
      });
    } finally {
      for (const fd of fds) bpf.close(fd);
    }
    expect(r.status, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout) as string[];
    const want = corpus.chains.cases.map((c) => (c.result === "regular" ? "C" : c.result === "refused" ? "ECONNREFUSED" : c.result));
    const label = (xs: string[]) => corpus.chains.cases.map((c, i) => `${c.programs.join(",")} → ${xs[i]}`);
    expect(label(got)).toEqual(label(want));
  });
});
