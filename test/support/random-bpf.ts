/**
 * Random BPF bytecode for the fuzzers (test/vm/fuzz, test/hardening/fuzz): mostly well-formed instructions with
 * hostile corners mixed in (jumps into lddw tails, gotol, reserved fields, stray registers, helper ids the VM does not
 * implement, trace_printk formats on the stack), over four maps named by lddw relocations.
 */
import { BPF_F_NO_PREALLOC, MapType } from "../../compiler/abi/maps.ts";
import type { Instruction } from "../../compiler/asm/instruction.ts";
import { Socket } from "../../runtime/net/socket.ts";
import type { VmObject } from "../../runtime/vm/object.ts";
import { mapDef } from "../vm/harness.ts";

/** The hardening fuzzer's mix: more calls (trace_printk among them). */
const OPCODES_HOSTILE = [
  0x07, 0x0f, 0x17, 0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x47, 0x4f, 0x57, 0x5f, 0x67, 0x6f, 0x77, 0x7f, 0x87, 0x97, 0x9f, 0xa7, 0xaf, 0xb7, 0xbf,
  0xc7, 0xcf, 0xd7, 0x04, 0x0c, 0x14, 0x1c, 0x24, 0x2c, 0x34, 0x3c, 0x44, 0x4c, 0x54, 0x5c, 0x64, 0x6c, 0x74, 0x7c, 0x84, 0x94, 0x9c,
  0xa4, 0xac, 0xb4, 0xbc, 0xc4, 0xcc, 0xd4, 0xdc, 0x05, 0x06, 0x15, 0x1d, 0x25, 0x2d, 0x35, 0x3d, 0x45, 0x4d, 0x55, 0x5d, 0x65, 0x6d,
  0x75, 0x7d, 0xa5, 0xad, 0xb5, 0xbd, 0xc5, 0xcd, 0xd5, 0xdd, 0x16, 0x1e, 0x26, 0x2e, 0x56, 0x5e, 0xa6, 0xc6, 0xde, 0x85, 0x85, 0x95,
  0x61, 0x69, 0x71, 0x79, 0x81, 0x89, 0x91, 0x62, 0x6a, 0x72, 0x7a, 0x63, 0x6b, 0x73, 0x7b, 0xc3, 0xdb, 0x18, 0x18,
];
/** The VM fuzzer's mix: more exits, fewer calls, so that many programs end normally. */
const OPCODES_PLAIN = [
  0x07, 0x0f, 0x17, 0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x47, 0x4f, 0x57, 0x5f, 0x67, 0x6f, 0x77, 0x7f, 0x87, 0x97, 0x9f, 0xa7, 0xaf, 0xb7, 0xbf,
  0xc7, 0xcf, 0xd7, 0x04, 0x0c, 0x14, 0x1c, 0x24, 0x2c, 0x34, 0x3c, 0x44, 0x4c, 0x54, 0x5c, 0x64, 0x6c, 0x74, 0x7c, 0x84, 0x94, 0x9c,
  0xa4, 0xac, 0xb4, 0xbc, 0xc4, 0xcc, 0xd4, 0xdc, 0x05, 0x15, 0x1d, 0x25, 0x2d, 0x35, 0x3d, 0x45, 0x4d, 0x55, 0x5d, 0x65, 0x6d, 0x75,
  0x7d, 0xa5, 0xad, 0xb5, 0xbd, 0xc5, 0xcd, 0xd5, 0xdd, 0x06, 0x16, 0x1e, 0x26, 0x2e, 0x56, 0x5e, 0x65, 0xa6, 0xc6, 0xde, 0x85, 0x95,
  0x61, 0x69, 0x71, 0x79, 0x81, 0x89, 0x91, 0x62, 0x6a, 0x72, 0x7a, 0x63, 0x6b, 0x73, 0x7b, 0xc3, 0xdb, 0x18, 0x18, 0x95,
];
const HELPERS_PLAIN = [1, 2, 3, 5, 6, 7, 8, 86, 124, 124, 1, 46, 12];
const IMMS = [0, 1, -1, 2, 4, 7, 8, 16, 31, 32, 33, 63, 64, 0x7fffffff, -0x80000000, 0xffff, 7007, 6, 17, 10];
/** Helpers the VM implements, a few it does not, and trace_printk with formats on the stack. */
const HELPERS_HOSTILE = [1, 2, 3, 5, 6, 7, 8, 86, 124, 124, 1, 1, 2, 46, 12, 6];
const ATOMIC = [0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1, 0x33];
/** The maps random programs name in their lddw relocations (h, s, a, lpm). */
export const MAPS = [
  mapDef("h", MapType.HASH, 4, 8, 4),
  mapDef("s", MapType.SOCKMAP, 4, 8, 2),
  mapDef("a", MapType.ARRAY, 4, 8, 2),
  mapDef("lpm", MapType.LPM_TRIE, 8, 8, 4, BPF_F_NO_PREALLOC),
];

/** Random bytecode: valid-looking instructions mostly, with jumps back and forth, calls, lddw of maps and constants. */
/**
 * One random program of `len` instructions plus a final `r0 = 1; exit`. `hostile` adds what only the hardening
 * fuzzer wants: wider jumps, a trace_printk format on the stack, garbage in lddw tails, reserved fields in calls and
 * exits, map lddw with src 2 (map value), a random verdict; without it, programs end normally more often.
 */
export function randomProgram(
  r: () => number,
  { len = 2 + Math.floor(r() * 40), hostile = true }: { len?: number; hostile?: boolean } = {},
): { insns: Instruction[]; relocs: Array<{ slot: number; map: string }> } {
  const OPCODES = hostile ? OPCODES_HOSTILE : OPCODES_PLAIN;
  const HELPERS = hostile ? HELPERS_HOSTILE : HELPERS_PLAIN;
  const insns: Instruction[] = [];
  const relocs: Array<{ slot: number; map: string }> = [];
  const pick = <T,>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  const regn = (): number => (r() < 0.02 ? 11 + Math.floor(r() * 5) : Math.floor(r() * 11));
  // A trace_printk format ("%d %s\0" and friends) at fp-16 now and then.
  if (hostile && r() < 0.3) insns.push({ opcode: 0x7a, dst: 10, src: 0, off: -16, imm: pick([0x64252000, 0x73252000, 0x75253125, 0x0a702500]) });
  while (insns.length < len) {
    const opcode = r() < 0.02 ? Math.floor(r() * 256) : pick(OPCODES);
    const cls = opcode & 7;
    let imm = r() < 0.3 ? Math.floor(r() * 2 ** 32) | 0 : pick(IMMS);
    let off = 0;
    let src = regn();
    const dst = regn();
    if (cls === 5 || cls === 6) off = hostile ? Math.floor(r() * 13) - 6 : Math.floor(r() * 9) - 3;
    if (hostile && opcode === 0x06) imm = Math.floor(r() * 13) - 6;
    if (cls === 1 || cls === 2 || cls === 3) off = pick([-8, -4, -16, -512, -513, 0, 4, 8, 36, 60, 62, 72]) + (r() < 0.1 ? Math.floor(r() * 8) : 0);
    if (opcode === 0x85) {
      imm = r() < 0.1 ? Math.floor(r() * 8) - 4 : pick(HELPERS);
      src = imm < 8 && r() < (hostile ? 0.15 : 0.1) ? 1 : 0;
    }
    if ((opcode & 0xe0) === 0xc0 && cls === 3) imm = pick(ATOMIC);
    if (cls === 4 || cls === 7) {
      if ((opcode & 0xf0) === 0xd0) imm = pick([16, 32, 64, 8]);
      if ((opcode & 0xf0) === 0xb0 && r() < 0.2) off = pick([8, 16, 32, 3]);
      if ((opcode & 0xf0) === 0x30 || (opcode & 0xf0) === 0x90) off = r() < 0.3 ? 1 : 0;
    }
    if (opcode === 0x18) {
      const useMap = r() < 0.6;
      const slot = insns.length;
      insns.push({ opcode, dst: dst % 10, src: useMap ? (hostile ? pick([1, 1, 2]) : 1) : 0, off: 0, imm, imm64: BigInt.asUintN(32, BigInt(imm)) });
      insns.push(hostile ? { opcode: r() < 0.1 ? pick(OPCODES) : 0, dst: 0, src: 0, off: 0, imm: r() < 0.2 ? 1 : 0 } : { opcode: 0, dst: 0, src: 0, off: 0, imm: 0 });
      if (useMap) relocs.push({ slot, map: pick(["h", "s", "a", "lpm"]) });
      continue;
    }
    // Calls and exits with a non-zero dst are "reserved fields" (refused by the kernel, faulting here): mostly 0.
    if ((opcode === 0x85 || opcode === 0x95) && (!hostile || r() < 0.95)) insns.push({ opcode, dst: 0, src: opcode === 0x95 ? 0 : src, off: 0, imm: opcode === 0x95 ? 0 : imm });
    else insns.push({ opcode, dst, src, off, imm });
  }
  insns.push({ opcode: 0xb7, dst: 0, src: 0, off: 0, imm: !hostile || r() < 0.9 ? 1 : 0 }, { opcode: 0x95, dst: 0, src: 0, off: 0, imm: 0 });
  return { insns, relocs };
}

/**
 * The run-time faults of control flow the kernel refuses at load (compiler/asm/control-flow.ts): the fuzzers load
 * their random programs with the "tier-safety" checks to keep comparing these faults on both tiers, and check that a
 * program passing the kernel's checks never raises one.
 */
export const CONTROL_FLOW_FAULT = /fell off the end of the program|jump outside the program|call outside the program/;

/** Gives the random programs something to find: a listener in s[0] and a value in h[0]. */
export const fillSockets = (o: VmObject): void => {
  o.map("s").set(0, new Socket({ name: "A", family: "inet", protocol: "tcp", ip: "127.0.0.1", port: 1 }));
  o.map("h").set(0, 5);
};
