import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  AluOp,
  JmpOp,
  Size,
  alu32,
  alu64,
  call,
  disassemble,
  encode,
  exit,
  ja,
  jmp32,
  jmp64,
  lddw,
  ldMap,
  ldx,
  mov64,
  stx,
  withLabel,
  type Instruction,
} from "../../compiler/asm/index.ts";
import { readObject, writeObject } from "../../compiler/elf/index.ts";
import { ok, tempDir } from "./helpers.ts";
import { FILE, SOURCE, sampleMaps } from "./programs.ts";

function prng(seed: number) {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  return { int: (n: number) => Math.floor(next() * n), pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]! };
}

const ALU = [AluOp.ADD, AluOp.SUB, AluOp.MUL, AluOp.DIV, AluOp.OR, AluOp.AND, AluOp.LSH, AluOp.RSH, AluOp.MOD, AluOp.XOR, AluOp.MOV, AluOp.ARSH];
// No JSET: llvm-objdump-16 cannot decode it (LLVM never emits it) and prints <unknown>.
const JMP = [JmpOp.JEQ, JmpOp.JGT, JmpOp.JGE, JmpOp.JNE, JmpOp.JSGT, JmpOp.JSGE, JmpOp.JLT, JmpOp.JLE, JmpOp.JSLT, JmpOp.JSLE];

/** A random emitted-form program: ALU, loads/stores, lddw constants and maps, jumps to labels, helper calls, locations. */
function randomProgram(seed: number, prefix: string): Instruction[] {
  const r = prng(seed);
  const n = 2 + r.int(60);
  const labels = Array.from({ length: n }, (_, i) => `${prefix}.L${i}`);
  const reg = () => r.int(10);
  const operand = () => (r.int(2) ? r.int(2 ** 32) | 0 : { reg: reg() });
  let line = 4;
  const out: Instruction[] = [];
  for (let i = 0; i < n - 1; i++) {
    let insn: Instruction;
    switch (r.int(9)) {
      case 0:
        insn = alu64(r.pick(ALU), reg(), operand());
        break;
      case 1:
        insn = alu32(r.pick(ALU), reg(), operand());
        break;
      case 2:
        insn = ldx(r.pick([Size.B, Size.H, Size.W, Size.DW]), reg(), reg(), r.int(512) - 256);
        break;
      case 3:
        insn = stx(r.pick([Size.B, Size.H, Size.W, Size.DW]), reg(), -8 * (1 + r.int(60)), reg());
        break;
      case 4:
        insn = lddw(reg(), (BigInt(r.int(2 ** 32)) << 32n) | BigInt(r.int(2 ** 32)));
        break;
      case 5:
        insn = ldMap(1 + r.int(5), r.pick(["sockets", "hits"]));
        break;
      case 6:
        insn = (r.int(2) ? jmp64 : jmp32)(r.pick(JMP), reg(), operand(), r.pick(labels));
        break;
      case 7:
        insn = r.int(2) ? ja(r.pick(labels)) : call(1 + r.int(200));
        break;
      default:
        insn = mov64(reg(), operand());
    }
    if (r.int(3) === 0) line += 1 + r.int(3);
    out.push({ ...insn, loc: { file: FILE, line, column: 1 + r.int(40) } });
  }
  out.push(exit());
  out.forEach((insn, i) => withLabel(insn, labels[i]!));
  return out;
}

describe("writer/reader properties on random programs", () => {
  const tmp = tempDir();
  afterAll(() => tmp.cleanup());

  it("readObject(writeObject(p)) gives back p's encoding, map relocations and one line record per line change", () => {
    for (let seed = 1; seed <= 60; seed++) {
      const programs = [0, 1, 2].map((k) => ({ name: `p${k}`, insns: randomProgram(seed * 3 + k, `p${k}`) }));
      const obj = readObject(writeObject({ fileName: FILE, source: SOURCE, license: "GPL", programs, maps: sampleMaps() }));
      programs.forEach((p, k) => {
        const enc = encode(p.insns);
        for (const r of enc.relocations) enc.bytes[r.slot * 8 + 1]! &= 0x0f;
        const got = obj.programs[k]!;
        expect(got.bytes, `seed ${seed} ${p.name}`).toEqual(enc.bytes);
        expect(got.mapRelocs).toEqual(enc.relocations.map((r) => ({ slot: r.slot, map: r.symbol })));
        const changes = p.insns.filter((insn, i) => i === 0 || (insn.loc && insn.loc.line !== p.insns.slice(0, i).reverse().find((x) => x.loc)?.loc?.line));
        expect(got.lineInfo.map((l) => l.line), `seed ${seed}`).toEqual(changes.map((i) => i.loc?.line ?? p.insns.find((x) => x.loc)!.loc!.line));
        expect(got.lineInfo.every((l) => l.text === (SOURCE.split("\n")[l.line - 1] ?? ""))).toBe(true);
      });
    }
  });

  it("llvm-objdump-16 -d agrees with our disassembler on random programs", () => {
    for (let seed = 1; seed <= 20; seed++) {
      const programs = [{ name: "p0", insns: randomProgram(seed, "p0") }];
      const bytes = writeObject({ fileName: FILE, license: "GPL", programs, maps: sampleMaps() });
      const path = join(tmp.dir, `r${seed}.o`);
      writeFileSync(path, bytes);
      const llvm = ok("llvm-objdump-16", ["-d", path]).split("\n").filter((l) => /^\s+\d+:\t/.test(l));
      const p = readObject(bytes).programs[0]!;
      const ours = disassemble(p.insns, p.bytes, { target: (pc) => (pc ? `p0+0x${(pc * 8).toString(16)}` : "p0") });
      expect(ours, `seed ${seed}`).toEqual(llvm);
    }
  });
});
