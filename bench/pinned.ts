/**
 * Loads a clang (or any libbpf-compatible) object into the kernel with libbpf itself, through
 * `bpftool prog loadall OBJ DIR pinmaps MAPDIR`, then reopens the pinned programs and maps as kernel-bridge objects
 * (runtime/kernel). This is the reference path for C objects: libbpf does the linking, the relocations and the map
 * creation, so results do not depend on our own ELF reader. The pins are removed right away; the fds keep everything
 * alive until `close()`.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { MapDef } from "../compiler/abi/maps.ts";
import { KernelMap } from "../runtime/kernel/map.ts";
import type { NativeBpf } from "../runtime/kernel/native.ts";
import { KernelProgram } from "../runtime/kernel/program.ts";

/** bpftool failed to load the object; `message` carries libbpf's output (with the verifier log on a rejection). */
export class PinnedLoadError extends Error {
  override name = "PinnedLoadError";
}

/** Programs and maps of one object loaded by libbpf, keyed by their pin names (program and map names). */
export interface PinnedObject {
  programs: Map<string, KernelProgram>;
  maps: Map<string, KernelMap>;
  /** Closes every fd. Idempotent. */
  close(): void;
}

let counter = 0;
/** Distinguishes module instances that share a pid (worker threads). */
const TAG = randomBytes(3).toString("hex");

/** Loads `objectPath` with bpftool (see module comment). `bpffs` defaults to /sys/fs/bpf. */
export function loadPinned(bpf: NativeBpf, objectPath: string, bpffs = "/sys/fs/bpf"): PinnedObject {
  // bpffs refuses names with '.', so the pin folders are named by pid, a random tag and a counter only.
  const base = join(bpffs, `tsbpf-pinned-${process.pid}-${TAG}-${counter++}`);
  const progDir = `${base}-progs`;
  const mapDir = `${base}-maps`;
  const programs = new Map<string, KernelProgram>();
  const maps = new Map<string, KernelMap>();
  const close = () => {
    for (const p of programs.values()) p.close();
    for (const m of maps.values()) m.close();
  };
  try {
    const r = spawnSync("bpftool", ["prog", "loadall", objectPath, progDir, "pinmaps", mapDir], { encoding: "utf8" });
    if (r.error) throw new PinnedLoadError(`bpftool could not run: ${r.error.message}`);
    if (r.status !== 0) throw new PinnedLoadError(`bpftool prog loadall ${objectPath} failed:\n${r.stderr.trim()}`);
    for (const name of readdirSync(progDir)) {
      programs.set(name, new KernelProgram(bpf, bpf.objGet(join(progDir, name)), name));
    }
    for (const name of readdirSync(mapDir)) {
      const fd = bpf.objGet(join(mapDir, name));
      const info = bpf.mapInfo(fd);
      const def: MapDef = {
        name,
        type: info.type,
        keySize: info.keySize,
        valueSize: info.valueSize,
        maxEntries: info.maxEntries,
        flags: info.flags,
        pinning: 0,
      };
      maps.set(name, new KernelMap(bpf, fd, def));
    }
  } catch (err) {
    close();
    throw err;
  } finally {
    rmSync(progDir, { recursive: true, force: true });
    rmSync(mapDir, { recursive: true, force: true });
  }
  return { programs, maps, close };
}
