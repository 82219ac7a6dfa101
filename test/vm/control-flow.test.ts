/**
 * The VM refuses at load the control flow the kernel refuses at BPF_PROG_LOAD (compiler/asm/control-flow.ts), and
 * loads and runs the rest: hand-made and seeded random control-flow shapes go to the running kernel (raw bpf(2)
 * loads) and to the VM's loader; both must refuse, with the same errno, or both load. The kernel's verdicts are probed,
 * never written down; the VM's messages are ours and pinned for the hand-made shapes.
 *
 * The same shapes go through our verifier (compiler/verifier, which shares the VM's control-flow module): where the
 * kernel's log ends in a control-flow refusal, ours must refuse with that very line; elsewhere it must not refuse for
 * control flow (it may for later reasons, as the kernel may).
 *
 * The shapes keep the kernel's later checks (do_check) out of the comparison: registers read are r10 (compared with a
 * non-zero constant, so both branches stay feasible) and r0, which every function sets before any exit (0 or 1, a
 * valid sk_lookup verdict); in-range jumps and calls only go forward, so nothing loops or recurses, except in the
 * hand-made bounded loops, which the kernel must accept (bounded loops, Linux 5.3+) and the VM must load.
 */
import { describe, expect, test } from "vitest";
import { ATTACH_TYPE_SK_LOOKUP, PROG_TYPE_SK_LOOKUP } from "../../compiler/abi/sk-lookup.ts";
import type { Instruction } from "../../compiler/asm/instruction.ts";
import { ObjectError, type ObjectFile } from "../../compiler/elf/object.ts";
import { openKernel } from "../../runtime/kernel/open.ts";
import { MAX_SUBPROGS } from "../../compiler/asm/control-flow.ts";
import { resolveTarget } from "../../compiler/target/index.ts";
import { verifyProgram } from "../../compiler/verifier/index.ts";
import { VmObject } from "../../runtime/vm/object.ts";
import { loadError } from "../../runtime/vm/program.ts";
import { describeKernel } from "../support/kernel.ts";
import { rng } from "../support/rng.ts";
import { TCP4, TIERS } from "./harness.ts";

const I = (opcode: number, dst = 0, src = 0, off = 0, imm = 0): Instruction => ({ opcode, dst, src, off, imm });
/** r0 = k */
const r0 = (k: number): Instruction => I(0xb7, 0, 0, 0, k);
const EXIT = I(0x95);
/** if r10 > 7 goto +off (both ways feasible for the verifier: r10 is a pointer) */
const ifFp = (off: number, op = 0x25): Instruction => I(op, 10, 0, off, 7);
const ja = (off: number): Instruction => I(0x05, 0, 0, off);
const gotol = (imm: number): Instruction => I(0x06, 0, 0, 0, imm);
/** BPF-to-BPF call to pc + 1 + rel */
const callRel = (rel: number): Instruction => I(0x85, 0, 1, 0, rel);
/** r2 = 5 ll: the first slot; its second slot follows as `tail()` (slot-indexed, as the kernel receives them) */
const lddw = (): Instruction => ({ ...I(0x18, 2, 0, 0, 5), imm64: 5n });
const tail = (fields: Partial<Instruction> = {}): Instruction => ({ ...I(0), ...fields });

/** Hand-made shapes, slot-indexed: the VM's refusal message, or undefined where the program loads. */
const SHAPES: Array<{ name: string; insns: Instruction[]; refused?: string }> = [
  { name: "straight line", insns: [r0(1), EXIT] },
  { name: "falls off the end", insns: [r0(1)], refused: "last insn is not an exit or jmp (insn 0, the end of the program)" },
  { name: "ends in a conditional jump", insns: [r0(1), ifFp(-2)], refused: "last insn is not an exit or jmp (insn 1, the end of the program)" },
  { name: "jump past the end", insns: [r0(1), ifFp(5), EXIT], refused: "jump out of range from insn 1 to 7" },
  { name: "jump to one past the end", insns: [r0(1), ifFp(1), EXIT], refused: "jump out of range from insn 1 to 3" },
  { name: "jump before the start", insns: [r0(1), ja(-3), EXIT], refused: "jump out of range from insn 1 to -1" },
  { name: "gotol out of range (imm, not off)", insns: [r0(1), { ...gotol(5), off: 0 }, EXIT], refused: "jump out of range from insn 1 to 7" },
  { name: "gotol in range", insns: [r0(1), ifFp(1), gotol(1), r0(0), EXIT] },
  { name: "ja last, backwards over an exit", insns: [r0(1), ifFp(1), EXIT, ja(-2)] },
  { name: "gotol last, backwards over an exit", insns: [r0(1), ifFp(1), EXIT, gotol(-2)] },
  { name: "ja with the X bit is no ja to end on", insns: [r0(1), ifFp(1), EXIT, { ...ja(-2), opcode: 0x0d }], refused: "last insn is not an exit or jmp (insn 3, the end of the program)" },
  { name: "code after exit", insns: [r0(1), EXIT, r0(0), EXIT], refused: "unreachable insn 2" },
  { name: "code jumped over", insns: [r0(1), ja(1), r0(0), EXIT], refused: "unreachable insn 2" },
  {
    name: "code after exit reached by a later back-edge",
    insns: [r0(1), I(0xb7, 9, 0, 0, 2), ja(2), r0(0), EXIT, I(0x17, 9, 0, 0, 1), I(0x65, 9, 0, -4, 0), EXIT],
  },
  { name: "bounded loop", insns: [r0(1), I(0xb7, 9, 0, 0, 3), I(0x17, 9, 0, 0, 1), I(0x65, 9, 0, -2, 0), EXIT] },
  { name: "call to a function ending in exit", insns: [r0(1), callRel(1), EXIT, r0(0), EXIT] },
  { name: "callee falls off its end", insns: [r0(1), callRel(1), EXIT, r0(0)], refused: "last insn is not an exit or jmp (insn 3, the end of the function at insn 3)" },
  { name: "main falls into its callee", insns: [r0(1), callRel(1), r0(0), r0(1), EXIT], refused: "last insn is not an exit or jmp (insn 2, the end of the main function)" },
  { name: "callee jumps into main", insns: [r0(1), callRel(1), EXIT, r0(0), ja(-3)], refused: "jump out of range from insn 4 to 2" },
  { name: "main jumps into its callee", insns: [r0(1), ifFp(3), callRel(1), EXIT, r0(0), EXIT], refused: "jump out of range from insn 1 to 5" },
  { name: "call past the end", insns: [r0(1), callRel(5), EXIT], refused: "call to invalid destination (insn 1 calls insn 7)" },
  { name: "call before the start", insns: [r0(1), callRel(-3), EXIT], refused: "call to invalid destination (insn 1 calls insn -1)" },
  { name: "unreachable call and callee", insns: [r0(1), ja(1), callRel(1), EXIT, r0(0), EXIT], refused: "unreachable insn 2" },
  { name: "ldimm64", insns: [r0(1), lddw(), tail({ imm: 1 }), EXIT] },
  { name: "ldimm64 as the last slots", insns: [r0(1), lddw(), tail()], refused: "last insn is not an exit or jmp (insn 2, the end of the program)" },
  { name: "ldimm64 second slot with a register", insns: [r0(1), lddw(), tail({ dst: 1 }), EXIT], refused: "invalid bpf_ld_imm64 insn (at insn 1)" },
  { name: "ldimm64 second slot that is a jump", insns: [r0(1), lddw(), tail({ opcode: 0x05, off: -9 }), EXIT], refused: "jump out of range from insn 2 to -6" },
  { name: "jump into the middle of an ldimm64", insns: [r0(1), ifFp(1), lddw(), tail(), EXIT], refused: "jump into the middle of ldimm64 insn 2" },
  { name: "ja into the second slot, over the first", insns: [r0(1), ja(1), lddw(), tail(), EXIT], refused: "unreachable insn 2" },
  ...manyFunctions(MAX_SUBPROGS),
  ...manyFunctions(MAX_SUBPROGS + 1, "too many subprograms (more than 256, at insn 256)"),
];

/** main calls `count - 1` functions, each `r0 = 0; exit`. */
function manyFunctions(count: number, refused?: string): Array<{ name: string; insns: Instruction[]; refused?: string }> {
  const calls = count - 1;
  const main = [r0(1), ...Array.from({ length: calls }, (_, k) => callRel(calls + 1 + k)), r0(1), EXIT];
  const funcs = Array.from({ length: calls }, () => [r0(0), EXIT]).flat();
  return [{ name: `${count} functions`, insns: [...main, ...funcs], refused }];
}

/**
 * A random shape: up to 3 functions (`r0 = 1` first), bodies of movs to r0, conditional jumps on r10, ja, gotol,
 * ldimm64s, exits and calls. Jumps mostly go forward inside their function; some go anywhere outside it (never
 * backwards inside it: no loops). Calls mostly go to a later function, some to a later `r0 = k` inside one (a new
 * function start splitting it), some outside the program. Functions sometimes lack their final exit, and an ldimm64's
 * second slot is sometimes not blank.
 */
function randomShape(r: () => number): Instruction[] {
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const funcCount = 1 + Math.floor(r() * 3);
  const insns: Instruction[] = [];
  const funcStart: number[] = [];
  /** Jumps and calls whose targets are chosen once the layout is known. */
  const pending: Array<{ pc: number; kind: "jump" | "call" }> = [];
  for (let f = 0; f < funcCount; f++) {
    funcStart.push(insns.length);
    const emit = (i: Instruction): void => void insns.push(i);
    emit(r0(1));
    const len = 1 + Math.floor(r() * 8);
    for (let k = 0; k < len; k++) {
      const x = r();
      if (x < 0.2) emit(r0(r() < 0.5 ? 0 : 1));
      else if (x < 0.5 || (x < 0.6 && r() < 0.5)) {
        pending.push({ pc: insns.length, kind: "jump" });
        emit(x < 0.5 ? ifFp(0, pick([0x25, 0x35, 0xa5, 0xb5, 0x65, 0xc5])) : r() < 0.7 ? ja(0) : gotol(0));
      } else if (x < 0.7) {
        emit(lddw());
        emit(r() < 0.05 ? tail(r() < 0.5 ? { opcode: 0x05, off: Math.floor(r() * 9) - 4 } : { src: 1 }) : tail({ imm: Math.floor(r() * 3) }));
      } else if (x < 0.8) {
        pending.push({ pc: insns.length, kind: "call" });
        emit(callRel(0));
      } else if (x < 0.86) emit(EXIT);
      else emit(r0(1));
    }
    if (r() < 0.95) emit(EXIT);
  }
  const n = insns.length;
  const calls = pending.filter((p) => p.kind === "call");
  for (const { pc } of calls) {
    const x = r();
    const later = funcStart.filter((s) => s > pc);
    const movs = insns.map((i, at) => (at > pc && i.opcode === 0xb7 && insns[at - 1]?.opcode !== 0x18 ? at : -1)).filter((at) => at >= 0);
    if (x < 0.9 && !later.length && !movs.length) {
      insns[pc] = r0(1); // a call with nowhere valid to go: mostly not a call after all
      continue;
    }
    let target: number;
    if (x < 0.75 && later.length) target = pick(later);
    else if (x < 0.9 && movs.length) target = pick(movs);
    else if (x < 0.9) target = pick(later);
    else target = r() < 0.5 ? -1 - Math.floor(r() * 3) : n + Math.floor(r() * 3);
    insns[pc] = { ...insns[pc]!, imm: target - pc - 1 };
  }
  // Jumps stay inside or leave the function the kernel will see (calls decide where functions start), so that no
  // jump it accepts goes backwards (which could loop).
  const starts = [0, ...insns.flatMap((i, pc) => (i.opcode === 0x85 && i.src === 1 && pc + i.imm + 1 > 0 && pc + i.imm + 1 < n ? [pc + i.imm + 1] : []))];
  for (const { pc } of pending.filter((p) => p.kind === "jump")) {
    const start = Math.max(...starts.filter((s) => s <= pc));
    const end = Math.min(n, ...starts.filter((s) => s > pc));
    let target: number;
    if (r() < 0.88 && end - pc > 1) target = pc + 1 + Math.floor(r() * (end - pc - 1));
    else {
      // Anywhere outside the function: before the program, into another function, at or past the end.
      const outside = [-1 - Math.floor(r() * 3), n + Math.floor(r() * 3), ...insns.map((_, at) => at).filter((at) => at < start || at >= end)];
      target = pick(outside);
    }
    const insn = insns[pc]!;
    insns[pc] = insn.opcode === 0x06 ? { ...insn, imm: target - pc - 1 } : { ...insn, off: target - pc - 1 };
  }
  return insns;
}

/** The seeded random shapes both comparisons use. */
const RANDOM_SHAPES: Instruction[][] = ((r) => Array.from({ length: 2000 }, () => randomShape(r)))(rng(20261205));

/** A shape's slots as [opcode, dst, src, off, imm] rows, to paste back into a failing case. */
const fieldsOf = (insns: readonly Instruction[]): string => JSON.stringify(insns.map((x) => [x.opcode, x.dst, x.src, x.off, x.imm]));

/** The slots as BPF_PROG_LOAD receives them. */
function bytesOf(insns: readonly Instruction[]): Uint8Array {
  const bytes = new Uint8Array(insns.length * 8);
  const view = new DataView(bytes.buffer);
  insns.forEach((i, k) => {
    view.setUint8(k * 8, i.opcode);
    view.setUint8(k * 8 + 1, ((i.src & 0xf) << 4) | (i.dst & 0xf));
    view.setInt16(k * 8 + 2, i.off, true);
    view.setInt32(k * 8 + 4, i.imm, true);
  });
  return bytes;
}

const fileOf = (insns: Instruction[]): ObjectFile => ({
  license: "GPL",
  maps: [],
  programs: [{ name: "p", section: "sk_lookup", insns, bytes: bytesOf(insns), mapRelocs: [], lineInfo: [], funcInfo: [] }],
});

/** The VM's verdict: the errno it refuses with, or "loaded" (after both tiers ran the program and agreed). */
function vmVerdict(insns: Instruction[]): string {
  const refused = loadError(insns);
  let obj: VmObject;
  try {
    obj = new VmObject(fileOf(insns));
  } catch (e) {
    expect(e).toBeInstanceOf(ObjectError);
    expect(refused, (e as Error).message).toBeDefined();
    expect((e as Error).message).toBe(`program p: the kernel refuses to load it (${refused!.errno}): ${refused!.message}`);
    return refused!.errno;
  }
  expect(refused).toBeUndefined();
  // A loaded shape runs to an exit on both tiers, with the same result (its branches test r10, whose value differs
  // from the kernel's stack address, so the result itself is not compared with the kernel).
  const [a, b] = TIERS.map((tier) => obj.run("p", TCP4, { tier }));
  expect(b).toEqual(a);
  return "loaded";
}

/** The kernel's verdict: the errno of BPF_PROG_LOAD, or "loaded". */
function kernelVerdict(insns: Instruction[]): string {
  const bpf = openKernel().bpf;
  try {
    const { fd } = bpf.progLoad(PROG_TYPE_SK_LOOKUP, ATTACH_TYPE_SK_LOOKUP, bytesOf(insns), "GPL", "cfg_shape", 0);
    bpf.close(fd);
    return "loaded";
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== "string") throw e;
    return code;
  }
}

describe("the VM's load-time control-flow checks (messages name the instruction)", () => {
  for (const s of SHAPES) {
    test(s.name, () => {
      const refused = loadError(s.insns);
      expect(refused?.message).toBe(s.refused);
      if (refused) expect(refused.errno).toBe(refused.message.startsWith("too many subprograms") ? "E2BIG" : "EINVAL");
      expect(vmVerdict(s.insns)).toBe(refused ? refused.errno : "loaded");
    });
  }
});

describeKernel("control flow: the VM refuses exactly what the running kernel refuses, with its errno", () => {
  test(`${SHAPES.length} hand-made shapes`, () => {
    const differences = SHAPES.map((s) => ({ name: s.name, vm: vmVerdict(s.insns), kernel: kernelVerdict(s.insns) })).filter((d) => d.vm !== d.kernel);
    expect(differences).toEqual([]);
  });

  test(`${RANDOM_SHAPES.length} seeded random shapes`, () => {
    const differences: unknown[] = [];
    const seen = new Map<string, number>();
    for (const [i, insns] of RANDOM_SHAPES.entries()) {
      const vm = vmVerdict(insns);
      const kernel = kernelVerdict(insns);
      if (vm !== kernel) differences.push({ case: i, vm, kernel, why: loadError(insns)?.message, insns: fieldsOf(insns) });
      const kind = vm === "loaded" ? "loaded" : loadError(insns)!.message.replace(/ \(.*$/, "").replace(/ (from )?insn -?\d+.*$/, "");
      seen.set(kind, (seen.get(kind) ?? 0) + 1);
    }
    console.log(`control-flow shapes: ${JSON.stringify(Object.fromEntries(seen))}`);
    expect(differences).toEqual([]);
    // The generator must reach every rule, and load a fair share, or the comparison proves little.
    for (const kind of ["loaded", "jump out of range", "last insn is not an exit or jmp", "unreachable", "call to invalid destination", "jump into the middle of ldimm64", "invalid bpf_ld_imm64 insn"]) {
      expect(seen.get(kind) ?? 0, kind).toBeGreaterThan(kind === "loaded" ? 200 : 0);
    }
  });
});

/** The lines the kernel's load-time control-flow passes refuse with (compiler/asm/control-flow.ts), and only they. */
const CONTROL_FLOW_LINE =
  /^(call to invalid destination|too many subprograms|jump out of range from insn -?\d+ to -?\d+|last insn is not an exit or jmp|invalid bpf_ld_imm64 insn|unreachable insn \d+|jump into the middle of ldimm64 insn \d+)$/;
const PASSES = "passes control flow";

/** The kernel's control-flow refusal: the last line of its log before the "processed" summary, or PASSES. */
function kernelControlFlowLine(insns: Instruction[]): string {
  const bpf = openKernel().bpf;
  try {
    bpf.close(bpf.progLoad(PROG_TYPE_SK_LOOKUP, ATTACH_TYPE_SK_LOOKUP, bytesOf(insns), "GPL", "cfg_shape", 1).fd);
    return PASSES;
  } catch (e) {
    const log = (e as { log?: unknown }).log;
    if (typeof log !== "string") throw e;
    const line = log.trim().split("\n").filter((l) => !l.startsWith("processed ")).at(-1) ?? "";
    return CONTROL_FLOW_LINE.test(line) ? line : PASSES;
  }
}

/** Our verifier's control-flow refusal of the raw slots (for the running kernel's features), or PASSES. */
function verifierControlFlowLine(insns: Instruction[]): string {
  const r = verifyProgram(fileOf(insns).programs[0]!, [], { target: resolveTarget("host") });
  return !r.ok && CONTROL_FLOW_LINE.test(r.error!.message) ? r.error!.message : PASSES;
}

describeKernel("control flow: our verifier refuses what the running kernel refuses, with its log line", () => {
  test(`${SHAPES.length} hand-made shapes`, () => {
    const differences = SHAPES.map((s) => ({ name: s.name, ours: verifierControlFlowLine(s.insns), kernel: kernelControlFlowLine(s.insns) })).filter((d) => d.ours !== d.kernel);
    expect(differences).toEqual([]);
  });

  test(`the VM comparison's ${RANDOM_SHAPES.length} seeded random shapes`, () => {
    const lines = RANDOM_SHAPES.map((insns) => ({ ours: verifierControlFlowLine(insns), kernel: kernelControlFlowLine(insns) }));
    const differences = lines.flatMap((d, i) => (d.ours === d.kernel ? [] : [{ case: i, ...d, insns: fieldsOf(RANDOM_SHAPES[i]!) }]));
    const refused = lines.filter((d) => d.kernel !== PASSES).length;
    console.log(`control-flow shapes through our verifier: ${refused} refused for control flow, ${lines.length - refused} passed it`);
    expect(differences).toEqual([]);
    // Both outcomes must be common, or the comparison proves little.
    expect(refused).toBeGreaterThan(200);
    expect(lines.length - refused).toBeGreaterThan(200);
  });
});
