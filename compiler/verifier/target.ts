/**
 * What the verifier rejects on older kernels before it interprets anything: instruction encodings the target does
 * not know. Before cpu v4 (Linux 6.6) the kernel's first pass over the program (resolve_pseudo_ldimm64's sanity
 * loop, then check_alu_op / the jump checks) refuses sign-extending loads and moves, signed division, ALU64 bswap and
 * gotol; before Linux 5.12 an atomic with anything but a plain add in `imm` is "BPF_XADD uses reserved fields"
 * (check_xadd, kernel/bpf/verifier.c up to 5.11; 5.12 renamed it check_atomic with the fetch forms). Wording checked
 * against the 5.10 sources: the LDX mode check and bpf_opcode_in_insntable ("unknown opcode %02x", whose 5.10 table
 * has END only for the 32-bit class and no JMP32 JA) in resolve_pseudo_ldimm64, and check_alu_op's "BPF_MOV/BPF_ALU
 * uses reserved fields" for a non-zero `off`.
 */
import { LDDW, type Instruction } from "../asm/index.ts";
import type { KernelTarget } from "../target/index.ts";
import { isAtomicBeyondAdd, isaV4Form, type IsaV4Form } from "../target/requirements.ts";

/** The first instruction the target's verifier cannot decode, with its message; undefined when all are known. */
export function targetInsnError(insns: readonly Instruction[], target: KernelTarget): { pc: number; message: string } | undefined {
  for (let pc = 0; pc < insns.length; pc++) {
    const insn = insns[pc]!;
    const message = insnError(insn, target);
    if (message) return { pc, message };
    if (insn.opcode === LDDW) pc++; // its upper half is raw data
  }
  return undefined;
}

/** What the target's decoder says about each cpu-v4 form it does not know. */
const V4_MESSAGES: Record<IsaV4Form, (hex: string) => string> = {
  ldsx: () => "BPF_LDX uses reserved fields",
  bswap: (hex) => `unknown opcode ${hex}`,
  gotol: (hex) => `unknown opcode ${hex}`,
  movsx: () => "BPF_MOV uses reserved fields",
  sdiv: () => "BPF_ALU uses reserved fields",
};

function insnError(i: Instruction, t: KernelTarget): string | undefined {
  const form = t.isaV4 ? undefined : isaV4Form(i);
  if (form) return V4_MESSAGES[form](i.opcode.toString(16).padStart(2, "0"));
  if (!t.atomicFetch && isAtomicBeyondAdd(i)) return "BPF_XADD uses reserved fields";
  return undefined;
}
