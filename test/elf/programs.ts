/**
 * Hand-assembled sk_lookup programs (built with the compiler/asm builders) and the object input around them, shared
 * by the writer tests. `redir_port` is the spec's sample: local port 7007 → the socket in `sockets[0]`, counting hits
 * in an ARRAY map; `count_proto` bumps a per-protocol counter.
 */
import {
  AluOp,
  AtomicOp,
  FP,
  Helper,
  JmpOp,
  Reg,
  Size,
  atomic,
  call,
  exit,
  jmp64,
  ldMap,
  ldx,
  mov64,
  alu64,
  stx,
  withLabel,
  callLocal,
  type Instruction,
  type SourceLoc,
} from "../../compiler/asm/index.ts";
import { MapType } from "../../compiler/abi/maps.ts";
import type { ObjectInput } from "../../compiler/elf/index.ts";
import type { IrMap } from "../../compiler/ir/ir.ts";

export const FILE = "examples/redirect-port.ts";

/** The TypeScript the hand-written programs pretend to come from (line info points into it). */
export const SOURCE = `import { type SkLookup, SK_PASS, SK_DROP, SockMap, ArrayMap, type u64 } from "tsbpf";
export const sockets = new SockMap({ maxEntries: 32 });
export const hits = new ArrayMap<u64>({ maxEntries: 4 });
export function redir_port(ctx: SkLookup) {
  if (ctx.localPort !== 7007) return SK_PASS;
  hits.increment(0);
  const sk = sockets.lookup(0);
  if (!sk) return SK_PASS;
  const err = ctx.assign(sk);
  return err ? SK_DROP : SK_PASS;
}
export function count_proto(ctx: SkLookup) {
  hits.increment(ctx.protocol === 6 ? 1 : 2);
  return SK_PASS;
}
`;

const at = (line: number, column = 3): SourceLoc => ({ file: FILE, line, column });
const L = (loc: SourceLoc, insns: Instruction[]): Instruction[] => insns.map((i) => ({ ...i, loc }));

/** `redir_port`: 7007 → sockets[0] with sk_assign + sk_release, counting in hits[0]. */
export function redirPort(): Instruction[] {
  return [
    ...L(at(4, 35), [mov64(Reg.R6, { reg: Reg.R1 })]),
    ...L(at(5), [
      ldx(Size.W, Reg.R1, Reg.R6, 60),
      mov64(Reg.R0, 1),
      jmp64(JmpOp.JNE, Reg.R1, 7007, "out"),
    ]),
    ...L(at(6), [
      mov64(Reg.R1, 0),
      stx(Size.W, FP, -4, Reg.R1),
      mov64(Reg.R2, { reg: FP }),
      alu64(AluOp.ADD, Reg.R2, -4),
      ldMap(Reg.R1, "hits"),
      call(Helper.map_lookup_elem),
      jmp64(JmpOp.JEQ, Reg.R0, 0, "lookup"),
      mov64(Reg.R1, 1),
      atomic(Size.DW, AtomicOp.ADD, Reg.R0, 0, Reg.R1),
    ]),
    ...L(at(7), [
      withLabel(mov64(Reg.R1, 0), "lookup"),
      stx(Size.W, FP, -8, Reg.R1),
      mov64(Reg.R2, { reg: FP }),
      alu64(AluOp.ADD, Reg.R2, -8),
      ldMap(Reg.R1, "sockets"),
      call(Helper.map_lookup_elem),
      mov64(Reg.R7, { reg: Reg.R0 }),
    ]),
    ...L(at(8), [mov64(Reg.R0, 1), jmp64(JmpOp.JEQ, Reg.R7, 0, "out")]),
    ...L(at(9), [
      mov64(Reg.R1, { reg: Reg.R6 }),
      mov64(Reg.R2, { reg: Reg.R7 }),
      mov64(Reg.R3, 0),
      call(Helper.sk_assign),
      mov64(Reg.R6, { reg: Reg.R0 }),
      mov64(Reg.R1, { reg: Reg.R7 }),
      call(Helper.sk_release),
    ]),
    ...L(at(10), [mov64(Reg.R0, 1), jmp64(JmpOp.JEQ, Reg.R6, 0, "out"), mov64(Reg.R0, 0)]),
    ...L(at(11, 1), [withLabel(exit(), "out")]),
  ];
}

/** `count_proto`: hits[protocol == 6 ? 1 : 2] += 1. */
export function countProto(): Instruction[] {
  return [
    ...L(at(13), [
      ldx(Size.W, Reg.R2, Reg.R1, 12),
      mov64(Reg.R1, 2),
      jmp64(JmpOp.JNE, Reg.R2, 6, "store"),
      mov64(Reg.R1, 1),
      withLabel(stx(Size.W, FP, -4, Reg.R1), "store"),
      mov64(Reg.R2, { reg: FP }),
      alu64(AluOp.ADD, Reg.R2, -4),
      ldMap(Reg.R1, "hits"),
      call(Helper.map_lookup_elem),
      jmp64(JmpOp.JEQ, Reg.R0, 0, "done"),
      mov64(Reg.R1, 1),
      atomic(Size.DW, AtomicOp.ADD, Reg.R0, 0, Reg.R1),
    ]),
    ...L(at(14), [withLabel(mov64(Reg.R0, 1), "done"), exit()]),
  ];
}

export const u32 = { kind: "int", name: "u32", bytes: 4, signed: false } as const;
export const u64 = { kind: "int", name: "u64", bytes: 8, signed: false } as const;

/** The maps of the sample: a SOCKMAP and an ARRAY of u64 counters. */
export function sampleMaps(): IrMap[] {
  return [
    { name: "sockets", type: MapType.SOCKMAP, keySize: 4, valueSize: 8, maxEntries: 32, flags: 0, pinning: 0, keyType: u32, valueType: u64 },
    { name: "hits", type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 4, flags: 0, pinning: 0, keyType: u32, valueType: u64 },
  ];
}

/** The whole object input of the sample. */
export function sampleInput(): ObjectInput {
  return {
    fileName: FILE,
    source: SOURCE,
    license: "GPL",
    programs: [
      { name: "redir_port", insns: redirPort() },
      { name: "count_proto", insns: countProto() },
    ],
    maps: sampleMaps(),
  };
}

/**
 * BPF-to-BPF calls: `bump(idx)` adds 1 to hits[idx]; `bump_proto(proto)` calls bump(1 or 2) (a call inside .text);
 * programs `count_sub` (calls bump_proto) and `count_three` (calls bump(3)) call them from sk_lookup.
 */
export function subprogramInput(): ObjectInput {
  const bump: Instruction[] = [
    ...L(at(13), [
      stx(Size.W, FP, -4, Reg.R1),
      mov64(Reg.R2, { reg: FP }),
      alu64(AluOp.ADD, Reg.R2, -4),
      ldMap(Reg.R1, "hits"),
      call(Helper.map_lookup_elem),
      jmp64(JmpOp.JEQ, Reg.R0, 0, "bump.out"),
      mov64(Reg.R1, 1),
      atomic(Size.DW, AtomicOp.ADD, Reg.R0, 0, Reg.R1),
      withLabel(mov64(Reg.R0, 0), "bump.out"),
      exit(),
    ]),
  ];
  const bumpProto: Instruction[] = [
    ...L(at(13), [mov64(Reg.R2, { reg: Reg.R1 }), mov64(Reg.R1, 2), jmp64(JmpOp.JNE, Reg.R2, 6, "bp.call"), mov64(Reg.R1, 1)]),
    ...L(at(13, 9), [withLabel(callLocal("bump"), "bp.call"), exit()]),
  ];
  return {
    fileName: FILE,
    source: SOURCE,
    license: "GPL",
    maps: sampleMaps(),
    subprograms: [
      { name: "bump", insns: bump, params: ["idx"] },
      { name: "bump_proto", insns: bumpProto, params: ["proto"] },
    ],
    programs: [
      { name: "count_sub", insns: [...L(at(12, 1), [ldx(Size.W, Reg.R1, Reg.R1, 12), callLocal("bump_proto")]), ...L(at(14), [mov64(Reg.R0, 1), exit()])] },
      { name: "count_three", insns: [...L(at(13), [mov64(Reg.R1, 3), callLocal("bump")]), ...L(at(14), [mov64(Reg.R0, 1), exit()])] },
    ],
  };
}
