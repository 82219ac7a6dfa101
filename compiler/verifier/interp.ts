/**
 * The path explorer, after the kernel's do_check: depth-first over every feasible path, the fall-through first and
 * each conditional jump's other side pushed on a stack (at most 8192 pending). At prune points a state covered by an
 * already fully explored one at the same instruction stops its path; a state equal to an unfinished one at the same
 * instruction is an infinite loop. Stops at the first violation.
 */
import { Class, JmpOp, LDDW, Mode, Pseudo, Source, classOf, formatInstruction, sizeBytes, type Instruction, type Size } from "../asm/index.ts";
import { aluInsn } from "./alu.ts";
import { diagnoseComplexity } from "./complexity.ts";
import { type Cfg, jumpTarget } from "./cfg.ts";
import { Env, VerifierReject, def, forEachReg, reject, top, use } from "./env.ts";
import { callHelper } from "./helpers.ts";
import { fieldError } from "./insn.ts";
import type { ExploreFacts } from "./program-facts.ts";
import { forgetPrecision, histCode, linkedMask, markPrecise, propagatePrecision } from "./precision.ts";
import { access, fetched } from "./memory.ts";
import { type CmpKind, sbranchTaken, sconst, sconstValue, srefine } from "./scalar.ts";
import {
  type Checkpoint, type Reg, type VState, NOT_INIT, UNKNOWN, clearSingularIds, cloneState, ownHist, formatState, isOrNull, isPointer, newFrame, makeReg, ptrReg, scalarReg, stateCovers, withScalar,
} from "./state.ts";

/** Most pending branches the kernel keeps (BPF_COMPLEXITY_LIMIT_JMP_SEQ). */
export const MAX_PENDING = 8192;
/** Deepest BPF-to-BPF call chain (MAX_CALL_FRAMES). */
export const MAX_FRAMES = 8;

const CMP: Record<number, CmpKind | undefined> = {
  [JmpOp.JEQ]: "eq", [JmpOp.JNE]: "ne", [JmpOp.JGT]: "gt", [JmpOp.JGE]: "ge", [JmpOp.JLT]: "lt", [JmpOp.JLE]: "le",
  [JmpOp.JSGT]: "sgt", [JmpOp.JSGE]: "sge", [JmpOp.JSLT]: "slt", [JmpOp.JSLE]: "sle", [JmpOp.JSET]: "set",
};

/** Where and why verification stopped. */
export interface Failure {
  pc: number;
  message: string;
  state: string;
  /** For complexity rejections: where paths piled up and why (complexity.ts); `{at}` stands for that place. */
  cause?: { pc: number; text: string };
}

/** Outcome of exploring every path. */
export interface Exploration {
  processed: number;
  failure?: Failure;
}

interface Pending {
  pc: number;
  st: VState;
}

/** The null check `ptr == 0` / `ptr != 0` outcome for every register sharing the pointer's id. */
function markNull(st: VState, id: number, isNull: boolean): void {
  let released = 0;
  const f = (r: Reg): Reg => {
    if (r.id !== id || !isOrNull(r)) return r;
    if (isNull) {
      if (r.ref) released = r.ref;
      return scalarReg(sconst(0n));
    }
    if (r.kind === "sock_or_null") return makeReg("sock", r.s, r.off, r.id, r.ref, r.map, r.frame, r.precise);
    // A SOCKMAP/SOCKHASH lookup result is a socket once checked (the kernel's mark_ptr_or_null_reg).
    return r.ref ? makeReg("sock", r.s, r.off, r.id, r.ref, r.map, r.frame, r.precise) : makeReg("map_value", r.s, r.off, 0, r.ref, r.map, r.frame, r.precise);
  };
  forEachReg(st, f);
  if (released) st.refs = st.refs.filter((r) => r.id !== released);
}

/** Propagates a refined scalar to every copy sharing its link id. */
function syncLinked(st: VState, r: Reg): void {
  if (r.kind !== "scalar" || r.id === 0) return;
  forEachReg(st, (x) => (x !== r && x.kind === "scalar" && x.id === r.id ? r : x));
}

/** Registers for small jump immediates, built once (registers and their scalars are immutable values). */
const IMM_CACHE = new Map<number, Reg>();

/** The immediate operand of a conditional jump as a constant register (zero-extended for JMP32). */
function immReg(imm: number, is32: boolean): Reg {
  const v = is32 ? imm >>> 0 : imm;
  if (v < -1024 || v > 1024) return scalarReg(sconst(BigInt(v)));
  let r = IMM_CACHE.get(v);
  if (!r) IMM_CACHE.set(v, (r = scalarReg(sconst(BigInt(v)))));
  return r;
}

/**
 * Never null: the pointers the kernel's reg_not_null lists (socket, map value, map pointer). ctx and stack pointers
 * are not on its list, so `if ctx == 0` explores both sides there, and must here (else a dead-looking side that the
 * kernel checks, e.g. an unchecked R0 at exit, goes unverified: a false accept found by fuzz-mutate).
 */
const notNull = (r: Reg): boolean => r.kind === "sock" || r.kind === "map_value" || r.kind === "map_ptr";

/**
 * Explores the program from its entry, or a global function from `global` (its entry slot) with arguments set up
 * from its prototype. `cfg` must come from a successful checkCfg, `facts` from programFacts of the same instructions.
 */
export function explore(env: Env, cfg: Cfg, facts: ExploreFacts, global?: number): Exploration {
  const insns = env.insns;
  const maxInsns = env.opts.maxInsns ?? 1_000_000;
  // Prune points, jump points, liveness and field checks depend on the instructions only (program-facts.ts).
  const { prune, jmpPoint, live, fieldErrors, stackLiveness } = facts;
  const explored = new Map<number, Checkpoint[]>();
  const pruning = env.opts.prune !== false;
  const precision = env.opts.precision !== false;
  const stackLive = (env.stackLive = stackLiveness.fresh());
  const slotLiveHere = (slot: number): boolean => stackLive.isLive(pc, slot);
  const stack: Pending[] = [];
  let processed = 0;
  /** Paths that reached each prune point and matched no explored state (for the complexity diagnosis). */
  const misses = new Uint32Array(insns.length);
  let sinceAdd = 0;
  /** Jump-class instructions (calls and exits included) processed since the last checkpoint was added. */
  let jumpsSinceAdd = 0;

  const first = newFrame(-1, global ?? 0);
  if (global === undefined) first.regs[1] = ptrReg("ctx");
  else env.globals.get(global)!.args.forEach((a, i) => (first.regs[i + 1] = a === "ctx" ? ptrReg("ctx") : UNKNOWN));
  first.regs[10] = ptrReg("fp", { frame: 0 });
  let st: VState = { frames: [first], refs: [], parent: null, hist: [], histLen: -1, jmps: 0 };
  let pc = global ?? 0;
  env.isGlobal = global !== undefined;

  /** A path ended (exit, pruned or dead): its checkpoints may now be complete. */
  const endPath = (s: VState): void => {
    for (let p = s.parent; p; p = p.parent) {
      if (--p.branches > 0) break;
    }
  };
  const fork = (s: VState, at: number): void => {
    if (s.parent) s.parent.branches++;
    stack.push({ pc: at, st: s });
    if (stack.length > MAX_PENDING) reject(`The sequence of ${stack.length} jumps is too complex.`);
  };
  /** True when the current path can stop here (covered by a finished state). */
  /**
   * The kernel's is_state_visited. A new checkpoint needs at least 2 jumps and 8 instructions since the last one;
   * inside a loop (an unfinished state at this instruction) 20 jumps or 100 instructions, since each iteration's
   * state differs; a path whose jump history passed 40 entries gets one regardless. States are compared newest
   * first; one that keeps missing while checkpoints are due is dropped (more than 3 misses per hit, plus 3).
   */
  const visit = (): boolean => {
    let list = explored.get(pc);
    if (!list) explored.set(pc, (list = []));
    const force = st.jmps > 40;
    let add = force || (jumpsSinceAdd >= 2 && sinceAdd >= 8);
    let exactChecks = 0;
    for (let i = list.length - 1; i >= 0; i--) {
      const cp = list[i]!;
      if (cp.branches > 0) {
        // The same state again while it is still being explored: the loop cannot end. The newest few are enough to
        // catch it (a loop that repeats its state does so every iteration); older ones only cost time.
        if (exactChecks++ < 8 && stateCovers(cp.state, st, true)) reject(`infinite loop detected at insn ${pc}`);
        if (!force && jumpsSinceAdd < 20 && sinceAdd < 100) add = false;
      } else if (pruning && stateCovers(cp.state, st, false, live[pc]!, precision, slotLiveHere)) {
        cp.hits++;
        // The match relied on old's precise values: the path that reached them must keep them precise too.
        propagatePrecision(insns, cp.state, st, live[pc]!);
        return true;
      }
      if (add) cp.misses++;
      if (cp.misses > cp.hits * 3 + 3) list.splice(i, 1);
    }
    misses[pc]!++;
    if (!add) return false;
    sinceAdd = 0;
    jumpsSinceAdd = 0;
    // The path forgets its precision marks before the copy (the kernel's mark_all_scalars_imprecise): the checkpoint
    // gets marks only from what its descendants' decisions need, through backtracking.
    forgetPrecision(st);
    clearSingularIds(st);
    ownHist(st);
    const cp: Checkpoint = { state: cloneState(st), pc, branches: 1, parent: st.parent, hist: st.hist, hits: 0, misses: 0 };
    cp.state.hist = [];
    cp.state.histLen = -1;
    st.parent = cp;
    st.hist = [];
    st.jmps = 0;
    list.push(cp);
    return false;
  };

  try {
    for (;;) {
      if (pc < 0 || pc >= insns.length) reject(`invalid insn idx ${pc} insn_cnt ${insns.length}`);
      // Counted before the pruning check, as the kernel's do_check does: a pruned visit counts as processed.
      if (++processed > maxInsns) reject(`BPF program is too large. Processed ${processed} insn`);
      sinceAdd++;
      if (prune[pc] && visit()) {
        endPath(st);
        const next = stack.pop();
        if (!next) break;
        ({ pc, st } = next);
        continue;
      }
      const insn = insns[pc]!;
      const cls = insn.opcode & 7;
      if (cls === Class.JMP || cls === Class.JMP32) jumpsSinceAdd++;
      // Field checks depend on the instruction only: once per slot, not once per visit.
      let bad = fieldErrors[pc];
      if (bad === null) bad = fieldErrors[pc] = fieldError(insn);
      if (bad) reject(bad);
      ownHist(st);
      const at = st.hist.length;
      st.hist.push(histCode(pc, st.frames.length - 1, 0), 0);
      env.stackRef = 0;
      env.zeroStore = false;
      env.curPc = pc;
      // One kernel jump-history entry per instruction at most: for a jump point, a spill or fill, linked registers.
      env.histEntry = jmpPoint[pc] === 1;
      if (env.histEntry) st.jmps++;
      const next = step(env, st, insn, pc, fork);
      // Loads and stores do not change frames: the depth recorded before the step still holds.
      if (env.stackRef) {
        st.hist[at] = histCode(pc, st.frames.length - 1, env.stackRef);
        if (!env.histEntry) st.jmps++;
      }
      if (env.zeroStore) markPrecise(insns, st, 1 << insn.src);
      if (next === "exit") {
        endPath(st);
        const p = stack.pop();
        if (!p) break;
        ({ pc, st } = p);
        continue;
      }
      pc = next;
    }
  } catch (err) {
    if (!(err instanceof VerifierReject)) throw err;
    const complex = err.message.startsWith("BPF program is too large") || err.message.includes("jumps is too complex");
    const cause = complex ? diagnoseComplexity(explored, misses, live) : undefined;
    return { processed, failure: { pc, message: err.message, state: formatState(st, env.mapName), cause } };
  }
  const stackErr = combinedStack(env);
  if (stackErr) return { processed, failure: { pc: 0, message: stackErr, state: "" } };
  return { processed };
}

/** The kernel's check_max_stack_depth: the deepest call chain's frames (each rounded up to 32 bytes) fit in 512. */
function combinedStack(env: Env): string | undefined {
  const round = (n: number): number => Math.ceil(Math.max(n, 1) / 32) * 32;
  let worst = 0;
  let worstFrames = 0;
  const walk = (f: number, total: number, depth: number, seen: Set<number>): void => {
    const t = total + round(env.depthOf.get(f) ?? 0);
    if (t > worst) [worst, worstFrames] = [t, depth];
    for (const c of env.calls.get(f) ?? []) if (!seen.has(c)) walk(c, t, depth + 1, new Set([...seen, c]));
  };
  walk(0, 0, 1, new Set([0]));
  return worst > 512 ? `combined stack size of ${worstFrames} calls is ${worst}. Too large` : undefined;
}

/** Executes one instruction; returns the next pc or "exit" when the path ends. */
function step(env: Env, st: VState, insn: Instruction, pc: number, fork: (s: VState, at: number) => void): number | "exit" {
  const cls = classOf(insn.opcode);
  switch (cls) {
    case Class.ALU:
    case Class.ALU64:
      aluInsn(env, st, insn);
      return pc + 1;
    case Class.LD: {
      if (insn.opcode !== LDDW) {
        const mode = insn.opcode & 0xe0;
        if (mode === Mode.ABS || mode === Mode.IND) reject("BPF_LD_[ABS|IND] instructions not allowed for this program type");
        reject(`unknown opcode ${insn.opcode.toString(16).padStart(2, "0")}`);
      }
      ldImm64(env, st, insn, pc);
      return pc + 2;
    }
    case Class.LDX: {
      const mode = insn.opcode & 0xe0;
      if (mode !== Mode.MEM && mode !== Mode.MEMSX) reject(`unknown opcode ${insn.opcode.toString(16).padStart(2, "0")}`);
      const size = sizeBytes((insn.opcode & 0x18) as Size);
      const base = use(st, insn.src);
      if (insn.dst === 10) reject("frame pointer is read only");
      let v = access(env, st, base, insn.src, insn.off, size, false);
      if (mode === Mode.MEMSX && v.kind === "scalar") v = UNKNOWN;
      def(st, insn.dst, v);
      return pc + 1;
    }
    case Class.ST:
    case Class.STX: {
      const mode = insn.opcode & 0xe0;
      const size = sizeBytes((insn.opcode & 0x18) as Size);
      if (cls === Class.STX && mode === Mode.ATOMIC) {
        atomic(env, st, insn, size);
        return pc + 1;
      }
      if (mode !== Mode.MEM) reject(`unknown opcode ${insn.opcode.toString(16).padStart(2, "0")}`);
      const value = cls === Class.STX ? use(st, insn.src) : undefined;
      const base = use(st, insn.dst);
      access(env, st, base, insn.dst, insn.off, size, true, value, insn.imm);
      return pc + 1;
    }
    case Class.JMP:
    case Class.JMP32:
      return jump(env, st, insn, pc, cls === Class.JMP32, fork);
  }
  return reject(`unknown opcode ${insn.opcode.toString(16).padStart(2, "0")}`);
}

function ldImm64(env: Env, st: VState, insn: Instruction, pc: number): void {
  const m = env.mapAt.get(pc);
  if (m === -1) reject(`fd ${insn.imm} is not pointing to valid bpf_map (relocation against a map the object does not define)`);
  // The reader leaves map lddws with src 0 and a relocation; the loader turns them into BPF_PSEUDO_MAP_FD.
  if (insn.src === 0 && m === undefined) {
    def(st, insn.dst, scalarReg(sconst(insn.imm64 ?? BigInt(insn.imm))));
    return;
  }
  if (insn.src === 0) {
    def(st, insn.dst, ptrReg("map_ptr", { map: m }));
    return;
  }
  if (insn.src === Pseudo.MAP_FD || insn.src === Pseudo.MAP_VALUE) {
    if (m === undefined) reject(`fd ${insn.imm} is not pointing to valid bpf_map (no map relocation at insn ${pc})`);
    if (insn.src === Pseudo.MAP_FD) {
      def(st, insn.dst, ptrReg("map_ptr", { map: m }));
      return;
    }
    const off = Number((insn.imm64 ?? 0n) >> 32n);
    if (off >= env.maps[m]!.valueSize) reject(`invalid access to map value pointer, value_size=${env.maps[m]!.valueSize} off=${off}`);
    def(st, insn.dst, ptrReg("map_value", { map: m, off }));
    return;
  }
  reject(`unsupported ldimm64 pseudo source ${insn.src}`);
}

function atomic(env: Env, st: VState, insn: Instruction, size: number): void {
  if (size !== 4 && size !== 8) reject("invalid atomic operand size");
  const fetch = (insn.imm & 1) !== 0;
  const op = insn.imm & ~1;
  if (![0x00, 0x40, 0x50, 0xa0, 0xe0, 0xf0].includes(op) || ((op === 0xe0 || op === 0xf0) && !fetch)) {
    reject(`BPF_ATOMIC uses invalid atomic opcode ${insn.imm.toString(16).padStart(2, "0")}`);
  }
  use(st, insn.src);
  if (op === 0xf0) use(st, 0);
  const base = use(st, insn.dst);
  if (base.kind === "ctx" || base.kind === "sock" || base.kind === "sock_or_null") {
    reject(`BPF_ATOMIC stores into R${insn.dst} ${base.kind} is not allowed`);
  }
  access(env, st, base, insn.dst, insn.off, size, false);
  access(env, st, base, insn.dst, insn.off, size, true, UNKNOWN);
  if (fetch) def(st, op === 0xf0 ? 0 : insn.src, fetched(size));
}

function jump(env: Env, st: VState, insn: Instruction, pc: number, is32: boolean, fork: (s: VState, at: number) => void): number | "exit" {
  const op = insn.opcode & 0xf0;
  if (op === JmpOp.JA) return jumpTarget(insn, pc);
  if (op === JmpOp.EXIT) return exitInsn(env, st);
  if (op === JmpOp.CALL) {
    if (insn.src === Pseudo.CALL && !is32) return bpfCall(env, st, insn, pc);
    if (insn.src === Pseudo.KFUNC_CALL) reject("calling kernel functions is not allowed (tsbpf does not model kfuncs)");
    callHelper(env, st, insn.imm, pc);
    return pc + 1;
  }
  const kind = CMP[op];
  if (!kind) reject(`unknown opcode ${insn.opcode.toString(16).padStart(2, "0")}`);
  const isX = (insn.opcode & Source.X) !== 0;
  const target = jumpTarget(insn, pc);
  const a = use(st, insn.dst);
  const b = isX ? use(st, insn.src) : immReg(insn.imm, is32);
  const w = is32 ? 32 : 64;
  const bZero = b.kind === "scalar" && sconstValue(b.s) === 0n;
  // Pointer against NULL: known for never-null pointers, a null check for nullable ones.
  if (isPointer(a) && bZero && (kind === "eq" || kind === "ne") && !is32) {
    // A register compared as NULL must stay the constant 0 for states this one prunes.
    if (isX && (notNull(a) || (isOrNull(a) && a.id))) markPrecise(env.insns, st, 1 << insn.src);
    if (notNull(a)) return kind === "ne" ? target : pc + 1;
    if (isOrNull(a) && a.id) {
      const other = cloneState(st);
      // Taken side: eq → null; ne → not null.
      markNull(other, a.id, kind === "eq");
      markNull(st, a.id, kind !== "eq");
      fork(other, target);
      return pc + 1;
    }
  }
  if (a.kind !== "scalar" || b.kind !== "scalar") {
    fork(cloneState(st), target);
    return pc + 1;
  }
  // Registers linked to an operand are refined with it: backtracking marks them together (the kernel's linked_regs).
  if (a.id || b.id) {
    const linked = linkedMask(st, a, isX ? b : undefined);
    if (linked & (linked - 1)) {
      st.hist[st.hist.length - 1] = linked;
      if (!env.histEntry) st.jmps++;
      env.histEntry = true;
    }
  }
  /** The branch is decided by the operands' values: states pruned by this one must have the same (kernel: precise). */
  const decided = (): void => markPrecise(env.insns, st, (1 << insn.dst) | (isX ? 1 << insn.src : 0));
  const taken = sbranchTaken(kind, a.s, b.s, w);
  if (taken !== undefined) {
    decided();
    return taken ? target : pc + 1;
  }
  if (isX && insn.src === insn.dst) {
    // `if r4 < r4`: the kernel refines the register against itself one bound at a time, which proves little; not
    // refining at all is never more precise than that (a loop on such a test runs into the complexity limits).
    fork(cloneState(st), target);
    return pc + 1;
  }
  const yes = srefine(kind, a.s, b.s, true, w);
  const no = srefine(kind, a.s, b.s, false, w);
  const apply = (s: VState, r: [typeof a.s, typeof b.s]): void => {
    const regs = top(s).regs;
    const na = withScalar(a, r[0]);
    regs[insn.dst] = na;
    syncLinked(s, na);
    if (isX) {
      const nb = withScalar(b, r[1]);
      regs[insn.src] = nb;
      syncLinked(s, nb);
    }
  };
  if (yes && no) {
    const other = cloneState(st);
    apply(other, yes);
    apply(st, no);
    fork(other, target);
    return pc + 1;
  }
  // Only one side is feasible: decided as well.
  decided();
  if (yes) {
    apply(st, yes);
    return target;
  }
  if (no) apply(st, no);
  return pc + 1;
}

function bpfCall(env: Env, st: VState, insn: Instruction, pc: number): number {
  if (st.frames.length >= MAX_FRAMES) reject(`the call stack of ${st.frames.length + 1} frames is too deep !`);
  const target = pc + 1 + insn.imm;
  const caller = top(st);
  (env.calls.get(caller.entry) ?? env.calls.set(caller.entry, new Set()).get(caller.entry)!).add(target);
  const g = env.globals.get(target);
  if (g) {
    // Verified on its own (after this program); here only the arguments are checked against its prototype.
    g.args.forEach((a, i) => {
      const r = use(st, i + 1);
      if (a === "scalar" && r.kind !== "scalar") reject(`R${i + 1} is not a scalar (argument ${i} of global function ${g.name})`);
      if (a === "ctx" && (r.kind !== "ctx" || r.off !== 0)) reject(`arg#${i} expects pointer to ctx (global function ${g.name} got ${r.kind})`);
      if (typeof a === "object") reject(`tsbpf does not model argument ${i} (${a.unsupported}) of global function ${g.name}`);
    });
    env.globalsCalled.add(target);
    for (let r = 1; r <= 5; r++) caller.regs[r] = NOT_INIT;
    caller.regs[0] = UNKNOWN;
    return pc + 1;
  }
  const callee = newFrame(pc, target);
  for (let r = 1; r <= 5; r++) callee.regs[r] = caller.regs[r]!;
  callee.regs[10] = ptrReg("fp", { frame: st.frames.length });
  st.frames.push(callee);
  return target;
}

function exitInsn(env: Env, st: VState): number | "exit" {
  if (st.frames.length > 1) {
    // A static subprogram may return without setting R0; the caller then cannot read it.
    const r0 = top(st).regs[0]!;
    if (r0.kind === "fp" && r0.frame === st.frames.length - 1) reject("cannot return stack pointer to the caller frame");
    const callee = st.frames.pop()!;
    const caller = top(st);
    caller.regs[0] = r0;
    for (let r = 1; r <= 5; r++) caller.regs[r] = NOT_INIT;
    return callee.callsite + 1;
  }
  if (st.refs.length) {
    const r = st.refs[0]!;
    if (env.isGlobal) reject(`Unreleased reference id=${r.id} alloc_insn=${r.insn}\nBPF_EXIT instruction in global function would lead to reference leak`);
    reject(`Unreleased reference id=${r.id} alloc_insn=${r.insn}\nBPF_EXIT instruction in main prog would lead to reference leak`);
  }
  const r0 = use(st, 0);
  if (env.isGlobal) {
    if (r0.kind !== "scalar") reject(`At subprogram exit the register R0 is not a scalar value (${r0.kind})`);
    return "exit";
  }
  if (r0.kind !== "scalar") reject(`At program exit the register R0 is not a known value (${r0.kind})`);
  // The range check below must hold on every path a pruned state stands for (the kernel marks R0 precise here).
  markPrecise(env.insns, st, 1);
  if (r0.s.smin < 0n || r0.s.smax > 1n) {
    reject(`At program exit the register R0 has smin=${r0.s.smin} smax=${r0.s.smax} should have been in [0, 1]`);
  }
  return "exit";
}

/** Text of the instruction at `pc`, llvm-objdump style (for reports). */
export const insnText = (insns: readonly Instruction[], pc: number): string =>
  insns[pc] ? formatInstruction(insns[pc]!, pc) : "<out of program>";

