/** Links (BPF_LINK_CREATE on a netns), pinning on bpffs, and map reuse through pins. */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeKernel } from "../support/kernel.ts";
import { openKernel } from "../../runtime/kernel/index.ts";
import { KernelError } from "../../runtime/kernel/native.ts";
import { MapType } from "../../compiler/abi/maps.ts";
import { constProgram, mapDef, selectObject, selectProgram } from "./asm-objects.ts";

describeKernel("kernel loader: links and pins", () => {
  const ns = `tsbpf-links-${process.pid}-${randomBytes(3).toString("hex")}`;
  const nsPath = `/run/netns/${ns}`;
  let bpffs: string;

  beforeAll(() => {
    execFileSync("ip", ["netns", "add", ns]);
    // A private bpffs mount, so pins never touch /sys/fs/bpf.
    bpffs = mkdtempSync(join(tmpdir(), "tsbpf-bpffs-"));
    execFileSync("mount", ["-t", "bpf", "bpf", bpffs]);
  });
  afterAll(() => {
    execFileSync("ip", ["netns", "delete", ns]);
    if (bpffs) {
      execFileSync("umount", [bpffs]);
      rmdirSync(bpffs);
    }
  });

  it("attaches to a netns path; link info names the namespace inode; close detaches", () => {
    const obj = openKernel().load(selectObject(selectProgram("sel", 7007)));
    try {
      const link = obj.program("sel").attach(nsPath);
      const info = link.info();
      expect(info).toMatchObject({ type: 5 /* NETNS */, attachType: 36, progId: obj.program("sel").info().id });
      expect(info.netnsIno).toBe(statSync(nsPath).ino);
      const listed = JSON.parse(execFileSync("bpftool", ["-j", "link", "show", "id", String(info.id)], { encoding: "utf8" }));
      expect(listed).toMatchObject({ id: info.id, prog_id: info.progId });
      link.close();
      link.close(); // idempotent
      expect(() => execFileSync("bpftool", ["link", "show", "id", String(info.id)], { stdio: "pipe" })).toThrow();
    } finally {
      obj.close();
    }
  });

  it("swaps the program behind a link in place", () => {
    const obj = openKernel().load(selectObject(selectProgram("sel", 7007), constProgram("pass", 1)));
    try {
      const link = obj.program("pass").attach(nsPath);
      expect(link.info().progId).toBe(obj.program("pass").info().id);
      link.update(obj.program("sel"));
      expect(link.info().progId).toBe(obj.program("sel").info().id);
      link.close();
      expect(() => link.update(obj.program("pass"))).toThrow(/EBADF/);
    } finally {
      obj.close();
    }
  });

  it("allows the same program twice and at most 64 links per namespace (E2BIG)", () => {
    const obj = openKernel().load({ license: "GPL", programs: [constProgram("pass", 1)], maps: [] });
    const links = [];
    try {
      for (let i = 0; i < 64; i++) links.push(obj.program("pass").attach(nsPath));
      const err = (() => {
        try {
          obj.program("pass").attach(nsPath);
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(KernelError);
      expect(err).toMatchObject({ code: "E2BIG", syscall: "bpf(BPF_LINK_CREATE)" });
      // Closing one makes room again.
      links.pop()!.close();
      links.push(obj.program("pass").attach(nsPath));
    } finally {
      for (const l of links) l.close();
      obj.close();
    }
  });

  it("names the netns path when it cannot be opened", () => {
    const obj = openKernel().load({ license: "GPL", programs: [constProgram("pass", 1)], maps: [] });
    try {
      expect(() => obj.program("pass").attach("/run/netns/does-not-exist")).toThrow(
        /open of netns \/run\/netns\/does-not-exist: open\(\/run\/netns\/does-not-exist\) failed: ENOENT/,
      );
      // A path that is not a netns: the kernel refuses the link.
      expect(() => obj.program("pass").attach("/proc/self/ns/mnt")).toThrow(KernelError);
    } finally {
      obj.close();
    }
  });

  it("pins programs, maps and links; a pinned link keeps the program attached after its fd is closed", () => {
    const obj = openKernel().load(selectObject(selectProgram("sel", 7007)));
    const progPin = join(bpffs, "sel");
    const mapPin = join(bpffs, "sockets");
    const linkPin = join(bpffs, "sel_link");
    try {
      obj.program("sel").pin(progPin);
      obj.map("sockets").pin(mapPin);
      const link = obj.program("sel").attach(nsPath);
      const linkId = link.info().id;
      link.pin(linkPin);
      link.close();
      // Still attached: the pin holds the link.
      expect(JSON.parse(execFileSync("bpftool", ["-j", "link", "show", "id", String(linkId)], { encoding: "utf8" })).id).toBe(linkId);
      // Another user of the pinned map sees the same map.
      const again = openKernel().openPinnedMap(mapPin);
      expect(again.info().id).toBe(obj.map("sockets").info().id);
      expect(again.def).toMatchObject({ type: MapType.SOCKMAP, keySize: 4, valueSize: 8, maxEntries: 4 });
      again.close();
      obj.program("sel").unpin(progPin);
      obj.map("sockets").unpin(mapPin);
      execFileSync("rm", [linkPin]);
      expect(existsSync(progPin) || existsSync(mapPin)).toBe(false);
      expect(() => execFileSync("bpftool", ["link", "show", "id", String(linkId)], { stdio: "pipe" })).toThrow();
    } finally {
      obj.close();
    }
  });

  it("creates `pinning: byName` maps under pinRoot and reuses them on the next load", () => {
    const object = selectObject(selectProgram("sel", 7007));
    object.maps = object.maps.map((m) => (m.name === "sockets" ? { ...m, pinning: 1 } : m));
    const first = openKernel().load(object, { pinRoot: bpffs });
    const second = openKernel().load(object, { pinRoot: bpffs });
    try {
      expect(existsSync(join(bpffs, "sockets"))).toBe(true);
      expect(second.map("sockets").info().id).toBe(first.map("sockets").info().id);
      expect(second.map("hits").info().id).not.toBe(first.map("hits").info().id);
      // An incompatible definition under the same pin is refused with both shapes named.
      const bigger = { ...object, maps: object.maps.map((m) => (m.name === "sockets" ? { ...m, maxEntries: 8 } : m)) };
      expect(() => openKernel().load(bigger, { pinRoot: bpffs })).toThrow(/does not match map sockets/);
    } finally {
      first.close();
      second.close();
      execFileSync("rm", ["-f", join(bpffs, "sockets")]);
    }
  });

  it("rejects a map definition the kernel cannot create, naming the map", () => {
    const bad = { license: "GPL", programs: [constProgram("pass", 1)], maps: [mapDef("lpm", MapType.LPM_TRIE, 8, 4, 16, 0)] };
    // LPM_TRIE requires BPF_F_NO_PREALLOC.
    expect(() => openKernel().load(bad)).toThrow(/creation of map lpm: bpf\(BPF_MAP_CREATE\) failed: EINVAL/);
  });
});
