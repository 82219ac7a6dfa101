/**
 * Mutation fuzzing against the live kernel: take programs both verifiers accept (clang corpora, hand-written cases),
 * change one or two fields of one instruction (register, offset, immediate, size, operation) and compare verdicts.
 * Mutants sit right at the boundary of the rules, where a too-lenient check would show up as a false accept.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";
import { LDDW, decode } from "../../compiler/asm/index.ts";
import type { MapDef } from "../../compiler/abi/maps.ts";
import type { ObjProgram } from "../../compiler/elf/object.ts";
import { readObject } from "../../compiler/elf/reader.ts";
import { verifyProgram } from "../../compiler/verifier/index.ts";
import { describeKernel } from "../support/kernel.ts";
import { ASM_CASES, MAPS } from "../fixtures/verifier/asm-cases.ts";
import { asmProgram, kernelVerdict, hostTarget } from "./kernel-harness.ts";

const fixtures = join(import.meta.dirname, "..", "fixtures");

function rng(seed: number): (n: number) => number {
  let x = (seed * 2246822519) >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

interface Seed {
  prog: ObjProgram;
  maps: MapDef[];
  license: string;
}

function seeds(): Seed[] {
  const out: Seed[] = [];
  for (const d of ["c", "verifier"]) {
    for (const f of readdirSync(join(fixtures, d)).filter((f) => f.endsWith(".o"))) {
      let obj;
      try {
        obj = readObject(readFileSync(join(fixtures, d, f)));
      } catch {
        continue;
      }
      for (const p of obj.programs) {
        // Mutants load through the kernel bridge: no global functions or global data (it handles neither like libbpf).
        const plain = p.funcInfo.length <= 1 && !p.mapRelocs.some((r) => r.kind === "value");
        if (plain && verifyProgram(p, obj.maps, { target: hostTarget() }).ok) out.push({ prog: p, maps: obj.maps, license: obj.license || "GPL" });
      }
    }
  }
  for (const c of ASM_CASES) {
    if (c.expect !== "accept" || c.falseReject) continue;
    const maps = (c.maps ?? []).map((m) => MAPS[m]!);
    out.push({ prog: asmProgram(c.name, c.insns), maps, license: c.license ?? "GPL" });
  }
  return out;
}

const IMMS = [0, 1, 2, -1, 4, 8, 16, 60, 64, 68, 72, 0x7fffffff, -0x80000000];

/** One random field change in one non-lddw instruction. */
function mutate(bytes: Uint8Array, r: (n: number) => number): Uint8Array {
  const b = bytes.slice();
  const view = new DataView(b.buffer);
  const n = b.length / 8;
  const tails = new Set<number>();
  for (let i = 0; i < n; i++) if (b[i * 8] === LDDW) tails.add(i).add(i + 1);
  for (let tries = 0; tries < 20; tries++) {
    const slot = r(n);
    if (tails.has(slot)) continue;
    const at = slot * 8;
    switch (r(6)) {
      case 0:
        b[at + 1] = (b[at + 1]! & 0xf0) | r(11);
        break;
      case 1:
        b[at + 1] = (b[at + 1]! & 0x0f) | (r(11) << 4);
        break;
      case 2:
        view.setInt16(at + 2, view.getInt16(at + 2, true) + [-8, -4, -2, -1, 1, 2, 4, 8][r(8)]!, true);
        break;
      case 3:
        view.setInt32(at + 4, IMMS[r(IMMS.length)]!, true);
        break;
      case 4: {
        // Load/store size, or ALU/JMP operation.
        const op = b[at]!;
        const cls = op & 7;
        if (cls <= 3) b[at] = (op & ~0x18) | (r(4) << 3);
        else b[at] = (op & 0x0f) | ([0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0, 0xd0][r(12)]! & 0xf0);
        break;
      }
      default:
        view.setInt32(at + 4, view.getInt32(at + 4, true) + [-1, 1, -4, 4][r(4)]!, true);
    }
    return b;
  }
  return b;
}

describeKernel("mutation fuzzing against the kernel", () => {
  test("no false accepts over 600 mutants of accepted programs", () => {
    const pool = seeds();
    expect(pool.length).toBeGreaterThan(30);
    const falseAccepts: string[] = [];
    const falseRejects: string[] = [];
    let accepted = 0;
    const n = Number(process.env.TSBPF_FUZZ ?? 600);
    for (let i = 1; i <= n; i++) {
      const r = rng(i);
      const s = pool[r(pool.length)]!;
      let bytes = mutate(s.prog.bytes, r);
      if (r(3) === 0) bytes = mutate(bytes, r);
      let insns;
      try {
        insns = decode(bytes);
      } catch {
        continue;
      }
      const prog: ObjProgram = { ...s.prog, name: `mut${i}`, bytes, insns };
      const obj = { license: s.license, programs: [prog], maps: s.maps };
      const k = kernelVerdict(obj, prog.name);
      const o = verifyProgram(prog, s.maps, { license: s.license, target: hostTarget() });
      if (k.ok) accepted++;
      const what = `mutant ${i} of ${s.prog.name}`;
      if (o.ok && !k.ok && process.env.TSBPF_FUZZ_DUMP) console.log(what, s.prog.insns.length, Buffer.from(bytes).toString("hex"), k.log);
      if (o.ok && !k.ok) falseAccepts.push(`${what}: kernel: ${k.log.trim().split("\n").filter((l) => !/^(verification time|stack depth|processed )/.test(l)).slice(-1)[0]}`);
      if (!o.ok && k.ok) falseRejects.push(`${what}: ${o.error?.pc} ${o.error?.insn}: ${o.error?.message}`);
    }
    console.log(`fuzz-mutate: ${accepted} of ${n} mutants accepted by the kernel`);
    if (falseRejects.length) console.warn(`false rejects (${falseRejects.length}):\n${falseRejects.join("\n")}`);
    expect(falseAccepts).toEqual([]);
    expect(falseRejects.length).toBeLessThanOrEqual(Math.ceil(n / 50));
  }, 900_000);
});
