/**
 * NULL tests the verifier no longer needs, dropped on targets from Linux 6.14 ("bpf: verifier: Support eliding map
 * lookup nullness"): an ARRAY lookup whose key is a constant below max_entries never returns NULL, and from 6.14 the
 * verifier knows it, so `if r0 == 0 goto L` right after such a lookup is dead on every kernel and unneeded by the
 * verifier. Dropping it is exact (no behaviour changes); only targets whose verifier proves the lookup non-NULL may
 * do it, since older ones refuse the dereference without the test.
 *
 * Runs on emitted instructions, where stack offsets are known, because the verifier's rule depends on them. It
 * knows the key only if the bytes hold a constant it tracks (check_stack_write_fixed_off, get_constant_map_key):
 * a `st` of 0 (STACK_ZERO, any alignment) or a `st` of any immediate at an 8-byte aligned offset (a spilled scalar of
 * the key's size). A key written any other way keeps its test. Only one straight-line stretch is examined: a label
 * in between means another path may arrive with other values.
 */
import { MapType } from "../abi/maps.ts";
import { Class, FP, Helper, JmpOp, LDDW, Mode, Source, classOf, type Instruction } from "../asm/index.ts";
import type { Module } from "../ir/ir.ts";

const ALU_MOV_X = Class.ALU64 | 0xb0 | Source.X;
const ALU_ADD_K = Class.ALU64 | 0x00 | Source.K;

/** Removes provably dead NULL tests after constant-key ARRAY lookups (in place); returns how many. */
export function elideConstKeyNullChecks(insns: Instruction[], module: Module): number {
  const maps = new Map(module.maps.map((m) => [m.name, m]));
  /** Register → the map it holds (lddw with a map relocation). */
  const mapIn = new Map<number, string>();
  /** Register → fp + offset. */
  const fpOff = new Map<number, number>();
  /** Stack offset → the constant a `st` wrote there, with its size. */
  const stack = new Map<number, { size: number; value: number }>();
  const forget = (r: number) => {
    mapIn.delete(r);
    fpOff.delete(r);
  };
  let elided = 0;
  for (let i = 0; i < insns.length; i++) {
    const insn = insns[i]!;
    if (insn.labels?.length) {
      mapIn.clear();
      fpOff.clear();
      stack.clear();
    }
    const cls = classOf(insn.opcode);
    if (insn.opcode === LDDW) {
      forget(insn.dst);
      if (insn.mapRef !== undefined) mapIn.set(insn.dst, insn.mapRef);
    } else if (insn.opcode === ALU_MOV_X) {
      forget(insn.dst);
      if (insn.src === FP && insn.off === 0) fpOff.set(insn.dst, 0);
    } else if (insn.opcode === ALU_ADD_K && fpOff.has(insn.dst)) {
      fpOff.set(insn.dst, fpOff.get(insn.dst)! + insn.imm);
    } else if (cls === Class.ST || cls === Class.STX) {
      if (insn.dst === FP) {
        const size = [4, 2, 1, 8][(insn.opcode >> 3) & 3]!;
        for (const [off, v] of stack) if (off < insn.off + size && insn.off < off + v.size) stack.delete(off);
        if (cls === Class.ST && (insn.opcode & 0xe0) === Mode.MEM) stack.set(insn.off, { size, value: insn.imm });
      } else if (cls === Class.STX || cls === Class.ST) {
        stack.clear(); // a store through another pointer might reach the stack
      }
    } else if (insn.opcode === (Class.JMP | JmpOp.CALL)) {
      const known = insn.src === 0 && insn.imm === Helper.map_lookup_elem ? constKeyArray(maps, mapIn.get(1), fpOff.get(2), stack) : false;
      for (let r = 0; r <= 5; r++) forget(r);
      if (!(insn.src === 0 && insn.imm === Helper.map_lookup_elem)) stack.clear();
      if (known && dropNullTest(insns, i + 1)) elided++;
    } else if (cls === Class.ALU || cls === Class.ALU64 || cls === Class.LDX) {
      forget(insn.dst);
    }
    // Jumps need nothing here: the paths they start begin at a label, where everything is forgotten.
  }
  return elided;
}

/** Whether r1 = an ARRAY map and r2 = fp + off, where the key bytes hold a constant the verifier tracks, in range. */
function constKeyArray(maps: Map<string, Module["maps"][number]>, map: string | undefined, off: number | undefined, stack: Map<number, { size: number; value: number }>): boolean {
  const def = map === undefined ? undefined : maps.get(map);
  if (!def || off === undefined || (def.type !== MapType.ARRAY && def.type !== MapType.PERCPU_ARRAY)) return false;
  const key = stack.get(off);
  if (!key || key.size !== def.keySize) return false;
  const value = key.value >>> 0;
  const tracked = value === 0 || off % 8 === 0;
  return tracked && value < def.maxEntries;
}

/**
 * After the lookup at `from - 1`: follows copies of r0 to the first test against 0 and drops it (`== 0` goes,
 * `!= 0` becomes an unconditional jump). Stops at a label, another jump, a call or a redefinition.
 */
function dropNullTest(insns: Instruction[], from: number): boolean {
  const holds = new Set([0]);
  for (let i = from; i < insns.length; i++) {
    const insn = insns[i]!;
    if (insn.labels?.length) return false;
    const cls = classOf(insn.opcode);
    if (insn.opcode === ALU_MOV_X && holds.has(insn.src) && insn.off === 0) {
      holds.add(insn.dst);
      continue;
    }
    if (cls === Class.JMP && (insn.opcode & 0x08) === Source.K && insn.imm === 0 && holds.has(insn.dst)) {
      const op = insn.opcode & 0xf0;
      if (op === JmpOp.JEQ) {
        insns.splice(i, 1);
        return true;
      }
      if (op === JmpOp.JNE) {
        insns[i] = { ...insn, opcode: Class.JMP | JmpOp.JA, dst: 0, src: 0, imm: 0 };
        return true;
      }
      return false;
    }
    if (cls === Class.JMP || cls === Class.JMP32) return false;
    if ((cls === Class.ALU || cls === Class.ALU64 || cls === Class.LDX || insn.opcode === LDDW) && holds.has(insn.dst)) holds.delete(insn.dst);
    if (holds.size === 0) return false;
  }
  return false;
}
