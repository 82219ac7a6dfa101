/**
 * Small sk_lookup objects assembled with the shared instruction builders, so that the loader can be tested without
 * the ELF reader or the compiler: each is an {@link ObjectFile} exactly as `readObject` would return it.
 */
import {
  AluOp,
  AtomicOp,
  Helper,
  JmpOp,
  Reg,
  Size,
  type Instruction,
  alu64,
  atomic,
  call,
  decode,
  encode,
  exit,
  jmp64,
  ldMap,
  ldx,
  mov64,
  reg,
  st,
  withLabel,
} from "../../compiler/asm/index.ts";
import { MapType, type MapDef } from "../../compiler/abi/maps.ts";
import type { ObjProgram, ObjectFile } from "../../compiler/elf/object.ts";

/** Builds a linked ObjProgram from emitted instructions. */
export function asmProgram(name: string, insns: Instruction[]): ObjProgram {
  const enc = encode(insns);
  return {
    name,
    section: "sk_lookup",
    insns: decode(enc.bytes),
    bytes: enc.bytes,
    mapRelocs: enc.relocations.filter((r) => r.kind === "map").map((r) => ({ slot: r.slot, map: r.symbol })),
    lineInfo: [],
    funcInfo: [],
  };
}

/** A map definition with defaults. */
export function mapDef(name: string, type: number, keySize: number, valueSize: number, maxEntries: number, flags = 0): MapDef {
  return { name, type, keySize, valueSize, maxEntries, flags, pinning: 0 };
}

/** `r0 = verdict; exit`. */
export const constProgram = (name: string, verdict: number): ObjProgram => asmProgram(name, [mov64(Reg.R0, verdict), exit()]);

/**
 * Selects `sockets[slot]` for connections to local port `port` (any port when `port` is 0) with `flags`, and counts
 * every run in `hits[0]` (u64, atomic add) so tests can observe map side effects. Returns SK_PASS unless the assign
 * fails (then SK_DROP); SK_PASS when the slot is empty or the port differs.
 */
export function selectProgram(name: string, port: number, slot = 0, flags = 0): ObjProgram {
  return asmProgram(name, [
    mov64(Reg.R6, reg(Reg.R1)),
    // hits[0] += 1
    st(Size.W, Reg.R10, -4, 0),
    mov64(Reg.R2, reg(Reg.R10)),
    alu64(AluOp.ADD, Reg.R2, -4),
    ldMap(Reg.R1, "hits"),
    call(Helper.map_lookup_elem),
    jmp64(JmpOp.JEQ, Reg.R0, 0, "counted"),
    mov64(Reg.R1, 1),
    atomic(Size.DW, AtomicOp.ADD, Reg.R0, 0, Reg.R1),
    withLabel(ldx(Size.W, Reg.R2, Reg.R6, 60), "counted"),
    ...(port ? [jmp64(JmpOp.JNE, Reg.R2, port, "pass")] : []),
    st(Size.W, Reg.R10, -8, slot),
    mov64(Reg.R2, reg(Reg.R10)),
    alu64(AluOp.ADD, Reg.R2, -8),
    ldMap(Reg.R1, "sockets"),
    call(Helper.map_lookup_elem),
    jmp64(JmpOp.JEQ, Reg.R0, 0, "pass"),
    mov64(Reg.R7, reg(Reg.R0)),
    mov64(Reg.R1, reg(Reg.R6)),
    mov64(Reg.R2, reg(Reg.R7)),
    mov64(Reg.R3, flags),
    call(Helper.sk_assign),
    mov64(Reg.R8, reg(Reg.R0)),
    mov64(Reg.R1, reg(Reg.R7)),
    call(Helper.sk_release),
    mov64(Reg.R0, 1),
    jmp64(JmpOp.JEQ, Reg.R8, 0, "out"),
    mov64(Reg.R0, 0),
    withLabel(exit(), "out"),
    withLabel(mov64(Reg.R0, 1), "pass"),
    exit(),
  ]);
}

/** An object with `sockets` (SOCKMAP, 4 slots), `hits` (ARRAY of one u64) and the given programs. */
export function selectObject(...programs: ObjProgram[]): ObjectFile {
  return {
    license: "GPL",
    programs,
    maps: [mapDef("sockets", MapType.SOCKMAP, 4, 8, 4), mapDef("hits", MapType.ARRAY, 4, 8, 1)],
  };
}

/** A program the verifier rejects: it returns 2, outside [SK_DROP, SK_PASS]. */
export const badReturnProgram = (): ObjProgram => constProgram("bad_ret", 2);

/** A program the verifier rejects: r0 is never set. */
export const uninitProgram = (): ObjProgram => asmProgram("no_r0", [exit()]);
