/**
 * What an object asks of the kernel: every instruction form, helper and BTF kind newer than the oldest target, each
 * with the release (and commit, from versions.ts) that brought it. The build-scan test checks that a default build
 * asks for nothing past 5.10; the loader uses it to say which feature a kernel that refused the object lacks and
 * which `--target-kernel` would have been right.
 *
 * Only what can be read off the object is listed. Verifier leniencies (a dereference that a newer verifier proves
 * safe) leave no trace in the bytes, so they are not. Context fields are read off loads through a register that
 * still holds the context pointer (see {@link ctxFieldLoads}).
 */
import { AluOp, AtomicOp, Class, JmpOp, Mode, Source, classOf } from "../asm/opcode.ts";
import { isLddw, type Instruction } from "../asm/instruction.ts";
import { decodeBtf } from "../btf/decode.ts";
import { BtfKind } from "../btf/types.ts";
import type { ObjectFile } from "../elf/object.ts";
import type { KernelTarget } from "./index.ts";
import { CtxOff } from "../abi/sk-lookup.ts";
import { FEATURE_ROWS, HELPER_ROWS, OLDEST_VERSION, atLeast, compareVersions, type Feature, type KernelVersion } from "./versions.ts";

/**
 * Map types newer than 5.10 (include/uapi/linux/bpf.h `enum bpf_map_type`), each with the commit that added it. A
 * probed host is judged by its version number here: map types are not probed.
 */
export const MAP_TYPE_ROWS: readonly { type: number; name: string; since: KernelVersion; commit: string }[] = [
  { type: 29, name: "TASK_STORAGE", since: [5, 11], commit: "bpf: Implement task local storage" },
  { type: 30, name: "BLOOM_FILTER", since: [5, 16], commit: "bpf: Add bloom filter map implementation" },
  { type: 31, name: "USER_RINGBUF", since: [6, 1], commit: "bpf: Define new BPF_MAP_TYPE_USER_RINGBUF map type" },
  { type: 32, name: "CGRP_STORAGE", since: [6, 2], commit: "bpf: Implement cgroup storage available to non-cgroup-attached bpf progs" },
  { type: 33, name: "ARENA", since: [6, 9], commit: "bpf: Introduce bpf_arena." },
];

/** One thing an object needs from the kernel. */
export interface Requirement {
  /** A row of the feature table, a helper (rows of HELPER_ROWS) or a map type (MAP_TYPE_ROWS). */
  feature: Feature | "helper" | "mapType";
  /** What exactly, e.g. "signed division (sdiv/smod)", "helper #164". */
  what: string;
  /** The first release that has it; undefined for a helper no modelled release offers sk_lookup programs. */
  since?: KernelVersion;
  /** The commit title(s) that brought it. */
  commit?: string;
  /** Where it first occurs: a program and slot, a map, or the object's BTF (neither). */
  program?: string;
  map?: string;
  slot?: number;
  /** For helpers: the id. */
  helper?: number;
}

/** The cpu-v4 encodings (Linux 6.6), by what the kernel's decoder calls them when it does not know them. */
export type IsaV4Form = "ldsx" | "bswap" | "gotol" | "movsx" | "sdiv";

/**
 * The cpu-v4 form of one instruction, if it is one: the encodings a pre-6.6 kernel refuses while decoding (a
 * non-zero `off` on a register move or a division, LDX in MEMSX mode, ALU64 byte swap, JMP32 JA). The verifier's
 * target check and the requirements scan both classify with this one function, so they cannot disagree.
 */
export function isaV4Form(i: Pick<Instruction, "opcode" | "off">): IsaV4Form | undefined {
  const cls = classOf(i.opcode);
  const op = i.opcode & 0xf0;
  if (cls === Class.LDX && (i.opcode & 0xe0) === Mode.MEMSX) return "ldsx";
  if (cls === Class.ALU64 && op === AluOp.END) return "bswap";
  if (cls === Class.JMP32 && op === JmpOp.JA) return "gotol";
  if ((cls === Class.ALU || cls === Class.ALU64) && i.off !== 0) {
    if (op === AluOp.MOV && (i.opcode & Source.X) !== 0) return "movsx";
    if (op === AluOp.DIV || op === AluOp.MOD) return "sdiv";
  }
  return undefined;
}

/** True for a STX|ATOMIC instruction other than 5.10's plain atomic add (fetch forms, xchg, cmpxchg, and/or/xor: 5.12). */
export const isAtomicBeyondAdd = (i: Pick<Instruction, "opcode" | "imm">): boolean =>
  classOf(i.opcode) === Class.STX && (i.opcode & 0xe0) === Mode.ATOMIC && i.imm !== AtomicOp.ADD;

/** A name for each cpu-v4 form and the keyword of its commit in the isaV4 row. */
const V4_NAMES: Record<IsaV4Form, { what: string; keyword: string }> = {
  sdiv: { what: "signed division and remainder (sdiv/smod)", keyword: "signed div/mod" },
  movsx: { what: "sign-extending move (movsx)", keyword: "sign-extension mov" },
  bswap: { what: "unconditional byte swap (bswap)", keyword: "bswap" },
  ldsx: { what: "sign-extending load (ldsx)", keyword: "sign-extension load" },
  gotol: { what: "jump with a 32-bit offset (gotol)", keyword: "32bit offset jmp" },
};

/** The one commit of a row's `;`-separated list whose title contains `keyword`. */
function commitOf(feature: Feature, keyword: string): string {
  const parts = FEATURE_ROWS[feature].commit.split(";").map((s) => s.trim());
  return parts.find((p) => p.includes(keyword)) ?? FEATURE_ROWS[feature].commit;
}

/** The name and commit of the atomic form of `i`, when it is newer than 5.10's plain atomic add. */
function atomicForm(i: Pick<Instruction, "opcode" | "imm">): { what: string; commit: string } | undefined {
  if (!isAtomicBeyondAdd(i)) return undefined;
  const imm = i.imm;
  if (imm === AtomicOp.XCHG) return { what: "atomic exchange (xchg)", commit: commitOf("atomicFetch", "xchg") };
  if (imm === AtomicOp.CMPXCHG) return { what: "atomic compare-and-exchange (cmpxchg)", commit: commitOf("atomicFetch", "xchg") };
  const name = { [AtomicOp.ADD]: "add", [AtomicOp.OR]: "or", [AtomicOp.AND]: "and", [AtomicOp.XOR]: "xor" }[imm & ~AtomicOp.FETCH] ?? `op 0x${imm.toString(16)}`;
  if (imm & AtomicOp.FETCH) return { what: `atomic fetch-and-${name}`, commit: commitOf("atomicFetch", name === "add" ? "BPF_FETCH" : "bitwise") };
  return { what: `atomic ${name}`, commit: commitOf("atomicFetch", "bitwise") };
}

/**
 * The slots of `insns` that load the context field at `offset`, found by a linear pass that follows the context
 * pointer from r1 through register copies (as tsbpf and clang keep it: whole in one register). A register stops
 * holding it when written or, for r0-r5, at a call. Branches are not followed, so a register that holds the context
 * on one path only may be taken for it; the result only names a missing feature for a kernel that already refused
 * the object.
 */
export function ctxFieldLoads(insns: readonly Instruction[], offset: number): number[] {
  const out: number[] = [];
  let ctx = new Set([1]);
  for (let slot = 0; slot < insns.length; slot++) {
    const i = insns[slot]!;
    if (isLddw(i)) {
      ctx.delete(i.dst);
      slot++;
      continue;
    }
    const cls = classOf(i.opcode);
    if (cls === Class.LDX) {
      if (ctx.has(i.src) && i.off === offset) out.push(slot);
      ctx.delete(i.dst);
    } else if (cls === Class.ALU64 && (i.opcode & 0xf0) === AluOp.MOV && (i.opcode & Source.X) !== 0 && i.off === 0) {
      if (ctx.has(i.src)) ctx.add(i.dst);
      else ctx.delete(i.dst);
    } else if (cls === Class.ALU || cls === Class.ALU64) {
      ctx.delete(i.dst);
    } else if (i.opcode === (Class.JMP | JmpOp.CALL)) {
      ctx = new Set([...ctx].filter((r) => r > 5));
    }
  }
  return out;
}

/** The first release whose sk_lookup programs may call helper `id`, if any modelled one does. */
export function helperSince(id: number): { since: KernelVersion; commit: string } | undefined {
  const row = HELPER_ROWS.find((r) => r.ids.includes(id));
  return row && { since: row.since, commit: row.commit };
}

const BTF_KIND_FEATURES: Partial<Record<BtfKind, { feature: Feature; what: string }>> = {
  [BtfKind.FLOAT]: { feature: "btfFloat", what: "BTF kind FLOAT" },
  [BtfKind.DECL_TAG]: { feature: "btfDeclTag", what: "BTF kind DECL_TAG" },
  [BtfKind.TYPE_TAG]: { feature: "btfTypeTag", what: "BTF kind TYPE_TAG" },
  [BtfKind.ENUM64]: { feature: "btfEnum64", what: "BTF kind ENUM64" },
};

/**
 * Everything `obj` needs beyond the oldest target (5.10), one entry per distinct feature/helper/BTF kind (its first
 * occurrence). Helpers available since 5.10 are left out; so is everything else 5.10 has.
 */
export function objectRequirements(obj: ObjectFile): Requirement[] {
  const out = new Map<string, Requirement>();
  const add = (key: string, r: Requirement) => {
    if (!out.has(key)) out.set(key, r);
  };
  const row = (feature: Feature) => ({ since: FEATURE_ROWS[feature].since, commit: FEATURE_ROWS[feature].commit });
  for (const p of obj.programs) {
    const ifindexLoads = new Set(ctxFieldLoads(p.insns, CtxOff.ingress_ifindex));
    for (let slot = 0; slot < p.insns.length; slot++) {
      const i = p.insns[slot]!;
      if (isLddw(i)) {
        slot++;
        continue;
      }
      const form = isaV4Form(i);
      if (form) {
        const { what, keyword } = V4_NAMES[form];
        add(`isa:${what}`, { feature: "isaV4", what, commit: commitOf("isaV4", keyword), since: FEATURE_ROWS.isaV4.since, program: p.name, slot });
      }
      const at = atomicForm(i);
      if (at) add(`atomic:${at.what}`, { feature: "atomicFetch", ...at, since: FEATURE_ROWS.atomicFetch.since, program: p.name, slot });
      if (ifindexLoads.has(slot)) {
        add("ctx:ingress_ifindex", { feature: "ctxIngressIfindex", what: "context field ingress_ifindex", ...row("ctxIngressIfindex"), program: p.name, slot });
      }
      // src 0: a helper (src 1 is a BPF-to-BPF call; kfuncs, src 2, are not modelled).
      if (i.opcode === (Class.JMP | JmpOp.CALL) && i.src === 0) {
        const h = helperSince(i.imm);
        if (!h || compareVersions(h.since, OLDEST_VERSION) > 0) {
          add(`helper:${i.imm}`, { feature: "helper", what: `helper #${i.imm}`, helper: i.imm, ...(h ?? {}), program: p.name, slot });
        }
      }
    }
  }
  for (const m of obj.maps) {
    const row = MAP_TYPE_ROWS.find((r) => r.type === m.type);
    if (row) add(`map:${m.type}`, { feature: "mapType", what: `map type ${row.name}`, since: row.since, commit: row.commit, map: m.name });
  }
  if (obj.btf) {
    let types: ReturnType<typeof decodeBtf>["types"] = [];
    try {
      types = decodeBtf(obj.btf).types;
    } catch {
      // A malformed .BTF is the BTF loader's problem, not a feature question.
    }
    for (const t of types) {
      if (!t) continue;
      const f = BTF_KIND_FEATURES[t.kind];
      if (f) add(`btf:${t.kind}`, { feature: f.feature, what: f.what, ...row(f.feature) });
      // A signed ENUM sets kind_flag, which kernels before 6.0 refuse (it came with ENUM64).
      if (t.kind === BtfKind.ENUM && t.signed) add("btf:signed-enum", { feature: "btfEnum64", what: "signed BTF ENUM (kind_flag)", ...row("btfEnum64") });
    }
  }
  return [...out.values()];
}

/** The oldest release that meets every requirement with a known release (at least the oldest target). */
export function minimumVersion(reqs: readonly Requirement[]): KernelVersion {
  let v = OLDEST_VERSION;
  for (const r of reqs) if (r.since && compareVersions(r.since, v) > 0) v = r.since;
  return v;
}

/** The requirements `target` does not meet. */
export function unmetOn(target: KernelTarget, reqs: readonly Requirement[]): Requirement[] {
  return reqs.filter((r) => {
    switch (r.feature) {
      case "helper":
        return !target.helpers.has(r.helper!);
      case "isaV4":
        return !target.isaV4;
      case "atomicFetch":
        return !target.atomicFetch;
      case "btfFloat":
        return !target.btfKinds.float;
      case "btfDeclTag":
        return !target.btfKinds.declTag;
      case "btfTypeTag":
        return !target.btfKinds.typeTag;
      case "btfEnum64":
        return !target.btfKinds.enum64;
      case "testRunSkLookup":
        return !target.testRunSkLookup;
      case "arrayLookupConstKeyNonNull":
        return !target.arrayLookupConstKeyNonNull;
      case "ctxIngressIfindex":
        return !target.ctxIngressIfindex;
      default:
        return r.since !== undefined && !atLeast(target.version, r.since);
    }
  });
}
