/**
 * What every transfer function shares: the program, its maps, id generation and the typed rejection that stops
 * verification at the first violation (as the kernel does).
 */
import type { Instruction } from "../asm/index.ts";
import type { MapDef } from "../abi/maps.ts";
import { type KernelTarget, resolveTarget } from "../target/index.ts";
import type { GlobalFunc } from "./globals.ts";
import type { StackLiveness } from "./stack-liveness.ts";
import { type Frame, type Reg, type VState, NOT_INIT, ownStack } from "./state.ts";

/** A rule violation at one instruction. `message` follows the kernel's wording. */
export class VerifierReject extends Error {
  override name = "VerifierReject";
  constructor(message: string) {
    super(message);
  }
}

/** Throws a rejection (typed `never` so callers can use it in expressions). */
export function reject(message: string): never {
  throw new VerifierReject(message);
}

/** Verification options. */
export interface VerifyOptions {
  /** Object license; GPL-only helpers (trace_printk) need a GPL-compatible one. Default "GPL". */
  license?: string;
  /** Instruction budget (the kernel's is 1,000,000 processed instructions). */
  maxInsns?: number;
  /** State pruning against fully explored states (default true; false only to cross-check pruning in tests). */
  prune?: boolean;
  /**
   * Precision tracking (default true): pruning ignores scalars no decision depended on. False compares every scalar
   * exactly, as before tsbpf tracked precision (tests use it to show which programs load thanks to it).
   */
  precision?: boolean;
  /**
   * The object's raw .BTF: with the program's func info it marks global functions, which are verified on their own
   * (as when libbpf loads the object). Without it every function is verified inline.
   */
  btf?: Uint8Array;
  /**
   * The kernel to answer for (compiler/target): its helpers, instruction set, SOCKMAP lookup typing and whether
   * constant-key array lookups are non-NULL. Default: Linux 5.10, the oldest LTS with sk_lookup.
   */
  target?: KernelTarget;
}

/** Shared run-time context of one verification. */
export class Env {
  /** Last id handed out (null-check ids, scalar links, references share one counter, like the kernel's id_gen). */
  idGen = 0;
  /** Map index of every lddw slot that carries a map relocation. */
  readonly mapAt = new Map<number, number>();
  /** Deepest stack use seen per function entry (bytes). */
  readonly depthOf = new Map<number, number>();
  /** Call edges between function entries, for the combined stack size check. */
  readonly calls = new Map<number, Set<number>>();
  /** Global functions by entry slot (see globals.ts). */
  globals = new Map<number, GlobalFunc>();
  /** True while a global function is being verified on its own. */
  isGlobal = false;
  /** Global functions called so far, to verify on their own afterwards. */
  readonly globalsCalled = new Set<number>();
  /** The kernel whose verifier this one stands for. */
  readonly target: KernelTarget;
  /**
   * Set when a decision went against the program because the target lacks a feature of the version table (a helper,
   * the const-key NULL elision). Without such a decision a newer release explores exactly the same paths, so a
   * rejection needs no search for the release that would accept.
   */
  targetLimited = false;
  /** Set by a stack access of the current instruction that spilled to or filled from a slot (precision.ts stackRef). */
  stackRef = 0;
  /** Set when the current instruction stored a known zero from a register as plain stack bytes (not a spill). */
  zeroStore = false;
  /** True once the current instruction has added its entry to the path's jump-history count (VState.jmps). */
  histEntry = false;
  /** The instruction being processed (stack reads are recorded against it). */
  curPc = 0;
  /** Reads of frame 0's stack seen so far, for pruning that ignores dead slots (set by the explorer). */
  stackLive?: StackLiveness;

  /** Records that the current instruction read bytes [lo, hi) (from fp) of the stack of frame `frame`. */
  noteStackRead(frame: number, lo: number, hi: number): void {
    if (frame === 0) this.stackLive?.note(this.curPc, lo, hi);
  }

  constructor(
    readonly insns: readonly Instruction[],
    readonly maps: readonly MapDef[],
    relocs: ReadonlyArray<{ slot: number; map: string }>,
    readonly opts: VerifyOptions,
  ) {
    // -1 marks a relocation against a map the object does not define: the lddw is then rejected.
    for (const r of relocs) this.mapAt.set(r.slot, maps.findIndex((m) => m.name === r.map));
    this.target = opts.target ?? resolveTarget();
  }

  /** A fresh id. */
  nextId(): number {
    return ++this.idGen;
  }

  /** A map's name for messages. */
  mapName = (i: number): string => this.maps[i]?.name ?? `#${i}`;
}

/** The innermost frame. */
export const top = (st: VState): Frame => st.frames[st.frames.length - 1]!;

/** Reads a source register, rejecting an unset one (`R2 !read_ok`). */
export function use(st: VState, r: number): Reg {
  const reg = top(st).regs[r]!;
  if (reg.kind === "not_init") reject(`R${r} !read_ok`);
  return reg;
}

/** Writes a destination register; R10 is read-only. */
export function def(st: VState, r: number, v: Reg): void {
  if (r === 10) reject("frame pointer is read only");
  top(st).regs[r] = v;
}

/** Marks R1-R5 unset after a call (they are caller-saved). */
export function clobberArgs(st: VState): void {
  const regs = top(st).regs;
  for (let r = 1; r <= 5; r++) regs[r] = NOT_INIT;
}

/** Applies `fn` to every register and spilled register of every frame (the kernel's bpf_for_each_reg_in_vstate). */
export function forEachReg(st: VState, fn: (r: Reg) => Reg): void {
  for (const f of st.frames) {
    for (let i = 0; i < f.regs.length; i++) f.regs[i] = fn(f.regs[i]!);
    for (let i = 0; i < f.spills.length; i++) {
      const s = f.spills[i];
      if (!s) continue;
      const n = fn(s);
      if (n === s) continue;
      ownStack(f);
      f.spills[i] = n;
    }
  }
}
