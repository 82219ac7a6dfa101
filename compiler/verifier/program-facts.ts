/**
 * What the verifier derives from a program's instructions alone (function layout, prune points, register liveness,
 * field checks, the stack-liveness successor table), computed once per program and reused by later verifications of
 * the same instructions: `loadsFrom` re-verifies a rejected program for several targets, a build verifies each
 * program once per target, and the bench verifies one program many times. A cached entry is used only while the
 * instructions still hold the fields it was computed from (an in-place edit, as fuzzing does, recomputes it).
 */
import { Class, JmpOp, classOf, type Instruction } from "../asm/index.ts";
import { type Cfg, type CfgError, checkCfg, isCfgError, jumpTarget } from "./cfg.ts";
import { liveRegisters } from "./liveness.ts";
import { StackLiveness } from "./stack-liveness.ts";

/** The instruction-only facts the explorer needs (present when the cfg check passed). */
export interface ExploreFacts {
  /** 1 at prune points: conditional jumps, jump targets, instructions after calls, function entries. */
  prune: Uint8Array;
  /** 1 where the kernel records a jump history entry: the prune points minus the conditional jumps themselves. */
  jmpPoint: Uint8Array;
  /** Registers live at each slot (liveness.ts). */
  live: Uint16Array;
  /** Field-check message per slot: null until checked, undefined when the fields are valid. */
  fieldErrors: (string | undefined | null)[];
  /** Successors and call-site reads, without any read seen by exploration; each exploration takes a fresh copy. */
  stackLiveness: StackLiveness;
}

/** Facts of one program. */
export interface ProgramFacts {
  cfg: Cfg | CfgError;
  explore?: ExploreFacts;
}

interface Entry {
  /** opcode, dst, src, off, imm of every slot when the facts were computed. */
  fields: Int32Array;
  facts: ProgramFacts;
}

const CACHE = new WeakMap<readonly Instruction[], Entry>();

function sameFields(insns: readonly Instruction[], f: Int32Array): boolean {
  if (f.length !== 5 * insns.length) return false;
  for (let pc = 0, k = 0; pc < insns.length; pc++, k += 5) {
    const i = insns[pc]!;
    if (f[k] !== i.opcode || f[k + 1] !== i.dst || f[k + 2] !== i.src || f[k + 3] !== i.off || f[k + 4] !== i.imm) return false;
  }
  return true;
}

function fieldsOf(insns: readonly Instruction[]): Int32Array {
  const f = new Int32Array(5 * insns.length);
  insns.forEach((i, pc) => f.set([i.opcode, i.dst, i.src, i.off, i.imm], 5 * pc));
  return f;
}

function exploreFacts(insns: readonly Instruction[], cfg: Cfg): ExploreFacts {
  const prune = new Uint8Array(insns.length + 1);
  const jmpPoint = new Uint8Array(insns.length + 1);
  for (const f of cfg.funcs) prune[f] = jmpPoint[f] = 1;
  insns.forEach((i, pc) => {
    const c = classOf(i.opcode);
    if (cfg.lddwTail[pc] || (c !== Class.JMP && c !== Class.JMP32)) return;
    const op = i.opcode & 0xf0;
    if (op === JmpOp.EXIT) return;
    if (op === JmpOp.CALL) prune[pc + 1] = jmpPoint[pc + 1] = 1;
    else {
      prune[jumpTarget(i, pc)] = jmpPoint[jumpTarget(i, pc)] = 1;
      if (op !== JmpOp.JA) prune[pc] = 1;
    }
  });
  return {
    prune,
    jmpPoint,
    live: liveRegisters(insns, cfg.lddwTail),
    fieldErrors: new Array(insns.length).fill(null),
    stackLiveness: new StackLiveness(insns, cfg.lddwTail),
  };
}

/** The instruction-only facts of `insns`, from the cache when its instructions are unchanged. */
export function programFacts(insns: readonly Instruction[]): ProgramFacts {
  const hit = CACHE.get(insns);
  if (hit && sameFields(insns, hit.fields)) return hit.facts;
  const cfg = checkCfg(insns);
  const facts: ProgramFacts = { cfg, explore: isCfgError(cfg) ? undefined : exploreFacts(insns, cfg) };
  CACHE.set(insns, { fields: fieldsOf(insns), facts });
  return facts;
}
