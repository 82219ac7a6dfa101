/**
 * The JIT tier: translates a prepared program into JavaScript source and compiles it with `new Function`.
 *
 * Registers live in local variables as pairs of int32 words (`aN` low, `bN` high), so the common operations (mov,
 * add, and, shifts by constants, compares, loads) stay on V8's fast integer paths; rare 64-bit operations (mul, div,
 * mod, shifts by a register) go through the interpreter's BigInt code. Control flow: a program without backward
 * jumps (the usual sk_lookup program) is straight-line code where a jump is a labelled `break`; anything else is a
 * `for(;;) switch(bb)` over basic blocks (numbered densely) with fall-through between cases. BPF-to-BPF calls: when
 * every BPF function keeps its jumps to itself, each is its own JS function (callees are declarations `f<entry>`
 * called directly, which V8 may inline; the counter travels as an argument); otherwise every BPF function entry runs
 * one JS function over the whole program, so that any jump the interpreter can take, the JIT can take too.
 * Each block adds its length to the instruction counter (a local, stored back at exit) on entry, so `insnsExecuted`
 * equals the interpreter's for every run that ends normally. Where the JIT's own data-flow facts (jit-facts.ts) prove
 * what a register points to, jit-special.ts emits the access or helper call without the checks they make redundant
 * (ctx fields, frame slots, map values and sockets from inline lookups, constant keys, decided NULL tests); every
 * other memory access checks and reads the region inline, calling Machine.rview/wview/ld only on the slow path,
 * which raises the interpreter's faults. Semantics must equal interp.ts; the shared case table checks it.
 */
import { AluOp, Class, JmpOp, LDDW, Mode, Pseudo, Source, Size, sizeBytes } from "../../compiler/asm/opcode.ts";
import { HELPER_ARGC, helperFor, type HelperFn } from "../helpers/index.ts";
import { finishInInterpreter, interpret, refAlu } from "./interp.ts";
import { CTX_SIZE } from "../../compiler/abi/sk-lookup.ts";
import { CTX_HI, CTX_LO, CTX_LOADS, Machine, MAX_FRAMES, SHARED, STACK_SIZE } from "./machine.ts";
import { lddwWords, type PreparedProgram } from "./program.ts";
import { FRAME0_ID, ID_MASK, OFF_BIAS, PTR_TAG, RegionKind, VmFault, fixedHi, type Region, type RegionTable } from "./region.ts";
import type { Instruction } from "../../compiler/asm/instruction.ts";
import { FK, analyse, calleeEntry, readsUnwrittenStack, topState, type State } from "./jit-facts.ts";
import { emitSpecial, lit, type SpecialContext } from "./jit-special.ts";
import { structured } from "./jit-structure.ts";
import { lazyPointersSafe, resolveLazy } from "./jit-lazy.ts";
import { budgetCheckpoints, type BudgetBlock } from "./jit-budget.ts";
import { assignError, releaseSocket } from "../helpers/index.ts";

/** A compiled program: runs on a reset machine and returns r0's low word (high word left in `m.h`). */
export interface JitFn {
  (m: Machine): number;
  /**
   * False when the program provably reads no frame byte it has not written in the same run (jit-facts.ts
   * readsUnwrittenStack): its run may start on whatever earlier runs left in the frames, so the machine skips
   * zeroing them (a later run that can read unwritten bytes still gets them zeroed). Unset: true.
   */
  needsZeroStack?: boolean;
}

/**
 * Largest program (in slots) the JIT compiles. Generated source grows with the program and V8 compiles it on every
 * first run: 100,000 slots took 4.4 s to generate and 4 s more for the first run (250 MiB), a million 14.5 s and
 * 2.7 GB, where the interpreter runs them in a fraction of that. Larger programs run on the interpreter under the
 * "jit" tier (same semantics: the tiers already agree on every outcome). Real sk_lookup programs are a few hundred.
 */
export const JIT_MAX_SLOTS = 16_384;

const big = (l: number, h: number): bigint => (BigInt(h >>> 0) << 32n) | BigInt(l >>> 0);

/** Rare 64-bit ALU operations, computed by the reference code. Returns the low word, sets m.h. */
function slow64(m: Machine, op: number, off: number, al: number, ah: number, bl: number, bh: number, pc: number): number {
  const r = refAlu(op, big(al, ah), big(bl, bh), true, off, pc);
  m.h = Number(r >> 32n) | 0;
  return Number(r & 0xffffffffn) | 0;
}

/** The register words passed to the interpreter when a block runs over the budget. */
const RESUME_REGS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((r) => `a${r},b${r}`).join(",");

const BSWAP32 = (x: string): string => `(((${x}&0xff)<<24)|((${x}&0xff00)<<8)|((${x}>>>8)&0xff00)|(${x}>>>24))`;

const JCOND64: Record<number, (d: number, sl: string, sh: string) => string> = {
  [JmpOp.JEQ]: (d, sl, sh) => `a${d}===${sl}&&b${d}===${sh}`,
  [JmpOp.JNE]: (d, sl, sh) => `a${d}!==${sl}||b${d}!==${sh}`,
  [JmpOp.JGT]: (d, sl, sh) => `(b${d}>>>0)>(${sh}>>>0)||(b${d}===${sh}&&(a${d}>>>0)>(${sl}>>>0))`,
  [JmpOp.JGE]: (d, sl, sh) => `(b${d}>>>0)>(${sh}>>>0)||(b${d}===${sh}&&(a${d}>>>0)>=(${sl}>>>0))`,
  [JmpOp.JLT]: (d, sl, sh) => `(b${d}>>>0)<(${sh}>>>0)||(b${d}===${sh}&&(a${d}>>>0)<(${sl}>>>0))`,
  [JmpOp.JLE]: (d, sl, sh) => `(b${d}>>>0)<(${sh}>>>0)||(b${d}===${sh}&&(a${d}>>>0)<=(${sl}>>>0))`,
  [JmpOp.JSGT]: (d, sl, sh) => `b${d}>${sh}||(b${d}===${sh}&&(a${d}>>>0)>(${sl}>>>0))`,
  [JmpOp.JSGE]: (d, sl, sh) => `b${d}>${sh}||(b${d}===${sh}&&(a${d}>>>0)>=(${sl}>>>0))`,
  [JmpOp.JSLT]: (d, sl, sh) => `b${d}<${sh}||(b${d}===${sh}&&(a${d}>>>0)<(${sl}>>>0))`,
  [JmpOp.JSLE]: (d, sl, sh) => `b${d}<${sh}||(b${d}===${sh}&&(a${d}>>>0)<=(${sl}>>>0))`,
  [JmpOp.JSET]: (d, sl, sh) => `(a${d}&${sl})!==0||(b${d}&${sh})!==0`,
};
const JCOND32: Record<number, (d: number, sl: string) => string> = {
  [JmpOp.JEQ]: (d, s) => `a${d}===${s}`,
  [JmpOp.JNE]: (d, s) => `a${d}!==${s}`,
  [JmpOp.JGT]: (d, s) => `(a${d}>>>0)>(${s}>>>0)`,
  [JmpOp.JGE]: (d, s) => `(a${d}>>>0)>=(${s}>>>0)`,
  [JmpOp.JLT]: (d, s) => `(a${d}>>>0)<(${s}>>>0)`,
  [JmpOp.JLE]: (d, s) => `(a${d}>>>0)<=(${s}>>>0)`,
  [JmpOp.JSGT]: (d, s) => `a${d}>${s}`,
  [JmpOp.JSGE]: (d, s) => `a${d}>=${s}`,
  [JmpOp.JSLT]: (d, s) => `a${d}<${s}`,
  [JmpOp.JSLE]: (d, s) => `a${d}<=${s}`,
  [JmpOp.JSET]: (d, s) => `(a${d}&${s})!==0`,
};


/** The generated source, plus the constants (pre-resolved maps) it refers to as K[i]. */
export interface JitSource {
  source: string;
  consts: unknown[];
  /** True when the source is a one-parameter entry function body (the main BPF function, at depth 0). */
  single: boolean;
  /** Declarations of the callee functions `f<entry>` the body calls (split BPF-to-BPF calls), or "". */
  funcs: string;
  /** See JitFn.needsZeroStack. */
  needsZeroStack: boolean;
}

/** Generates the JS source of the whole program: callee declarations (if any), then the entry body (for debugging and tests). */
export function jitSource(p: PreparedProgram, table?: RegionTable): string {
  const j = jitProgram(p, table ?? scratchTable(p));
  return j.funcs ? `${j.funcs}\n${j.source}` : j.source;
}

/** The facts where the analysis has none (unreachable code): r10 is this frame's end, nothing else is known. */
const TOP: State = topState();

/** The facts at the main function's entry: r1 = ctx, r0 and r2-r9 zero (both tiers start them so), r10 the frame. */
const MAIN_ENTRY: State = topState([{ k: FK.Const, v: 0n }, { k: FK.Ctx, off: 0 }, ...Array.from({ length: 8 }, () => ({ k: FK.Const, v: 0n }) as const)]);

/**
 * The locals holding the object (value Region, slab or Socket) of a pointer register, and a slab value's offset in its
 * slab, see jit-facts.ts.
 */
const OBJECTS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((r) => `g${r}=null,x${r}=0`).join(",");

/** The target slot of the valid jump at `pc` (JA, conditional), or undefined (not a jump, a call, an exit, invalid). */
function jumpTargetOf(p: PreparedProgram, pc: number): number | undefined {
  const insn = p.insns[pc]!;
  const cls = insn.opcode & 7;
  if ((cls !== Class.JMP && cls !== Class.JMP32) || p.invalid[pc] !== undefined) return undefined;
  const jop = insn.opcode & 0xf0;
  if (jop === JmpOp.CALL || jop === JmpOp.EXIT) return undefined;
  return pc + 1 + (jop === JmpOp.JA && cls === Class.JMP32 ? insn.imm : insn.off);
}

/** Generates the function body and its constants. */
function jitProgram(p: PreparedProgram, table: RegionTable): JitSource {
  const insns = p.insns;
  const n = insns.length;
  // Block leaders: function entries, jump targets, instructions after a jump or exit.
  const leaders = new Set<number>(p.funcs);
  const jumpTarget = (pc: number): number | undefined => jumpTargetOf(p, pc);
  for (let pc = 0; pc < n; pc++) {
    const insn = insns[pc]!;
    const t = jumpTarget(pc);
    if (t !== undefined) {
      if (t >= 0 && t < n) leaders.add(t);
      leaders.add(pc + 1);
    }
    if ((insn.opcode & 7) === Class.JMP && (insn.opcode & 0xf0) === JmpOp.EXIT) leaders.add(pc + 1);
    // A BPF-to-BPF call ends its block, so that a block's instructions are all counted by its own budget check (the
    // callee's blocks count themselves): when that check fails, the rest of the budget runs out inside the block.
    if (insn.opcode === (Class.JMP | JmpOp.CALL) && insn.src === Pseudo.CALL) leaders.add(pc + 1);
  }
  const consts: unknown[] = [];
  const constIndex = new Map<unknown, number>();
  const constRef = (v: unknown): string => {
    let i = constIndex.get(v);
    if (i === undefined) {
      i = consts.length;
      consts.push(v);
      constIndex.set(v, i);
    }
    return `K${i}`;
  };
  const calls = p.insns.some((i, pc) => i.opcode === (Class.JMP | JmpOp.CALL) && i.src === Pseudo.CALL && p.invalid[pc] === undefined);
  const regs = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((r) => (r === 1 ? `a1=${OFF_BIAS},b1=${CTX_HI}` : `a${r}=0,b${r}=0`)).join(",");
  if (p.funcs.length === 1 && !calls) {
    // The usual case: one BPF function without BPF-to-BPF calls, always at depth 0. Registers start as the kernel
    // sets them (r1 = ctx, the rest 0) and frame 0's words and views are constants. Without backward jumps (most
    // sk_lookup programs) the blocks become straight-line code with labelled breaks instead of the dispatch loop.
    const states = analyse(p, 0, n, MAIN_ENTRY, table);
    const g = genBody(p, table, 0, n, leaders, constRef, false, false, states, true);
    const guard = g.budgetBound !== undefined ? `if(M.n+${g.budgetBound}>M.budget)return IN(M);` : "";
    // Straight-line code has no budget exits into the interpreter, so only its own instructions see the words.
    const lazy = g.budgetBound !== undefined && lazyPointersSafe(p, states, 0, n, g.special, table);
    return {
      source: resolveLazy(`${guard}let bb=${g.entryBlock},n=M.n,${regs},${OBJECTS}${g.locals};const entry=0,BU=M.budget,a10=${Machine.FP_LO},b10=FH0,SV=SV0,SB=SB0;${g.stackMark}\n${g.code}`, lazy),
      consts,
      single: true,
      funcs: "",
      needsZeroStack: readsUnwrittenStack(p, states, 0, n),
    };
  }
  const ranges = p.funcs.map((f, i) => [f, p.funcs[i + 1] ?? n] as const);
  if (ranges.every(([lo, hi]) => closedRange(p, lo, hi))) {
    // Every BPF function keeps its jumps inside itself and cannot fall off its end: each becomes its own JS function
    // over its own code (callees are plain function declarations the caller calls directly, which V8 can inline),
    // and the main program keeps the single-function shape with depth-0 constants. The counter goes to the callee
    // as an argument and comes back in M.n.
    // A call to slot 0 (recursion into the main function) needs a declaration of the main function too.
    const targets = new Set(p.insns.flatMap((i, pc) => (i.opcode === (Class.JMP | JmpOp.CALL) && i.src === Pseudo.CALL ? [pc + i.imm + 1] : [])));
    // Facts flow into a callee from its call sites when every site's function was analysed before it (main first,
    // then callees in order; recursion into main keeps nothing).
    const mainStates = analyse(p, 0, ranges[0]![1], MAIN_ENTRY, table);
    const analysed = new Map<number, readonly (State | undefined)[]>([[0, mainStates]]);
    const entryOf = (lo: number): State => {
      if (lo === 0 || targets.has(0)) return TOP;
      const sites: State[] = [];
      for (let pc = 0; pc < n; pc++) {
        const i = p.insns[pc]!;
        if (i.opcode !== (Class.JMP | JmpOp.CALL) || i.src !== Pseudo.CALL || p.invalid[pc] !== undefined || pc + i.imm + 1 !== lo) continue;
        const owner = ranges.find(([a, b]) => a <= pc && pc < b)![0];
        const st = analysed.get(owner);
        if (!st) return TOP;
        if (st[pc]) sites.push(st[pc]!);
      }
      return calleeEntry(sites);
    };
    let needsZeroStack = readsUnwrittenStack(p, mainStates, 0, ranges[0]![1], true);
    const decls = ranges.filter(([lo]) => lo !== 0 || targets.has(0)).map(([lo, hi]) => {
      const states = analyse(p, lo, hi, entryOf(lo), table);
      if (lo !== 0) analysed.set(lo, states);
      needsZeroStack ||= readsUnwrittenStack(p, states, lo, hi, true);
      const g = genBody(p, table, lo, hi, leaders, constRef, true, false, states);
      const params = ["M", "depth", "n", ...[0, 1, 2, 3, 4, 5, 6, 7, 8, 9].flatMap((r) => [`a${r}`, `b${r}`])].join(",");
      return `function f${lo}(${params}){let bb=${g.entryBlock},${OBJECTS}${g.locals};const entry=${lo},BU=M.budget,a10=${Machine.FP_LO},b10=M.frameHi(depth,entry),SV=M.frames[depth].view,SB=M.frames[depth].bytes;${g.stackMark}\n${g.code}}`;
    });
    const g = genBody(p, table, 0, ranges[0]![1], leaders, constRef, true, false, mainStates);
    return {
      source: resolveLazy(`let bb=${g.entryBlock},n=M.n,${regs},${OBJECTS}${g.locals};const entry=0,depth=0,BU=M.budget,a10=${Machine.FP_LO},b10=FH0,SV=SV0,SB=SB0;${g.stackMark}\n${g.code}`, false),
      consts,
      single: true,
      funcs: resolveLazy(decls.join("\n"), false),
      needsZeroStack,
    };
  }
  // Anything else: every BPF function entry runs one JS function over the whole program (entered at its block).
  const g = genBody(p, table, 0, n, leaders, constRef, false, true);
  const entry = p.funcs.map((f) => `entry===${f}?${g.blockOf.get(f)}:`).join("") + "-1";
  return {
    source: resolveLazy(`let bb=${entry},n=M.n,${OBJECTS}${g.locals};const BU=M.budget,a10=${Machine.FP_LO},b10=M.frameHi(depth,entry),SV=M.frames[depth].view,SB=M.frames[depth].bytes;${g.stackMark}\n${g.code}`, false),
    consts,
    single: false,
    funcs: "",
    needsZeroStack: true,
  };
}

/**
 * True when the BPF function at slots [lo, hi) can be compiled on its own: every (valid) jump stays inside it, and
 * its last slot is an exit or an unconditional jump (so execution never falls into the next function).
 */
function closedRange(p: PreparedProgram, lo: number, hi: number): boolean {
  const insns = p.insns;
  for (let pc = lo; pc < hi; pc++) {
    const insn = insns[pc]!;
    const cls = insn.opcode & 7;
    if ((cls !== Class.JMP && cls !== Class.JMP32) || p.invalid[pc] !== undefined) continue;
    const jop = insn.opcode & 0xf0;
    if (jop === JmpOp.CALL || jop === JmpOp.EXIT) continue;
    const t = pc + 1 + (jop === JmpOp.JA && cls === Class.JMP32 ? insn.imm : insn.off);
    if (t < lo || t >= hi) return false;
  }
  const last = insns[hi - 1]!;
  if (p.invalid[hi - 1] !== undefined || (hi - 2 >= lo && insns[hi - 2]!.opcode === LDDW)) return false;
  return last.opcode === (Class.JMP | JmpOp.EXIT) || (last.opcode & 0xf7) === (Class.JMP | JmpOp.JA);
}

/** The generated code of the slots [lo, hi): straight-line when possible (unless `loop`), else the dispatch loop. */
interface Body {
  code: string;
  /** The reset-watermark update for this code's direct stack stores (see stackStore). */
  stackMark: string;
  /** Dense block number of each leader slot. */
  blockOf: Map<number, number>;
  /** Block number of slot `lo`. */
  entryBlock: number;
  /** Declarations of the spill locals (",s<o>=null..."), or "". */
  locals: string;
  /** The slots whose code jit-special.ts emitted. */
  special: Set<number>;
  /**
   * Set when the blocks carry no budget checks (`hoist` and straight-line code): the most instructions any run can
   * execute, which the entry compares with the budget once.
   */
  budgetBound?: number;
}

/**
 * Emits the slots reachable by straight-line execution from the leaders inside [lo, hi); lddw second halves only
 * when they are leaders. `split`: BPF-to-BPF calls go to the per-function declarations `f<entry>`.
 */
function genBody(
  p: PreparedProgram,
  table: RegionTable,
  lo: number,
  hi: number,
  leaders: ReadonlySet<number>,
  constRef: (v: unknown) => string,
  split: boolean,
  loopOnly = false,
  states?: readonly (State | undefined)[],
  hoist = false,
): Body {
  const insns = p.insns;
  const n = insns.length;
  const body: string[] = [];
  let blockLen = 0;
  let blockStartIdx = -1;
  const counts: Array<{ idx: number; len: number }> = [];
  // The emitted blocks in order (for budget checkpoints): first slot, length, last emitted slot, ends in a fault.
  const blocks: BudgetBlock[] = [];
  let lastPc = lo;
  let minStore = STACK_SIZE;
  const startBlock = (pc: number): void => {
    body.push(`case ${pc}:`);
    blockStartIdx = body.length;
    body.push(""); // placeholder for the counter update
    blockLen = 0;
  };
  const endBlockCount = (): void => {
    // Over budget: the interpreter finishes the block from its start with these registers, so the fault (budget or
    // an earlier one), its pc, the side effects before it and the count all equal the interpreter's own run.
    if (blockStartIdx < 0) return;
    body[blockStartIdx] = `if((n+=${blockLen})>BU)BX(M,n-${blockLen},${blockStartPc},${RESUME_REGS});`;
    counts.push({ idx: blockStartIdx, len: blockLen });
    blocks.push({ pc: blockStartPc, len: blockLen, last: lastPc, fault: p.invalid[lastPc] !== undefined });
  };
  let blockStartPc = 0;
  const goto = (t: number): string => goto2(t, n);
  const cx: SpecialContext = {
    p,
    table,
    constRef,
    goto,
    noteStore: (o) => {
      if (o < minStore) minStore = o;
    },
    noteSpill: (o) => spills.add(o),
  };
  const spills = new Set<number>();
  const special = new Set<number>();
  // An emitted invalid instruction ends its block (the next slot starts a new one even when nothing jumps to it,
  // so that the counter of a block never includes code after a fault). Skipped lddw halves end nothing.
  let afterFault = false;
  for (let pc = lo; pc < hi; ) {
    if (leaders.has(pc) || afterFault) {
      afterFault = false;
      endBlockCount();
      blockStartPc = pc;
      startBlock(pc);
    }
    blockLen++;
    lastPc = pc;
    const bad = p.invalid[pc];
    if (bad !== undefined) {
      body.push(`throw F(${JSON.stringify(bad)},${pc});`);
      afterFault = true;
      pc++;
      continue;
    }
    // A temporary lives only inside its instruction's block: a function-wide `t` would merge integers and doubles
    // at the loop header and make V8 box it.
    const fast = emitSpecial(cx, pc, states?.[pc] ?? TOP);
    if (fast !== undefined) special.add(pc);
    const code = fast ?? emit(p, table, pc, split);
    const o = directStoreOffset(insns[pc]!);
    if (o !== undefined && o < minStore) minStore = o;
    body.push(code.startsWith("t=") ? `{let ${code}}` : code);
    if (p.insns[pc]!.opcode !== LDDW) {
      pc++;
    } else if (leaders.has(pc + 1)) {
      // The second half of this lddw is a jump target: skip it explicitly, then emit it as its own (invalid) block.
      body.push(goto(pc + 2));
      pc++;
    } else {
      pc += 2;
    }
  }
  endBlockCount();
  body.push(`throw F("fell off the end of the program",${n});`);
  // Dispatch on dense block numbers rather than pcs: V8 turns a dense switch into a jump table, while sparse pc
  // labels become a chain of comparisons that every taken jump walks.
  const blockOf = new Map<number, number>();
  for (const line of body) {
    const m = /^case (\d+):$/.exec(line);
    if (m) blockOf.set(Number(m[1]), blockOf.size);
  }
  const code = body
    .map((line) => line.replace(/^case (\d+):$/, (_x, pc: string) => `case ${blockOf.get(Number(pc))}:`))
    .map((line) => line.replace(/\{pc=(\d+);continue;\}/g, (_x, pc: string) => `{bb=${blockOf.get(Number(pc))};continue;}`))
    .join("\n");
  // Every direct stack store this program can make lowers the reset watermark once per run, at entry, instead of at
  // each store (clearing a few more zero bytes at the next reset changes nothing).
  const stackMark = minStore < STACK_SIZE ? `if(${minStore}<SD.stackLow)SD.stackLow=${minStore};` : "";
  const loop = `for(;;)switch(bb){\n${code}\ndefault:throw F("jump outside the program",entry);}`;
  let shaped = loopOnly ? undefined : structured(body);
  let budgetBound: number | undefined;
  if (shaped !== undefined && !shaped.loops && hoist) {
    // Without backward jumps a run executes each block at most once, so no run can count more than all blocks
    // together: when that fits the budget left at entry, no block needs its own check (the entry sends any other
    // run to the interpreter, which stops at the exact instruction).
    budgetBound = 0;
    for (const c of counts) {
      body[c.idx] = `n+=${c.len};`;
      budgetBound += c.len;
    }
    shaped = structured(body);
  } else if (shaped !== undefined && hoist && blocks[0]?.pc === lo) {
    // Loops: only checkpoints compare the counter with the budget, reserving what runs until the next one (see
    // jit-budget.ts); the other blocks just count.
    const reserve = budgetCheckpoints(p, blocks, (pc) => jumpTargetOf(p, pc));
    counts.forEach((c, i) => {
      const k = reserve.get(i);
      const pc = blocks[i]!.pc;
      body[c.idx] = k === undefined ? `n+=${c.len};` : `if(n+${k}>BU)BX(M,n,${pc},${RESUME_REGS});n+=${c.len};`;
    });
    shaped = structured(body);
  }
  const locals = [...spills].map((o) => `,s${o}=null,t${o}=0`).join("");
  return { code: shaped?.code ?? loop, stackMark, blockOf, entryBlock: blockOf.get(lo)!, budgetBound, locals, special };
}

/** The frame offset a direct (r10-relative, in-frame) store writes at, or undefined. */
function directStoreOffset(insn: Instruction): number | undefined {
  const cls = insn.opcode & 7;
  if ((cls !== Class.ST && cls !== Class.STX) || insn.dst !== 10 || (insn.opcode & 0xe0) !== Mode.MEM) return undefined;
  const o = STACK_SIZE + insn.off;
  return o >= 0 && o + sizeBytes((insn.opcode & 0x18) as Size) <= STACK_SIZE ? o : undefined;
}

/** Source of one (valid) instruction at `pc`. */
function emit(p: PreparedProgram, table: RegionTable, pc: number, split = false): string {
  const insn = p.insns[pc]!;
  const op = insn.opcode;
  const cls = op & 7;
  const d = insn.dst;
  const s = insn.src;
  const x = (op & Source.X) !== 0;
  const imm = insn.imm | 0;
  const sl = x ? `a${s}` : lit(imm);
  const sh = x ? `b${s}` : imm < 0 ? "(-1)" : "0";
  const A = `a${d}`;
  const B = `b${d}`;
  switch (cls) {
    case Class.ALU64: {
      const aop = op & 0xf0;
      switch (aop) {
        case AluOp.MOV:
          if (insn.off === 0) return `${A}=${sl};${B}=${sh};`;
          if (insn.off === 32) return `${A}=${sl};${B}=${A}>>31;`;
          return `${A}=(${sl}<<${32 - insn.off})>>${32 - insn.off};${B}=${A}>>31;`;
        case AluOp.ADD:
          return `t=(${A}>>>0)+(${sl}>>>0);${B}=(${B}+${sh}+(t>4294967295?1:0))|0;${A}=t|0;`;
        case AluOp.SUB:
          return `t=(${A}>>>0)-(${sl}>>>0);${B}=(${B}-${sh}-(t<0?1:0))|0;${A}=t|0;`;
        case AluOp.AND:
          return `${A}&=${sl};${B}&=${sh};`;
        case AluOp.OR:
          return `${A}|=${sl};${B}|=${sh};`;
        case AluOp.XOR:
          return `${A}^=${sl};${B}^=${sh};`;
        case AluOp.NEG:
          return `${B}=(~${B}+(${A}===0?1:0))|0;${A}=(-${A})|0;`;
        case AluOp.LSH:
        case AluOp.RSH:
        case AluOp.ARSH:
          if (!x) return shift64(aop, A, B, imm & 63);
          break;
        case AluOp.END:
          return `t=${BSWAP32(A)}|0;` + (insn.imm === 64 ? `${A}=${BSWAP32(B)}|0;${B}=t;` : insn.imm === 32 ? `${A}=t;${B}=0;` : `${A}=t>>>16;${B}=0;`);
      }
      return `${A}=S(M,${aop},${insn.off},${A},${B},${sl},${sh},${pc});${B}=M.h;`;
    }
    case Class.ALU: {
      const aop = op & 0xf0;
      const z = `${B}=0;`;
      switch (aop) {
        case AluOp.MOV:
          if (insn.off === 0) return `${A}=${sl};${z}`;
          return `${A}=(${sl}<<${32 - insn.off})>>${32 - insn.off};${z}`;
        case AluOp.ADD:
          return `${A}=(${A}+${sl})|0;${z}`;
        case AluOp.SUB:
          return `${A}=(${A}-${sl})|0;${z}`;
        case AluOp.MUL:
          return `${A}=Math.imul(${A},${sl});${z}`;
        case AluOp.DIV:
          return insn.off === 1
            ? `t=${sl};${A}=t===0?0:(${A}/t)|0;${z}`
            : `t=${sl}>>>0;${A}=t===0?0:(((${A}>>>0)/t)>>>0)|0;${z}`;
        case AluOp.MOD:
          return insn.off === 1 ? `t=${sl};${A}=t===0?${A}:(${A}%t)|0;${z}` : `t=${sl}>>>0;${A}=t===0?${A}:((${A}>>>0)%t)|0;${z}`;
        case AluOp.AND:
          return `${A}&=${sl};${z}`;
        case AluOp.OR:
          return `${A}|=${sl};${z}`;
        case AluOp.XOR:
          return `${A}^=${sl};${z}`;
        case AluOp.LSH:
          return `${A}<<=(${sl}&31);${z}`;
        case AluOp.RSH:
          return `${A}=(${A}>>>(${sl}&31))|0;${z}`;
        case AluOp.ARSH:
          return `${A}>>=(${sl}&31);${z}`;
        case AluOp.NEG:
          return `${A}=(-${A})|0;${z}`;
        default: {
          // END: to-le truncates, to-be swaps.
          if (!x) return insn.imm === 16 ? `${A}&=0xffff;${z}` : insn.imm === 32 ? z : "";
          return `t=${BSWAP32(A)}|0;` + (insn.imm === 64 ? `${A}=${BSWAP32(B)}|0;${B}=t;` : insn.imm === 32 ? `${A}=t;${z}` : `${A}=t>>>16;${z}`);
        }
      }
    }
    case Class.JMP:
    case Class.JMP32: {
      const jop = op & 0xf0;
      if (jop === JmpOp.EXIT) return `M.n=n;M.h=b0;return a0;`;
      if (jop === JmpOp.CALL) {
        const scratch = "a1=b1=a2=b2=a3=b3=a4=b4=a5=b5=0;";
        if (s === Pseudo.CALL) {
          const t = pc + imm + 1;
          if (split) {
            return `if(depth+1>=${MAX_FRAMES})throw F("call depth exceeds ${MAX_FRAMES} frames",${pc});a0=f${t}(M,depth+1,n,a0,b0,a1,b1,a2,b2,a3,b3,a4,b4,a5,b5,a6,b6,a7,b7,a8,b8,a9,b9);b0=M.h;n=M.n;${scratch}`;
          }
          return `if(depth+1>=${MAX_FRAMES})throw F("call depth exceeds ${MAX_FRAMES} frames",${pc});M.n=n;a0=FN[${t}](M,${t},depth+1,a0,b0,a1,b1,a2,b2,a3,b3,a4,b4,a5,b5,a6,b6,a7,b7,a8,b8,a9,b9);b0=M.h;n=M.n;${scratch}`;
        }
        // Only the argument registers the helper reads are passed (unknown helpers fault before reading any).
        const argc = HELPER_ARGC.get(imm) ?? 0;
        const args = Array.from({ length: argc }, (_, i) => `,a${i + 1},b${i + 1}`).join("");
        return `a0=h${imm >>> 0}(M,${pc}${args});b0=M.h;${scratch}`;
      }
      const t = pc + 1 + (jop === JmpOp.JA && cls === Class.JMP32 ? imm : insn.off);
      if (jop === JmpOp.JA) return goto2(t, p.insns.length);
      const c = cls === Class.JMP ? JCOND64[jop]!(d, sl, sh) : JCOND32[jop]!(d, sl);
      return `if(${c})${goto2(t, p.insns.length)}`;
    }
    case Class.LD: {
      const v = p.lddw.get(pc)!;
      if (v.kind === "fault") return `throw F(${JSON.stringify(v.reason)},${pc});`;
      const w = lddwWords(v, table);
      return `${A}=${lit(w.lo)};${B}=${lit(w.hi)};`;
    }
    case Class.LDX: {
      const size = sizeBytes((op & 0x18) as Size);
      const direct = s === 10 ? stackLoad(insn.off, size) : undefined;
      const load = direct ?? `M.ld(a${s},b${s},${insn.off},${size},${pc})`;
      if (direct !== undefined && size === 8) return `${A}=${direct};${B}=SV.getInt32(${STACK_SIZE + insn.off + 4},true);`;
      if (direct !== undefined && (op & 0xe0) !== Mode.MEMSX) return `${A}=${direct};${B}=0;`;
      if ((op & 0xe0) === Mode.MEMSX) {
        return size === 4 ? `${A}=${load};${B}=${A}>>31;` : `${A}=(${load}<<${32 - 8 * size})>>${32 - 8 * size};${B}=${A}>>31;`;
      }
      // ctx pointers keep Machine.ld (the kernel's ctx-access rules), except an unmodified ctx pointer with a legal
      // constant (offset, size), which reads the field inline. Everything else (map values, sockets, stack through
      // a copy of r10) reads from the DataView that Machine.rview returns after the same checks Machine.ld makes.
      const ctxExpr = size <= 4 ? ctxLoadExpr(insn.off, size) : undefined;
      const ctxRead = ctxExpr !== undefined ? `l===${CTX_LO}?${ctxExpr}:M.ld(l,h,${insn.off},${size},${pc})` : `M.ld(l,h,${insn.off},${size},${pc})`;
      // ctx->sk (the one legal 8-byte ctx load) through an unmodified ctx pointer: the selected socket's pointer or
      // NULL, read inline as Machine.ctxLoad computes it.
      const skLoad = size === 8 && insn.off >= 0 && insn.off < CTX_SIZE && CTX_LOADS[insn.off * 9 + 8] === 2;
      const ctxPart = skLoad
        ? `if(l===${CTX_LO}){const s=M.selected;if(s===null){${A}=0;${B}=0;}else{${A}=${OFF_BIAS};${B}=PH(s.region);}}else{${A}=M.ld(l,h,${insn.off},8,${pc});${B}=M.h;}`
        : `${A}=${ctxRead};${B}=${size === 8 ? "M.h" : "0"};`;
      const o = `((l-${OFF_BIAS})|0)+${insn.off}`;
      const viewRead = size === 8 ? `${A}=v.getInt32(o,true);${B}=v.getInt32(o+4,true);` : `${A}=${viewGet(size, "o")};${B}=0;`;
      // The region lookup and checks inline for the common case (a readable region, in bounds); anything else goes
      // through rview, which repeats the checks and raises the fault.
      const fast = `r!==undefined&&r.kind!==${RegionKind.Map}&&o>=0&&o+${size}<=r.size`;
      return `{const l=a${s},h=b${s};if(h===${CTX_HI}){${ctxPart}}else{const r=(h&${~ID_MASK})===${PTR_TAG}?RG[h&${ID_MASK}]:undefined,o=${o},v=${fast}?r.view:M.rview(l,h,${insn.off},${size},${pc});${viewRead}}}`;
    }
    case Class.ST: {
      const size = sizeBytes((op & 0x18) as Size);
      if (d === 10) {
        const direct = stackStore(insn.off, size, lit(imm), imm < 0 ? "(-1)" : "0");
        if (direct) return direct;
      }
      return viewStore(A, B, insn.off, size, lit(imm), imm < 0 ? "(-1)" : "0", pc);
    }
    default: {
      const size = sizeBytes((op & 0x18) as Size);
      if ((op & 0xe0) === Mode.ATOMIC) {
        if ((imm === 0x00 || imm === 0x01) && (size === 4 || size === 8)) {
          // Atomic add (the DSL's `increment`) on a map value in bounds, inline: Machine.atomic is too large for V8
          // to inline, and such a value passes both its read and write checks. Anything else takes Machine.atomic,
          // which makes those checks in order and raises the faults.
          const fetch = imm === 0x01;
          const add =
            size === 8
              ? `const v=r.view,ol=v.getInt32(o,true),oh=v.getInt32(o+4,true),q=(ol>>>0)+(a${s}>>>0);v.setInt32(o,q|0,true);v.setInt32(o+4,(oh+b${s}+(q>4294967295?1:0))|0,true);${fetch ? `a${s}=ol;b${s}=oh;` : ""}`
              : `const v=r.view,ol=v.getInt32(o,true);v.setInt32(o,(ol+a${s})|0,true);${fetch ? `a${s}=ol;b${s}=0;` : ""}`;
          const slow = `const t=M.atomic(${imm},${A},${B},${insn.off},${size},a${s},b${s},a0,b0,${pc});${fetch ? `a${s}=t;b${s}=M.h;` : ""}`;
          return `{const r=(${B}&${~ID_MASK})===${PTR_TAG}?RG[${B}&${ID_MASK}]:undefined,o=((${A}-${OFF_BIAS})|0)+${insn.off};if(r!==undefined&&r.kind===${RegionKind.MapValue}&&o>=0&&o+${size}<=r.size){${add}}else{${slow}}}`;
        }
        const call = `t=M.atomic(${imm},${A},${B},${insn.off},${size},a${s},b${s},a0,b0,${pc});`;
        if (imm === 0xf1) return `${call}a0=t;b0=M.h;`;
        if (imm & 1) return `${call}a${s}=t;b${s}=M.h;`;
        return call;
      }
      if (d === 10) {
        const direct = stackStore(insn.off, size, `a${s}`, `b${s}`);
        if (direct) return direct;
      }
      return viewStore(A, B, insn.off, size, `a${s}`, `b${s}`, pc);
    }
  }
}

/** A DataView read of `size` (1, 2 or 4) bytes at `o`, zero-extended below 4 bytes. */
function viewGet(size: number, o: string): string {
  return size === 1 ? `v.getUint8(${o})` : size === 2 ? `v.getUint16(${o},true)` : `v.getInt32(${o},true)`;
}

/**
 * A store through a pointer that is not provably r10-relative: Machine.wview makes Machine.st's checks (in its
 * order, with its faults) and returns the region's DataView, which the generated code writes inline.
 */
function viewStore(A: string, B: string, off: number, size: number, lo: string, hi: string, pc: number): string {
  const w =
    size === 1 ? `v.setUint8(o,${lo});` : size === 2 ? `v.setUint16(o,${lo},true);` : size === 4 ? `v.setInt32(o,${lo},true);` : `v.setInt32(o,${lo},true);v.setInt32(o+4,${hi},true);`;
  // Map values (the usual target) inline; stack and everything else through wview (watermark, faults).
  const fast = `r!==undefined&&r.kind===${RegionKind.MapValue}&&o>=0&&o+${size}<=r.size`;
  return `{const r=(${B}&${~ID_MASK})===${PTR_TAG}?RG[${B}&${ID_MASK}]:undefined,o=((${A}-${OFF_BIAS})|0)+${off},v=${fast}?r.view:M.wview(${A},${B},${off},${size},${pc});${w}}`;
}

/** The inline read of a legal ctx field load (see CTX_LOADS), or undefined for sk, illegal loads and 8 bytes. */
function ctxLoadExpr(off: number, size: number): string | undefined {
  if (off < 0 || off >= CTX_SIZE) return undefined;
  const kind = CTX_LOADS[off * 9 + size];
  if (kind === 3) return `CV.getUint16(${off - 2},true)`;
  if (kind !== 1) return undefined;
  return size === 1 ? `CV.getUint8(${off})` : size === 2 ? `CV.getUint16(${off},true)` : `CV.getInt32(${off},true)`;
}

/**
 * r10 always points at the end of this function's frame, so an r10-relative access with a constant offset that is
 * inside the frame can skip Machine.ld/st: `SV` is the frame's DataView. Out-of-frame offsets keep the generic call,
 * which raises the same fault as the interpreter.
 */
function stackLoad(off: number, size: number): string | undefined {
  const o = STACK_SIZE + off;
  if (o < 0 || o + size > STACK_SIZE) return undefined;
  return size === 1 ? `SV.getUint8(${o})` : size === 2 ? `SV.getUint16(${o},true)` : `SV.getInt32(${o},true)`;
}

function stackStore(off: number, size: number, lo: string, hi: string): string | undefined {
  const o = STACK_SIZE + off;
  if (o < 0 || o + size > STACK_SIZE) return undefined;
  const w = size === 1 ? `SV.setUint8(${o},${lo});` : size === 2 ? `SV.setUint16(${o},${lo},true);` : `SV.setInt32(${o},${lo},true);`;
  // The reset watermark (SD.stackLow) is lowered once at entry for all direct stores (see jitProgram).
  return `${w}${size === 8 ? `SV.setInt32(${o + 4},${hi},true);` : ""}`;
}

/** A jump to slot `t`, or the fault the interpreter raises for a target outside the program. */
function goto2(t: number, n: number): string {
  if (t >= 0 && t < n) return `{pc=${t};continue;}`;
  return `throw F(${JSON.stringify(t === n ? "fell off the end of the program" : "jump outside the program")},${t});`;
}

function shift64(aop: number, A: string, B: string, k: number): string {
  if (k === 0) return "";
  if (aop === AluOp.LSH) return k < 32 ? `${B}=(${B}<<${k})|(${A}>>>${32 - k});${A}<<=${k};` : `${B}=${A}<<${k - 32};${A}=0;`;
  if (aop === AluOp.RSH) return k < 32 ? `${A}=(${A}>>>${k})|(${B}<<${32 - k});${B}=(${B}>>>${k})|0;` : `${A}=(${B}>>>${k - 32})|0;${B}=0;`;
  return k < 32 ? `${A}=(${A}>>>${k})|(${B}<<${32 - k});${B}>>=${k};` : `${A}=${B}>>${k - 32};${B}>>=31;`;
}

/** The table for source generation outside jitCompile (tests): the one the object pinned `p`'s regions in. */
function scratchTable(p: PreparedProgram): RegionTable {
  if (!p.table) throw new Error(`program ${p.name} was not loaded into an object (no region table)`);
  return p.table;
}

/** `p` run by the interpreter behind the JIT's signature (r0's low word returned, the high word in m.h). */
export function interpreted(p: PreparedProgram): JitFn {
  return (m: Machine): number => {
    const r0 = interpret(p, m);
    m.h = Number(r0 >> 32n) | 0;
    return Number(r0 & 0xffffffffn) | 0;
  };
}

/** Compiles `p` into a JS function. Throws nothing for bad bytecode: invalid instructions fault when reached. */
export function jitCompile(p: PreparedProgram, table: RegionTable): JitFn {
  const { source, consts, single, funcs, needsZeroStack } = jitProgram(p, table);
  const params = single ? ["M"] : ["M", "entry", "depth", ...[0, 1, 2, 3, 4, 5, 6, 7, 8, 9].flatMap((r) => [`a${r}`, `b${r}`])];
  // One JS function per BPF function entry, each over the whole program (see the file comment).
  // Every helper call emit() can generate (a valid JMP|CALL that is not a BPF-to-BPF call), so none is left undeclared.
  const helperIds = [
    ...new Set(p.insns.filter((i, pc) => (i.opcode & 0xf7) === (Class.JMP | JmpOp.CALL) && i.src !== Pseudo.CALL && p.invalid[pc] === undefined).map((i) => i.imm >>> 0)),
  ];
  const hoisted = [...helperIds.map((id) => `h${id}=H(${id})`), ...consts.map((_, i) => `K${i}=KS[${i}]`)];
  const prelude = (hoisted.length ? `const ${hoisted.join(",")};\n` : "") + (funcs ? `${funcs}\n` : "");
  const factory = new Function(
    "F", "S", "H", "FN", "SD", "CV", "KS", "PH", "FH0", "SV0", "SB0", "RG", "RT", "BX", "SC", "SR", "IN",
    `"use strict";\n${prelude}return function bpf(${params.join(",")}){\n${source}\n};`,
  ) as (...args: unknown[]) => (...a: unknown[]) => number;
  const helpers = (id: number): HelperFn => helperFor(id | 0);
  const fault = (reason: string, pc: number): VmFault => new VmFault(reason, pc);
  // All BPF functions share one JS function (entered at different blocks); it takes the machine as a parameter,
  // so one instance serves every machine.
  const fns: Record<number, (...a: unknown[]) => number> = {};
  const f0 = SHARED.frames[0]!;
  // The program belongs to one object, so its region table is a constant: RG indexes it, RT tells whether a region's
  // cached id is this table's, PH registers a region in it.
  const ph = (r: Region): number => table.hi(r);
  const resume = (m: Machine, n: number, pc: number, ...words: number[]): never => {
    m.n = n;
    return finishInInterpreter(p, m, pc, words);
  };
  const entryFn = factory(fault, slow64, helpers, fns, SHARED, SHARED.ctx.view, consts, ph, fixedHi(FRAME0_ID), f0.view, f0.bytes, table.regions, table, resume, assignError, releaseSocket, interpreted(p));
  for (const f of p.funcs) fns[f] = entryFn;
  const fn: JitFn = single
    ? (entryFn as JitFn)
    : (m: Machine): number => entryFn(m, 0, 0, 0, 0, OFF_BIAS, m.hiOf(m.ctx), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  fn.needsZeroStack = needsZeroStack;
  return fn;
}
