/**
 * A program prepared for execution: slot-indexed instructions (as the kernel receives them after libbpf linking),
 * with every `lddw` resolved to its constant, map handle or map-value pointer, and the subprogram layout (entry of
 * every BPF-to-BPF callee) that the JIT needs. Preparation never throws for bad bytecode: anything that cannot be
 * resolved becomes a fault raised when (and only if) the instruction executes, identically in both tiers.
 */
import { checkControlFlow, isControlFlowError } from "../../compiler/asm/control-flow.ts";
import { disassemble, formatInstruction } from "../../compiler/asm/disasm.ts";
import type { Instruction } from "../../compiler/asm/instruction.ts";
import { AluOp, Class, JmpOp, LDDW, Mode, Pseudo, Size, Source } from "../../compiler/asm/opcode.ts";
import { BPF_F_RDONLY_PROG } from "../../compiler/abi/maps.ts";
import type { MapReloc } from "../../compiler/elf/object.ts";
import type { VmMap } from "../maps/map.ts";
import { ptrLo, Region, RegionKind, type RegionTable } from "./region.ts";

/** What a `lddw` loads. */
export type LddwValue =
  | { kind: "const"; lo: number; hi: number }
  /** A map handle or map value pointer (region + offset); resolved to words when executed (registration is lazy). */
  | { kind: "ptr"; region: Region; offset: number }
  | { kind: "fault"; reason: string };

/** A program ready for both tiers. */
export interface PreparedProgram {
  name: string;
  insns: readonly Instruction[];
  /** lddw values by slot. */
  lddw: ReadonlyMap<number, LddwValue>;
  /** Entry slots of functions: 0 first, then every BPF-to-BPF call target inside the program, sorted. */
  funcs: number[];
  /** Why the instruction at each slot cannot execute (invalid encoding), or undefined. Shared by both tiers. */
  invalid: (string | undefined)[];
  /** The region table of the object the program was loaded into (set by pinLddwRegions). */
  table?: RegionTable;
}

/** Resolves the map references of `insns` using relocations (slot → map name) and the map table. */
export function prepareProgram(
  name: string,
  insns: readonly Instruction[],
  mapRelocs: readonly MapReloc[],
  maps: ReadonlyMap<string, VmMap>,
): PreparedProgram {
  const bySlot = new Map(mapRelocs.map((r) => [r.slot, r]));
  const lddw = new Map<number, LddwValue>();
  const funcs = new Set<number>([0]);
  insns.forEach((insn, pc) => {
    if (insn.opcode === LDDW && pc + 1 < insns.length) lddw.set(pc, resolveLddw(insn, pc, insns[pc + 1]!, bySlot, maps));
    if (insn.opcode === (Class.JMP | JmpOp.CALL) && insn.src === Pseudo.CALL) {
      const t = pc + insn.imm + 1;
      if (t >= 0 && t < insns.length) funcs.add(t);
    }
  });
  const invalid = insns.map((insn, pc) => validate(insn, pc, insns.length));
  return { name, insns, lddw, funcs: [...funcs].sort((a, b) => a - b), invalid };
}

/** BPF_COMPLEXITY_LIMIT_INSNS (include/linux/bpf.h): the most instructions a privileged loader may load. */
export const MAX_PROGRAM_INSNS = 1_000_000;

/**
 * Why the kernel refuses to load `insns` as a whole, or undefined. The VM runs anything else (bad instructions fault
 * when reached, identically in both tiers), but these are refused at load, as BPF_PROG_LOAD refuses them:
 * - no instructions (EINVAL), or more than BPF_COMPLEXITY_LIMIT_INSNS (E2BIG) — kernel/bpf/syscall.c bpf_prog_load;
 * - control flow the verifier refuses before exploring any path (compiler/asm/control-flow.ts, shared with our
 *   verifier): calls and jumps out of range, a function that does not end in exit or ja, unreachable instructions,
 *   jumps into the second slot of an ldimm64 (EINVAL), too many functions (E2BIG). The message is the kernel's log
 *   line, with what it leaves unsaid (which instruction, which function) in parentheses.
 *
 * `checks: "tier-safety"` keeps only what both tiers need to agree (a jump into an ldimm64's second slot would run
 * the constant's upper half as an instruction), so that the fuzzers can still feed the tiers jumps out of range and
 * unreachable code and compare their run-time faults.
 */
export function loadError(
  insns: readonly Instruction[],
  checks: "kernel" | "tier-safety" = "kernel",
): { errno: "EINVAL" | "E2BIG"; message: string } | undefined {
  const n = insns.length;
  if (n === 0) return { errno: "EINVAL", message: "no instructions" };
  if (n > MAX_PROGRAM_INSNS) return { errno: "E2BIG", message: `${n} instructions, more than the kernel's limit of ${MAX_PROGRAM_INSNS}` };
  if (checks === "tier-safety") return jumpIntoLdimm64(insns);
  const refused = checkControlFlow(insns);
  if (!isControlFlowError(refused)) return undefined;
  return { errno: refused.errno, message: refused.detail ? `${refused.message} (${refused.detail})` : refused.message };
}

/** A jump or call from any instruction (reachable or not) into the second slot of an ldimm64. */
function jumpIntoLdimm64(insns: readonly Instruction[]): { errno: "EINVAL"; message: string } | undefined {
  const n = insns.length;
  const tail = new Uint8Array(n + 1);
  for (let pc = 0; pc < n; pc += insns[pc]!.opcode === LDDW ? 2 : 1) if (insns[pc]!.opcode === LDDW) tail[pc + 1] = 1;
  for (let pc = 0; pc < n; pc++) {
    if (tail[pc]) continue;
    const insn = insns[pc]!;
    const cls = insn.opcode & 7;
    if (cls !== Class.JMP && cls !== Class.JMP32) continue;
    const jop = insn.opcode & 0xf0;
    if (jop === JmpOp.EXIT) continue;
    let t: number;
    if (jop === JmpOp.CALL) {
      if (cls !== Class.JMP || insn.src !== Pseudo.CALL) continue;
      t = pc + insn.imm + 1;
    } else t = pc + 1 + (jop === JmpOp.JA && cls === Class.JMP32 ? insn.imm : insn.off);
    if (t > 0 && t < n && tail[t]) return { errno: "EINVAL", message: `jump into the middle of ldimm64 insn ${t - 1} (from insn ${pc})` };
  }
  return undefined;
}

const bad = (op: number): string => `invalid opcode 0x${op.toString(16).padStart(2, "0")}`;
const R10_RO = "frame pointer r10 is read-only";
const ATOMIC_OPS = new Set([0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1]);

/**
 * The encoding checks the kernel's verifier makes on single instructions (check_alu_op, do_check...), reduced to
 * what keeps execution well-defined. Returns why `insn` cannot execute, or undefined.
 */
export function validate(insn: Instruction, pc: number, count: number): string | undefined {
  const op = insn.opcode;
  const cls = op & 7;
  const isCall = cls === Class.JMP && (op & 0xf0) === JmpOp.CALL;
  if (insn.dst > 10) return `invalid register r${insn.dst}`;
  if (insn.src > 10 && cls !== Class.LD && !isCall) return `invalid register r${insn.src}`;
  switch (cls) {
    case Class.ALU:
    case Class.ALU64: {
      const aop = op & 0xf0;
      const x = (op & Source.X) !== 0;
      if (aop > AluOp.END) return bad(op);
      if (insn.dst === 10) return R10_RO;
      if (aop === AluOp.END) {
        if (cls === Class.ALU64 && x) return bad(op);
        if (insn.imm !== 16 && insn.imm !== 32 && insn.imm !== 64) return `invalid byte swap width ${insn.imm}`;
        return undefined;
      }
      if (aop === AluOp.NEG && (x || insn.imm !== 0 || insn.off !== 0)) return bad(op);
      if (aop === AluOp.MOV) {
        const ok = insn.off === 0 || (x && (insn.off === 8 || insn.off === 16 || (insn.off === 32 && cls === Class.ALU64)));
        return ok ? undefined : `invalid mov offset ${insn.off}`;
      }
      if (aop === AluOp.DIV || aop === AluOp.MOD) return insn.off === 0 || insn.off === 1 ? undefined : `invalid ALU offset ${insn.off}`;
      return insn.off === 0 ? undefined : `invalid ALU offset ${insn.off}`;
    }
    case Class.JMP:
    case Class.JMP32: {
      const jop = op & 0xf0;
      if (jop > JmpOp.JSLE) return bad(op);
      if (jop === JmpOp.CALL || jop === JmpOp.EXIT) {
        if (cls === Class.JMP32) return bad(op);
        // kernel/bpf/verifier.c do_check: "BPF_CALL uses reserved fields" / "BPF_EXIT uses reserved fields" for a
        // register source (callx is not a BPF_PROG_LOAD instruction) or a non-zero dst.
        const reserved = op & Source.X || insn.dst !== 0 || (jop === JmpOp.EXIT ? insn.src !== 0 || insn.imm !== 0 : insn.off !== 0 && insn.src !== Pseudo.KFUNC_CALL);
        if (reserved) return `BPF_${jop === JmpOp.CALL ? "CALL" : "EXIT"} uses reserved fields`;
        if (jop === JmpOp.EXIT) return undefined;
        if (insn.src === Pseudo.CALL) {
          const t = pc + insn.imm + 1;
          return t >= 0 && t < count ? undefined : "call outside the program";
        }
        if (insn.src === Pseudo.KFUNC_CALL) return "kfunc calls are not supported";
        return insn.src === 0 ? undefined : `invalid call src ${insn.src}`;
      }
      return undefined;
    }
    case Class.LD: {
      if (op !== LDDW) {
        const mode = op & 0xe0;
        return mode === Mode.ABS || mode === Mode.IND ? "BPF_LD_[ABS|IND] instructions are not allowed for sk_lookup" : bad(op);
      }
      if (pc + 1 >= count) return "lddw without its second slot";
      return insn.dst === 10 ? R10_RO : undefined;
    }
    case Class.LDX: {
      const mode = op & 0xe0;
      if (mode !== Mode.MEM && mode !== Mode.MEMSX) return bad(op);
      if (mode === Mode.MEMSX && (op & 0x18) === Size.DW) return bad(op);
      return insn.dst === 10 ? R10_RO : undefined;
    }
    case Class.ST:
      return (op & 0xe0) === Mode.MEM ? undefined : bad(op);
    default: {
      const mode = op & 0xe0;
      if (mode === Mode.MEM) return undefined;
      if (mode !== Mode.ATOMIC) return bad(op);
      const size = op & 0x18;
      if (size !== Size.W && size !== Size.DW) return "atomic operations need a 4- or 8-byte size";
      if (!ATOMIC_OPS.has(insn.imm)) return `invalid atomic operation 0x${(insn.imm >>> 0).toString(16)}`;
      if (insn.imm & 1 && insn.imm !== 0xf1 && insn.src === 10) return R10_RO;
      return undefined;
    }
  }
}

function resolveLddw(insn: Instruction, pc: number, next: Instruction, bySlot: Map<number, MapReloc>, maps: ReadonlyMap<string, VmMap>): LddwValue {
  const imm64 = insn.imm64 ?? ((BigInt(next.imm >>> 0) << 32n) | BigInt(insn.imm >>> 0));
  const reloc = bySlot.get(pc);
  const mapName = reloc?.map;
  // ELF objects keep src = 0 on map loads and name the map by relocation; libbpf sets BPF_PSEUDO_MAP_FD when it
  // patches in the fd. So a relocated lddw is a map load whatever its src (MAP_VALUE keeps its meaning).
  if (mapName === undefined) {
    if (insn.src === 0) return { kind: "const", lo: Number(imm64 & 0xffffffffn) | 0, hi: Number((imm64 >> 32n) & 0xffffffffn) | 0 };
    if (insn.src === Pseudo.MAP_FD || insn.src === Pseudo.MAP_VALUE) return { kind: "fault", reason: "lddw of a map without a relocation naming the map" };
    return { kind: "fault", reason: `lddw with src ${insn.src} (BTF ids, map indexes...) is not supported by the VM` };
  }
  const map = maps.get(mapName);
  if (!map) return { kind: "fault", reason: `lddw of unknown map '${mapName}'` };
  if ("reason" in map && typeof map.reason === "string") return { kind: "fault", reason: map.reason };
  // A "value" relocation (global data) is already rewritten to MAP_VALUE by the reader; trust either marker.
  if (reloc!.kind !== "value" && insn.src !== Pseudo.MAP_VALUE) return { kind: "ptr", region: map.handle, offset: 0 };
  const value = map.holdsSockets ? null : (map.lookup(new Uint8Array(map.def.keySize)) as Region | null);
  if (!value) return { kind: "fault", reason: `lddw of a value of map '${mapName}', which has no value at key 0` };
  const offset = reloc!.kind === "value" ? (reloc!.offset ?? 0) : next.imm;
  // The kernel refuses the load (check_ld_imm / map_direct_value_addr) when the offset is not inside the value.
  if (offset < 0 || offset >= map.def.valueSize) return { kind: "fault", reason: `invalid access to map value pointer, value_size=${map.def.valueSize} off=${offset >>> 0}` };
  const region = map.def.flags & BPF_F_RDONLY_PROG ? readOnlyView(value) : value;
  return { kind: "ptr", region, offset };
}

/** Read-only views of map values, one per value, so every program and both tiers share one region id. */
const readOnlyViews = new WeakMap<Region, Region>();

/**
 * A view of a BPF_F_RDONLY_PROG map's value (`.rodata`) that programs can read and pass to helpers but not write: the
 * kernel's verifier rejects such stores ("write into map forbidden"); the VM faults on them. Same bytes, so user-space
 * changes (before freezing) are seen.
 */
function readOnlyView(value: Region): Region {
  let v = readOnlyViews.get(value);
  if (!v) readOnlyViews.set(value, (v = new Region(RegionKind.ReadOnly, value.bytes, `${value.label} (read-only map)`, value.owner)));
  return v;
}

/** Registers the regions `p`'s lddw instructions name in `table` for the object's life (see RegionTable). */
export function pinLddwRegions(p: PreparedProgram, table: RegionTable): void {
  for (const v of p.lddw.values()) if (v.kind === "ptr") table.pin(v.region);
  p.table = table;
}

/** Words of a resolved lddw (pointers as ids of `table`, where pinLddwRegions put them). */
export function lddwWords(v: LddwValue, table: RegionTable): { lo: number; hi: number } {
  if (v.kind === "const") return v;
  if (v.kind === "ptr") return { lo: ptrLo(v.offset), hi: table.hi(v.region) };
  throw new Error("unreachable: fault lddw has no words");
}

/** One instruction as text, for faults. */
export function insnText(p: PreparedProgram, pc: number): string {
  const insn = p.insns[pc];
  if (!insn) return pc === p.insns.length ? "<end of program>" : "<outside the program>";
  return formatInstruction(insn, pc);
}

/** Disassembly of a whole prepared program (for debugging). */
export const listing = (p: PreparedProgram): string => disassemble(p.insns).join("\n");
