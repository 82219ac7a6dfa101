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

/**
 * IPv4 `protocol` lookups whose local address is inside `cidr` (any port) → `sockets[0]`; everything else SK_PASS.
 * The address is compared as the little-endian load of the network-order field, like clang does.
 */
export function cidr4Program(name: string, cidr: string, protocol = 6): ObjProgram {
  const [net, len] = cidr.split("/") as [string, string];
  const bytes = net.split(".").map(Number);
  const le = (b: number[]) => (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
  const bits = Number(len);
  const maskBytes = [0, 1, 2, 3].map((i) => (bits >= 8 * (i + 1) ? 0xff : bits <= 8 * i ? 0 : (0xff << (8 - (bits - 8 * i))) & 0xff));
  const mask = le(maskBytes);
  const want = le(bytes.map((b, i) => b & maskBytes[i]!));
  return asmProgram(name, [
    mov64(Reg.R6, reg(Reg.R1)),
    ldx(Size.W, Reg.R2, Reg.R6, 8),
    jmp64(JmpOp.JNE, Reg.R2, 2, "pass"),
    ldx(Size.W, Reg.R2, Reg.R6, 12),
    jmp64(JmpOp.JNE, Reg.R2, protocol, "pass"),
    ldx(Size.W, Reg.R2, Reg.R6, 40),
    // Masks and constants above 2^31 do not fit a sign-extended imm32: build them in registers with 32-bit ALU ops.
    { opcode: 0xb4, dst: Reg.R3, src: 0, off: 0, imm: mask | 0 }, // w3 = mask
    { opcode: 0x5c, dst: Reg.R2, src: Reg.R3, off: 0, imm: 0 }, // w2 &= w3
    { opcode: 0xb4, dst: Reg.R3, src: 0, off: 0, imm: want | 0 }, // w3 = want
    jmp64(JmpOp.JNE, Reg.R2, reg(Reg.R3), "pass"),
    st(Size.W, Reg.R10, -4, 0),
    mov64(Reg.R2, reg(Reg.R10)),
    alu64(AluOp.ADD, Reg.R2, -4),
    ldMap(Reg.R1, "sockets"),
    call(Helper.map_lookup_elem),
    jmp64(JmpOp.JEQ, Reg.R0, 0, "pass"),
    mov64(Reg.R7, reg(Reg.R0)),
    mov64(Reg.R1, reg(Reg.R6)),
    mov64(Reg.R2, reg(Reg.R7)),
    mov64(Reg.R3, 0),
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

/** `bpf_sk_assign(ctx, NULL, REPLACE)` and SK_PASS: tries to clear the selection (kernel: it never cancels one). */
export const nullReplaceProgram = (name: string): ObjProgram =>
  asmProgram(name, [mov64(Reg.R2, 0), mov64(Reg.R3, 1), call(Helper.sk_assign), mov64(Reg.R0, 1), exit()]);
