/**
 * Loading a linked object into the kernel the way libbpf does for sk_lookup: create every map from its MapDef
 * (reusing or creating pins for `pinning: byName` maps when a pin root is given; global-data maps filled with their
 * section's bytes and, for `.rodata`, frozen), patch each map's fd into the lddw slots that reference it (src =
 * BPF_PSEUDO_MAP_FD, or BPF_PSEUDO_MAP_VALUE + offset for global data), and load every program with
 * BPF_PROG_TYPE_SK_LOOKUP and expected attach type BPF_SK_LOOKUP. On any failure everything created so far is closed
 * before the error propagates.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { LDDW, Pseudo } from "../../compiler/asm/index.ts";
import { ATTACH_TYPE_SK_LOOKUP, PROG_TYPE_SK_LOOKUP } from "../../compiler/abi/sk-lookup.ts";
import type { MapDef } from "../../compiler/abi/maps.ts";
import { LIBBPF_PIN_BY_NAME } from "../../compiler/abi/maps.ts";
import { ObjectError, type ObjProgram, type ObjectFile } from "../../compiler/elf/object.ts";
import { internalMapName, isGlobalDataMap } from "../../compiler/elf/global-data.ts";
import { btfStringOffsets, encodeFuncInfo, encodeLineInfo } from "./btf.ts";
import { KernelMap } from "./map.ts";
import { hostTargetOrUndefined, withMissingFeatures } from "./missing.ts";
import { KernelError, type NativeBpf, asKernelError, sys } from "./native.ts";
import { KernelProgram } from "./program.ts";

/** Options of `loadObject`. */
export interface LoadOptions {
  /**
   * Verifier log level for successful loads too (1 = instructions, 2 = states, 4 = stats; bit mask). Failed loads
   * always carry a level-1 log in the thrown error.
   */
  logLevel?: number;
  /** bpffs directory for `pinning: byName` maps (libbpf's default is /sys/fs/bpf). Without it such maps are not pinned. */
  pinRoot?: string;
  /** Load only these programs (default: every program of the object). */
  programs?: string[];
  /**
   * Pass the object's BTF with func/line info to the kernel (default true), so verifier logs and xlated dumps show
   * source lines. When the kernel refuses the BTF (clang's .BTF needs libbpf's DATASEC fix-ups), programs load
   * without it and `LoadedObject.btf` says why.
   */
  btf?: boolean;
  /**
   * libbpf's object name (the file name up to its first dot: `objectNameOf(path)`), used only to name global-data
   * maps in the kernel as libbpf does (`globalda.rodata`). Without it they get their section name (`.rodata`).
   */
  objectName?: string;
}

/** Everything an object created in the kernel. `close()` releases all fds (attached links keep their programs). */
export class LoadedObject {
  /** "loaded" when programs carry BTF func/line info, otherwise why not. */
  btf = "not requested";

  /** @internal */
  constructor(
    readonly programs: Map<string, KernelProgram>,
    readonly maps: Map<string, KernelMap>,
  ) {}

  /** The program called `name`; throws naming the available ones when absent. */
  program(name: string): KernelProgram {
    const p = this.programs.get(name);
    if (!p) throw new ObjectError(`no program ${name} in the object (programs: ${[...this.programs.keys()].join(", ") || "none"})`);
    return p;
  }

  /** The map called `name`; throws naming the available ones when absent. */
  map(name: string): KernelMap {
    const m = this.maps.get(name);
    if (!m) throw new ObjectError(`no map ${name} in the object (maps: ${[...this.maps.keys()].join(", ") || "none"})`);
    return m;
  }

  /** Closes every program and map fd. Idempotent. */
  close(): void {
    for (const p of this.programs.values()) p.close();
    for (const m of this.maps.values()) m.close();
  }
}

/** The kernel keeps 15 characters of [A-Za-z0-9_.] for object names (BPF_OBJ_NAME_LEN 16). */
export function kernelObjectName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.]/g, "_").slice(0, 15);
}

/**
 * A global-data map as libbpf makes it: created under libbpf's internal name, element 0 written with the section's
 * bytes (`.bss` is already zero), then frozen for `.rodata` (after the write, which freezing forbids).
 */
function createGlobalDataMap(bpf: NativeBpf, def: MapDef, objectName: string | undefined): KernelMap {
  const name = objectName === undefined ? kernelObjectName(def.name) : internalMapName(objectName, def.name);
  const fd = sys(`creation of global-data map ${def.name}`, () => bpf.mapCreate(def.type, def.keySize, def.valueSize, def.maxEntries, def.flags, name));
  const map = new KernelMap(bpf, fd, def);
  try {
    const init = def.initialValue!;
    if (init.some((b) => b !== 0)) sys(`initial value of map ${def.name}`, () => bpf.mapUpdate(fd, new Uint8Array(def.keySize), init, 0));
    if (def.frozen) {
      if (typeof bpf.mapFreeze !== "function") throw new ObjectError(`map ${def.name} must be frozen, but the native addon predates mapFreeze: rebuild it (npm run build:native)`);
      sys(`freeze of map ${def.name}`, () => bpf.mapFreeze(fd));
    }
  } catch (err) {
    map.close();
    throw err;
  }
  return map;
}

function createMap(bpf: NativeBpf, def: MapDef, pinRoot: string | undefined): KernelMap {
  const pinPath = def.pinning === LIBBPF_PIN_BY_NAME && pinRoot ? join(pinRoot, def.name) : undefined;
  if (pinPath && existsSync(pinPath)) {
    // Reuse a pinned map, as libbpf does, after checking it is compatible with the definition.
    const fd = sys(`open of pinned map ${pinPath}`, () => bpf.objGet(pinPath));
    const info = bpf.mapInfo(fd);
    if (info.type !== def.type || info.keySize !== def.keySize || info.valueSize !== def.valueSize || info.maxEntries !== def.maxEntries) {
      bpf.close(fd);
      throw new ObjectError(
        `pinned map ${pinPath} (type ${info.type}, key ${info.keySize}, value ${info.valueSize}, max ${info.maxEntries}) does not match map ${def.name} (type ${def.type}, key ${def.keySize}, value ${def.valueSize}, max ${def.maxEntries})`,
      );
    }
    return new KernelMap(bpf, fd, def);
  }
  const fd = sys(`creation of map ${def.name}`, () =>
    bpf.mapCreate(def.type, def.keySize, def.valueSize, def.maxEntries, def.flags, kernelObjectName(def.name)),
  );
  const map = new KernelMap(bpf, fd, def);
  if (pinPath) {
    try {
      map.pin(pinPath);
    } catch (err) {
      map.close();
      throw err;
    }
  }
  return map;
}

/**
 * The program's bytes with map fds written into its lddw slots: BPF_PSEUDO_MAP_FD for map relocations,
 * BPF_PSEUDO_MAP_VALUE with the offset in the second slot for global-data ("value") relocations.
 */
export function relocate(prog: ObjProgram, fds: ReadonlyMap<string, number>): Uint8Array {
  const bytes = prog.bytes.slice();
  const view = new DataView(bytes.buffer);
  for (const { slot, map, kind, offset } of prog.mapRelocs) {
    const fd = fds.get(map);
    if (fd === undefined) throw new ObjectError(`program ${prog.name} references map ${map}, which the object does not define`);
    const at = slot * 8;
    if (at + 16 > bytes.length || bytes[at] !== LDDW) {
      throw new ObjectError(`program ${prog.name}: map relocation for ${map} at slot ${slot} is not on an lddw instruction`);
    }
    const value = kind === "value";
    bytes[at + 1] = ((value ? Pseudo.MAP_VALUE : Pseudo.MAP_FD) << 4) | (bytes[at + 1]! & 0x0f);
    view.setInt32(at + 4, fd, true);
    view.setInt32(at + 12, value ? (offset ?? 0) : 0, true);
  }
  return bytes;
}

/** Loads a linked {@link ObjectFile} (see module comment). */
export function loadLinked(bpf: NativeBpf, obj: ObjectFile, options: LoadOptions = {}): LoadedObject {
  const maps = new Map<string, KernelMap>();
  const programs = new Map<string, KernelProgram>();
  const loaded = new LoadedObject(programs, maps);
  try {
    for (const def of obj.maps) {
      try {
        maps.set(def.name, isGlobalDataMap(def) ? createGlobalDataMap(bpf, def, options.objectName) : createMap(bpf, def, options.pinRoot));
      } catch (err) {
        // A map type this kernel lacks: name it (the object's programs are not the question yet).
        throw err instanceof KernelError ? withMissingFeatures(err, { ...obj, programs: [], btf: undefined }, undefined, hostTargetOrUndefined()) : err;
      }
    }
    const fds = new Map([...maps].map(([n, m]) => [n, m.fd]));
    const wanted = options.programs;
    for (const name of wanted ?? []) {
      if (!obj.programs.some((p) => p.name === name)) throw new ObjectError(`no program ${name} in the object`);
    }
    for (const prog of obj.programs) {
      if (wanted && !wanted.includes(prog.name)) continue;
      // libbpf derives the program type from the section; this loader knows only sk_lookup (type 30, attach 36).
      if (prog.section !== "sk_lookup") {
        throw new ObjectError(
          `program ${prog.name} is in section "${prog.section}": only sk_lookup programs can be loaded (leave it out with { programs: [...] })`,
        );
      }
    }
    const btf = options.btf === false ? null : openBtf(bpf, obj, loaded);
    try {
      for (const prog of obj.programs) {
        if (wanted && !wanted.includes(prog.name)) continue;
        let r;
        try {
          r = loadProgram(bpf, obj, prog, relocate(prog, fds), options.logLevel ?? 0, btf);
        } catch (err) {
          // Name the features this kernel lacks, if the object uses any (probing happens only on this path).
          throw err instanceof KernelError ? withMissingFeatures(err, obj, prog.name, hostTargetOrUndefined()) : err;
        }
        programs.set(prog.name, new KernelProgram(bpf, r.fd, prog.name, r.log, r.btf));
      }
    } finally {
      // Loaded programs hold their own reference to the BTF object.
      if (btf) bpf.close(btf.fd);
    }
  } catch (err) {
    loaded.close();
    throw err;
  }
  return loaded;
}

interface OpenBtf {
  fd: number;
  strings: Map<string, number>;
}

/** Loads the object's .BTF into the kernel, recording in `loaded.btf` why not when it cannot. */
function openBtf(bpf: NativeBpf, obj: ObjectFile, loaded: LoadedObject): OpenBtf | null {
  if (!obj.btf) {
    loaded.btf = "the object has no .BTF";
    return null;
  }
  const strings = btfStringOffsets(obj.btf);
  if (!strings) {
    loaded.btf = "the .BTF header is not valid";
    return null;
  }
  try {
    const { fd } = bpf.btfLoad(obj.btf, 0);
    loaded.btf = "loaded";
    return { fd, strings };
  } catch (err) {
    const e = asKernelError(err) as Error & { log?: string };
    const last = (e.log ?? "").trim().split("\n").slice(-2).join(" | ");
    loaded.btf = `the kernel refused the object's BTF: ${e.message.split("\n")[0]}${last ? ` (${last})` : ""}`;
    if (e instanceof KernelError) {
      const named = withMissingFeatures(e, { ...obj, programs: [] }, undefined, hostTargetOrUndefined());
      if (named !== e) loaded.btf += `; ${named.message.split("\n").slice(1).join(" ")}`;
    }
    return null;
  }
}

/**
 * Loads one program, with BTF func/line info when available. If the kernel rejects the program only because of its
 * BTF info, it is loaded again without it; a verifier rejection is reported from the first attempt, whose log has
 * the source lines.
 */
function loadProgram(
  bpf: NativeBpf,
  obj: ObjectFile,
  prog: ObjProgram,
  insns: Uint8Array,
  logLevel: number,
  btf: OpenBtf | null,
): { fd: number; log: string; btf: boolean } {
  const license = obj.license || "GPL";
  const name = kernelObjectName(prog.name);
  const info = btf && prog.funcInfo.length ? { btfFd: btf.fd, funcInfo: encodeFuncInfo(prog), lineInfo: encodeLineInfo(prog, btf.strings) } : undefined;
  try {
    return { ...bpf.progLoad(PROG_TYPE_SK_LOOKUP, ATTACH_TYPE_SK_LOOKUP, insns, license, name, logLevel, info), btf: info !== undefined };
  } catch (first) {
    const e1 = asKernelError(first, `loading program ${prog.name}`);
    if (!info) throw e1;
    try {
      return { ...bpf.progLoad(PROG_TYPE_SK_LOOKUP, ATTACH_TYPE_SK_LOOKUP, insns, license, name, logLevel), btf: false };
    } catch (second) {
      const e2 = asKernelError(second, `loading program ${prog.name}`) as Error & { log?: string };
      // Same failure without BTF: the first error is the one annotated with source lines.
      const e1log = (e1 as { log?: string }).log ?? "";
      throw /func_info|line_info|btf/i.test(e1log.split("\n").slice(-3).join("\n")) ? e2 : e1;
    }
  }
}
