/**
 * `--target-kernel host`: the running kernel's feature set, measured the way `bpftool feature probe` does it, by
 * loading tiny programs and BTF blobs through the native addon and reading the verdicts. Nothing is inferred from the
 * version number, because builds with the same number differ (6.18.44-fc-v657 and -v1252 type SOCKMAP lookups
 * differently).
 *
 * Results are cached in-process and on disk (`$TSBPF_CACHE_DIR`, else `$XDG_CACHE_HOME/tsbpf`, else
 * `~/.cache/tsbpf`), keyed by `uname -r`, `uname -v`, the kernel's build-id note (/sys/kernel/notes) and this
 * process's capabilities, so a rebuilt kernel with the same version string is probed afresh.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { release as osRelease, version as osVersion } from "node:os";
import { join } from "node:path";
import { encode, type Instruction, AluOp, AtomicOp, Class, JmpOp, Size, Source, atomic, call, exit, jmp64, lddw, ldx, mov64, alu64, reg, stx, withLabel } from "../asm/index.ts";
import { ATTACH_TYPE_SK_LOOKUP, CtxOff, PROG_TYPE_SK_LOOKUP } from "../abi/sk-lookup.ts";
import { MapType } from "../abi/maps.ts";
import { KernelError, asKernelError, nativeBpf, type NativeBpf } from "../../runtime/kernel/native.ts";
import type { KernelTarget, SockmapLookupType } from "./index.ts";
import { TargetError, parseVersion } from "./versions.ts";
import { tsbpfCacheDir } from "../cache-dir.ts";

/** Bumped whenever a probe changes, so stale cache files are ignored. */
const PROBE_SCHEMA = 3;

/** Options of {@link probeHost}. */
export interface HostProbeOptions {
  /** Ignore both caches and probe again (the result still refreshes them). */
  fresh?: boolean;
  /** Cache directory (default: {@link hostCacheDir}); null disables the disk cache. */
  cacheDir?: string | null;
}

let memo: { key: string; target: KernelTarget } | undefined;

/** Where host probe results are cached on disk (tsbpf's cache directory). */
export const hostCacheDir = tsbpfCacheDir;

function readOr(path: string, fallback: string, encoding: "hex" | "utf8" = "utf8"): string {
  try {
    return readFileSync(path).toString(encoding);
  } catch {
    return fallback;
  }
}

/** The cache key of the running kernel build and this process's privileges. */
export function hostCacheKey(): string {
  const caps = /^CapEff:\s*(\S+)$/m.exec(readOr("/proc/self/status", ""))?.[1] ?? "?";
  const parts = [PROBE_SCHEMA, osRelease(), osVersion(), readOr("/sys/kernel/notes", "no-notes", "hex"), caps];
  return createHash("sha256").update(parts.join("\n")).digest("hex").slice(0, 32);
}

/** JSON form of a target (helpers as a sorted list). */
interface StoredTarget extends Omit<KernelTarget, "helpers"> {
  helpers: number[];
}

const store = (t: KernelTarget): StoredTarget => ({ ...t, helpers: [...t.helpers].sort((a, b) => a - b) });
const restore = (s: StoredTarget): KernelTarget => ({ ...s, version: [s.version[0], s.version[1]], helpers: new Set(s.helpers) });

/** The running kernel's feature set (probed once per kernel build; cached). Throws TargetError when it cannot probe. */
export function probeHost(opts: HostProbeOptions = {}): KernelTarget {
  const key = hostCacheKey();
  if (!opts.fresh && memo?.key === key) return memo.target;
  const dir = opts.cacheDir === undefined ? hostCacheDir() : opts.cacheDir;
  const file = dir ? join(dir, `host-${key}.json`) : undefined;
  if (!opts.fresh && file) {
    try {
      const target = restore(JSON.parse(readFileSync(file, "utf8")) as StoredTarget);
      memo = { key, target };
      return target;
    } catch {
      // No cache yet, or an unreadable one: probe.
    }
  }
  const target = measure();
  memo = { key, target };
  if (file && dir) {
    try {
      mkdirSync(dir, { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, `${JSON.stringify(store(target), null, 1)}\n`);
      renameSync(tmp, file);
    } catch {
      // A read-only home is no reason to fail a build; the in-process cache still holds.
    }
  }
  return target;
}

/** Outcome of loading one probe program. */
type Verdict = { ok: true } | { ok: false; log: string; code: string };

function measure(): KernelTarget {
  let bpf: NativeBpf;
  try {
    bpf = nativeBpf();
  } catch (err) {
    throw new TargetError(`--target-kernel host needs the kernel bridge to probe the running kernel: ${(err as Error).message}`);
  }
  const release = osRelease();
  const version = parseVersion(release);
  if (!version) throw new TargetError(`--target-kernel host: cannot read a version from uname -r '${release}'`);
  const fds: number[] = [];
  try {
    const mapFd = (type: number, valueSize: number): number => {
      const fd = bpf.mapCreate(type, 4, valueSize, 1, 0, "tsbpf_probe");
      fds.push(fd);
      return fd;
    };
    const load = (insns: Instruction[]): Verdict => {
      try {
        const { fd } = bpf.progLoad(PROG_TYPE_SK_LOOKUP, ATTACH_TYPE_SK_LOOKUP, encode(insns).bytes, "GPL", "tsbpf_probe", 0);
        bpf.close(fd);
        return { ok: true };
      } catch (err) {
        const e = asKernelError(err);
        if (!(e instanceof KernelError)) throw err;
        if (e.code === "EPERM") throw new TargetError(`--target-kernel host: loading probe programs is not permitted (EPERM): run as root or with CAP_BPF + CAP_PERFMON`);
        return { ok: false, log: e.log || e.message, code: e.code };
      }
    };
    const array = mapFd(MapType.ARRAY, 8);
    const sockmap = mapFd(MapType.SOCKMAP, 8);
    const helpers = new Set<number>();
    let maxHelperId = 0;
    let unknownRun = 0;
    for (let id = 1; unknownRun < 16; id++) {
      const v = load([call(id), mov64(0, 1), exit()]);
      if (!v.ok && /invalid func|unknown func/.test(v.log)) {
        unknownRun++;
        continue;
      }
      unknownRun = 0;
      maxHelperId = id;
      if (v.ok || !helperRefused(v.log)) helpers.add(id);
    }
    const deref = load([...zeroKey(sockmap), ldx(Size.W, 0, 0, 4), mov64(0, 1), exit()]);
    const sockType = deref.ok ? undefined : /invalid mem access '(\w+)'/.exec(deref.log)?.[1];
    const sockmapLookupType: SockmapLookupType = sockType === "sock_or_null" ? "sock_or_null" : "map_value_or_null";
    return {
      name: "host",
      version,
      release,
      probed: true,
      isaV4: load([mov64(1, 1), { opcode: Class.ALU64 | AluOp.MOV | Source.X, dst: 0, src: 1, off: 8, imm: 0 }, mov64(0, 1), exit()]).ok,
      atomicFetch: load([mov64(1, 0), stx(Size.DW, 10, -8, 1), mov64(1, 1), atomic(Size.DW, AtomicOp.ADD | AtomicOp.FETCH, 10, -8, 1), mov64(0, 1), exit()]).ok,
      btfKinds: probeBtfKinds(bpf),
      testRunSkLookup: probeTestRun(bpf, load),
      ctxIngressIfindex: load([ldx(Size.W, 0, 1, CtxOff.ingress_ifindex), mov64(0, 1), exit()]).ok,
      arrayLookupConstKeyNonNull: load([...zeroKey(array), ldx(Size.DW, 0, 0, 0), mov64(0, 1), exit()]).ok,
      sockmapLookupType,
      skAssignAcceptsUncheckedLookup: load([
        mov64(7, reg(1)),
        ...zeroKey(sockmap),
        mov64(6, reg(0)),
        mov64(1, reg(7)),
        mov64(2, reg(0)),
        mov64(3, 0),
        call(124),
        jmp64(JmpOp.JEQ, 6, 0, "out"),
        mov64(1, reg(6)),
        call(86),
        withLabel(mov64(0, 1), "out"),
        exit(),
      ]).ok,
      helpers,
      maxHelperId,
    };
  } finally {
    for (const fd of fds) bpf.close(fd);
  }
}

/**
 * True when a probe's verifier log says the program type may not call the helper: "unknown func bpf_X#N" before
 * Linux 6.7 (HELPER_WORDING_ROW), "program of this type cannot use helper bpf_X#N" after. Any other refusal (an
 * argument check) means the helper is there.
 */
export function helperRefused(log: string): boolean {
  return /program of this type cannot use helper |(^|\n)unknown func /.test(log);
}

/** `key = 0` (a 4-byte zero spill at fp-4), then `r0 = bpf_map_lookup_elem(map, &key)`. */
function zeroKey(mapFd: number): Instruction[] {
  return [
    mov64(1, 0),
    stx(Size.W, 10, -4, 1),
    { ...lddw(1, BigInt(mapFd)), src: 1 /* BPF_PSEUDO_MAP_FD */ },
    mov64(2, reg(10)),
    alu64(AluOp.ADD, 2, -4),
    call(1),
  ];
}

function probeTestRun(bpf: NativeBpf, load: (i: Instruction[]) => Verdict): boolean {
  if (!load([mov64(0, 1), exit()]).ok) return false;
  const { fd } = bpf.progLoad(PROG_TYPE_SK_LOOKUP, ATTACH_TYPE_SK_LOOKUP, encode([mov64(0, 1), exit()]).bytes, "GPL", "tsbpf_probe", 0);
  try {
    const ctx = new Uint8Array(72);
    const view = new DataView(ctx.buffer);
    view.setUint32(8, 2, true); // AF_INET
    view.setUint32(12, 6, true); // IPPROTO_TCP
    view.setUint32(60, 80, true); // local_port
    bpf.progTestRun(fd, ctx, new Uint8Array(72), 1);
    return true;
  } catch {
    return false;
  } finally {
    bpf.close(fd);
  }
}

/** BTF kinds newer than 5.10, each loaded in a minimal blob next to an `int`. */
function probeBtfKinds(bpf: NativeBpf): KernelTarget["btfKinds"] {
  const tryLoad = (types: number[]): boolean => {
    try {
      const { fd } = bpf.btfLoad(btfBlob(types), 0);
      bpf.close(fd);
      return true;
    } catch {
      return false;
    }
  };
  const info = (kind: number, vlen = 0): number => ((kind << 24) | vlen) >>> 0;
  // Type 1 is `int` (4 bytes, signed, 32 bits); string offsets refer to BTF_STRINGS below.
  const int = [S.int, info(1), 4, (1 << 24) | 32];
  const struct = [S.s, info(4, 1), 4, S.a, 1, 0]; // type 2: struct s { int a; }
  return {
    float: tryLoad([...int, S.float, info(16), 4]),
    declTag: tryLoad([...int, ...struct, S.tag, info(17), 2, 0xffffffff]),
    typeTag: tryLoad([...int, S.tag, info(18), 1, 0, info(2), 2]), // type 2: tag -> int; type 3: ptr -> tag
    enum64: tryLoad([...int, S.e, info(19, 1), 8, S.A, 1, 0]),
  };
}

const BTF_STRINGS = "\0int\0float\0s\0a\0tag\0e\0A\0";
const S = { int: 1, float: 5, s: 11, a: 13, tag: 15, e: 19, A: 21 };

function btfBlob(types: number[]): Uint8Array {
  const strings = new TextEncoder().encode(BTF_STRINGS);
  const typeLen = types.length * 4;
  const out = new Uint8Array(24 + typeLen + strings.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, 0xeb9f, true);
  v.setUint8(2, 1);
  v.setUint32(4, 24, true);
  v.setUint32(8, 0, true);
  v.setUint32(12, typeLen, true);
  v.setUint32(16, typeLen, true);
  v.setUint32(20, strings.length, true);
  types.forEach((w, i) => v.setUint32(24 + 4 * i, w >>> 0, true));
  out.set(strings, 24 + typeLen);
  return out;
}
