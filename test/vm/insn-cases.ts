/**
 * The shared table of instruction-semantics cases: each program runs on the interpreter and on the JIT, and both
 * must produce the expected r0 (or fault). Expected values are worked out from the kernel's definitions
 * (kernel/bpf/core.c, Documentation/bpf/standardization/instruction-set.rst), not from either tier.
 */
import {
  AluOp,
  AtomicOp,
  Class,
  JmpOp,
  Size,
  Source,
  alu32,
  alu64,
  atomic,
  call,
  callLocal,
  endian,
  exit,
  ja,
  jmp32,
  jmp64,
  lddw,
  ldx,
  mov32,
  mov64,
  neg64,
  reg,
  st,
  stx,
  withLabel,
  type Instruction,
} from "../../compiler/asm/index.ts";

/** A case: a program and its expected r0 (unsigned 64-bit) or a fault matching `fault`. */
export interface InsnCase {
  name: string;
  insns: Instruction[];
  r0?: bigint;
  fault?: RegExp;
  /** Why this case is not compared with the live kernel (no defined kernel value, or the verifier refuses it). */
  notOnKernel?: string;
  /** Fault class name when not VmFault. */
  faultName?: string;
  budget?: number;
  /**
   * Set for run-time faults of programs the kernel refuses to load (a jump out of range, falling off the end): the VM
   * refuses them too unless loaded with the fuzzers' "tier-safety" checks, under which both tiers must still fault.
   */
  loadChecks?: "tier-safety";
}

const U64 = (x: bigint): bigint => BigInt.asUintN(64, x);
const R0 = 0, R1 = 1, R2 = 2, R3 = 3, R6 = 6, R10 = 10;
/** r0 = a; r0 op= b (64-bit); exit. */
const op64 = (op: AluOp, a: bigint, b: bigint | number, off = 0): Instruction[] => [
  lddw(R0, a),
  ...(typeof b === "number" ? [{ ...alu64(op, R0, b), off }] : [lddw(R1, b), { ...alu64(op, R0, reg(R1)), off }]),
  exit(),
];
const op32 = (op: AluOp, a: bigint, b: bigint | number, off = 0): Instruction[] => [
  lddw(R0, a),
  ...(typeof b === "number" ? [{ ...alu32(op, R0, b), off }] : [lddw(R1, b), { ...alu32(op, R0, reg(R1)), off }]),
  exit(),
];
/** r0 = 1 if (a op b) else 0. */
const jmp = (cls: "64" | "32", op: JmpOp, a: bigint, b: bigint | number): Instruction[] => [
  lddw(R1, a),
  ...(typeof b === "number" ? [] : [lddw(R2, b)]),
  mov64(R0, 1),
  (cls === "64" ? jmp64 : jmp32)(op, R1, typeof b === "number" ? b : reg(R2), "yes"),
  mov64(R0, 0),
  withLabel(exit(), "yes"),
];
const MIN64 = -(1n << 63n);

export const INSN_CASES: InsnCase[] = [
  // ALU64
  { name: "mov64 imm sign-extends", insns: [mov64(R0, -1), exit()], r0: U64(-1n) },
  { name: "mov32 imm zero-extends", insns: [mov32(R0, -1), exit()], r0: 0xffffffffn },
  { name: "add64 carries into the high word", insns: op64(AluOp.ADD, 0xffffffffn, 1), r0: 0x100000000n },
  { name: "add64 wraps", insns: op64(AluOp.ADD, U64(-1n), 2n), r0: 1n },
  { name: "add64 negative imm", insns: op64(AluOp.ADD, 0x100000000n, -1), r0: 0xffffffffn },
  { name: "sub64 borrows", insns: op64(AluOp.SUB, 0x100000000n, 1), r0: 0xffffffffn },
  { name: "sub64 below zero", insns: op64(AluOp.SUB, 0n, 1n), r0: U64(-1n) },
  { name: "mul64", insns: op64(AluOp.MUL, 0x100000001n, 0x100000001n), r0: 0x200000001n },
  { name: "mul64 by negative imm", insns: op64(AluOp.MUL, 3n, -2), r0: U64(-6n) },
  { name: "div64", insns: op64(AluOp.DIV, U64(-1n), 0x10n), r0: 0x0fffffffffffffffn },
  { name: "div64 by zero is 0", insns: op64(AluOp.DIV, 1234n, 0n), r0: 0n },
  { name: "mod64", insns: op64(AluOp.MOD, 0x123456789n, 0x10000n), r0: 0x6789n },
  { name: "mod64 by zero keeps dst", insns: op64(AluOp.MOD, 0x123456789n, 0n), r0: 0x123456789n },
  { name: "sdiv64", insns: op64(AluOp.DIV, U64(-7n), 2n, 1), r0: U64(-3n) },
  { name: "sdiv64 INT_MIN / -1", insns: op64(AluOp.DIV, U64(MIN64), U64(-1n), 1), r0: U64(MIN64) },
  { name: "sdiv64 by zero is 0", insns: op64(AluOp.DIV, U64(-7n), 0n, 1), r0: 0n },
  { name: "smod64", insns: op64(AluOp.MOD, U64(-7n), 2n, 1), r0: U64(-1n) },
  { name: "smod64 INT_MIN % -1", insns: op64(AluOp.MOD, U64(MIN64), U64(-1n), 1), r0: 0n },
  { name: "smod64 by zero keeps dst", insns: op64(AluOp.MOD, U64(-7n), 0n, 1), r0: U64(-7n) },
  { name: "and64 imm sign-extended", insns: op64(AluOp.AND, 0x1234567890abcdefn, -256), r0: 0x1234567890abcd00n },
  { name: "or64", insns: op64(AluOp.OR, 0xf0000000_00000000n, 0x0fn), r0: 0xf0000000_0000000fn },
  { name: "xor64", insns: op64(AluOp.XOR, U64(-1n), 0xffffffffn), r0: 0xffffffff_00000000n },
  { name: "lsh64 by 4", insns: op64(AluOp.LSH, 0x0fffffff_ffffffffn, 4), r0: 0xffffffff_fffffff0n },
  { name: "lsh64 by 32", insns: op64(AluOp.LSH, 0x1234n, 32), r0: 0x1234_00000000n },
  { name: "lsh64 by 63", insns: op64(AluOp.LSH, 3n, 63), r0: 1n << 63n },
  { name: "lsh64 by reg masks to 63", insns: op64(AluOp.LSH, 1n, 67n), r0: 8n },
  { name: "rsh64 by 36", insns: op64(AluOp.RSH, 0xf0000000_00000000n, 36), r0: 0x0f000000n },
  { name: "rsh64 by 1", insns: op64(AluOp.RSH, 0x1_00000000n, 1), r0: 0x80000000n },
  { name: "arsh64 by 4", insns: op64(AluOp.ARSH, 0x80000000_00000000n, 4), r0: 0xf8000000_00000000n },
  { name: "arsh64 by 36", insns: op64(AluOp.ARSH, 0x80000000_00000000n, 36), r0: 0xffffffff_f8000000n },
  { name: "arsh64 by reg", insns: op64(AluOp.ARSH, U64(-256n), 4n), r0: U64(-16n) },
  { name: "neg64 of 1", insns: [mov64(R0, 1), neg64(R0), exit()], r0: U64(-1n) },
  { name: "neg64 of 0", insns: [mov64(R0, 0), neg64(R0), exit()], r0: 0n },
  { name: "neg64 of 2^32", insns: [lddw(R0, 1n << 32n), neg64(R0), exit()], r0: 0xffffffff_00000000n },
  { name: "movsx64 s8", insns: [mov64(R1, 0x80), { ...mov64(R0, reg(R1)), off: 8 }, exit()], r0: U64(-128n) },
  { name: "movsx64 s16", insns: [mov64(R1, 0x7fff), { ...mov64(R0, reg(R1)), off: 16 }, exit()], r0: 0x7fffn },
  { name: "movsx64 s32", insns: [mov32(R1, -2), { ...mov64(R0, reg(R1)), off: 32 }, exit()], r0: U64(-2n) },
  { name: "movsx32 s8 zero-extends", insns: [mov64(R1, 0xff), { ...mov32(R0, reg(R1)), off: 8 }, exit()], r0: 0xffffffffn },
  { name: "mov64 reg copies 64 bits", insns: [lddw(R1, 0x1122334455667788n), mov64(R0, reg(R1)), exit()], r0: 0x1122334455667788n },
  // ALU32
  { name: "add32 wraps and zero-extends", insns: op32(AluOp.ADD, 0xdeadbeef_ffffffffn, 2), r0: 1n },
  { name: "sub32", insns: op32(AluOp.SUB, 0x1_00000000n, 1), r0: 0xffffffffn },
  { name: "mul32", insns: op32(AluOp.MUL, 0xffffffffn, 0xffffffffn), r0: 1n },
  { name: "div32 unsigned", insns: op32(AluOp.DIV, 0xffffffffn, 2), r0: 0x7fffffffn },
  { name: "div32 by zero", insns: op32(AluOp.DIV, 5n, 0n), r0: 0n },
  { name: "mod32 by zero zero-extends dst", insns: op32(AluOp.MOD, 0xaaaa_bbbbccccn, 0n), r0: 0xbbbbccccn },
  { name: "sdiv32", insns: op32(AluOp.DIV, 0xfffffff9n, 2, 1), r0: 0xfffffffdn },
  { name: "sdiv32 INT_MIN / -1", insns: op32(AluOp.DIV, 0x80000000n, -1, 1), r0: 0x80000000n },
  { name: "smod32", insns: op32(AluOp.MOD, 0xfffffff9n, 2, 1), r0: 0xffffffffn },
  { name: "smod32 by zero", insns: op32(AluOp.MOD, 0xfffffff9n, 0n, 1), r0: 0xfffffff9n },
  { name: "lsh32", insns: op32(AluOp.LSH, 0x1_80000001n, 1), r0: 2n },
  { name: "lsh32 by reg masks to 31", insns: op32(AluOp.LSH, 1n, 33n), r0: 2n },
  { name: "rsh32", insns: op32(AluOp.RSH, 0xf_80000000n, 31), r0: 1n },
  { name: "arsh32", insns: op32(AluOp.ARSH, 0x80000000n, 4), r0: 0xf8000000n },
  { name: "neg32", insns: [mov64(R0, 1), { ...alu32(AluOp.NEG, R0, 0) }, exit()], r0: 0xffffffffn },
  { name: "and32", insns: op32(AluOp.AND, 0xffff_ffff_0000_ffffn, -1), r0: 0xffffn },
  { name: "xor32", insns: op32(AluOp.XOR, 0xffff_0000_0000_0000n, 1), r0: 1n },
  // Byte swaps
  { name: "be16", insns: [lddw(R0, 0x1122334455667788n), endian(R0, 16, true), exit()], r0: 0x8877n },
  { name: "be32", insns: [lddw(R0, 0x1122334455667788n), endian(R0, 32, true), exit()], r0: 0x88776655n },
  { name: "be64", insns: [lddw(R0, 0x1122334455667788n), endian(R0, 64, true), exit()], r0: 0x8877665544332211n },
  { name: "le16 truncates", insns: [lddw(R0, 0x1122334455667788n), endian(R0, 16, false), exit()], r0: 0x7788n },
  { name: "le32 truncates", insns: [lddw(R0, 0x1122334455667788n), endian(R0, 32, false), exit()], r0: 0x55667788n },
  { name: "le64 keeps", insns: [lddw(R0, 0x1122334455667788n), endian(R0, 64, false), exit()], r0: 0x1122334455667788n },
  {
    name: "bswap16 (v4)",
    insns: [lddw(R0, 0x1122334455667788n), { opcode: Class.ALU64 | AluOp.END, dst: R0, src: 0, off: 0, imm: 16 }, exit()],
    r0: 0x8877n,
  },
  {
    name: "bswap64 (v4)",
    insns: [lddw(R0, 0x1122334455667788n), { opcode: Class.ALU64 | AluOp.END, dst: R0, src: 0, off: 0, imm: 64 }, exit()],
    r0: 0x8877665544332211n,
  },
  // Jumps
  { name: "jgt is unsigned", insns: jmp("64", JmpOp.JGT, U64(-1n), 1n), r0: 1n },
  { name: "jsgt is signed", insns: jmp("64", JmpOp.JSGT, U64(-1n), 1n), r0: 0n },
  { name: "jsgt on high words", insns: jmp("64", JmpOp.JSGT, 0x1_00000000n, 0xffffffffn), r0: 1n },
  { name: "jge equal", insns: jmp("64", JmpOp.JGE, 5n, 5n), r0: 1n },
  { name: "jlt high word decides", insns: jmp("64", JmpOp.JLT, 0xffffffffn, 0x1_00000000n), r0: 1n },
  { name: "jle", insns: jmp("64", JmpOp.JLE, 6n, 5n), r0: 0n },
  { name: "jslt negative", insns: jmp("64", JmpOp.JSLT, U64(-5n), -4), r0: 1n },
  { name: "jsle imm sign-extended", insns: jmp("64", JmpOp.JSLE, U64(-1n), -1), r0: 1n },
  { name: "jsge", insns: jmp("64", JmpOp.JSGE, 0n, -1), r0: 1n },
  { name: "jeq compares all 64 bits", insns: jmp("64", JmpOp.JEQ, 0x1_00000005n, 5), r0: 0n },
  { name: "jne", insns: jmp("64", JmpOp.JNE, 0x1_00000005n, 5), r0: 1n },
  { name: "jset high word", insns: jmp("64", JmpOp.JSET, 0x1_00000000n, 0x1_00000000n), r0: 1n },
  { name: "jset imm sign-extended", insns: jmp("64", JmpOp.JSET, 0x80000000_00000000n, -1), r0: 1n },
  { name: "jeq32 ignores the high word", insns: jmp("32", JmpOp.JEQ, 0x1_00000005n, 5), r0: 1n },
  { name: "jgt32 unsigned", insns: jmp("32", JmpOp.JGT, 0xffffffffn, 1), r0: 1n },
  { name: "jsgt32 signed", insns: jmp("32", JmpOp.JSGT, 0xffffffffn, 1), r0: 0n },
  { name: "jslt32", insns: jmp("32", JmpOp.JSLT, 0x7fffffff_80000000n, 0), r0: 1n },
  { name: "jset32", insns: jmp("32", JmpOp.JSET, 0xff_00000000n, 0xffn), r0: 0n },
  {
    name: "gotol (jmp32 ja with imm)",
    insns: [mov64(R0, 1), jmp64(JmpOp.JNE, R0, 1, "x"), { opcode: Class.JMP32 | JmpOp.JA, dst: 0, src: 0, off: 0, imm: 1 }, withLabel(mov64(R0, 2), "x"), exit()],
    r0: 1n,
  },
  {
    name: "bounded loop sums 0..9",
    insns: [mov64(R0, 0), mov64(R1, 0), withLabel(alu64(AluOp.ADD, R0, reg(R1)), "top"), alu64(AluOp.ADD, R1, 1), jmp64(JmpOp.JLT, R1, 10, "top"), exit()],
    r0: 45n,
  },
  // Memory
  {
    name: "stack store/load every size",
    insns: [
      lddw(R1, 0x1122334455667788n),
      stx(Size.DW, R10, -8, R1),
      ldx(Size.B, R0, R10, -8),
      ldx(Size.H, R2, R10, -6),
      alu64(AluOp.LSH, R2, 8),
      alu64(AluOp.OR, R0, reg(R2)),
      ldx(Size.W, R2, R10, -4),
      alu64(AluOp.ADD, R0, reg(R2)),
      exit(),
    ],
    r0: 0x88n + (0x5566n << 8n) + 0x11223344n,
  },
  { name: "st imm dw sign-extends", insns: [st(Size.DW, R10, -8, -2), ldx(Size.DW, R0, R10, -8), exit()], r0: U64(-2n) },
  { name: "st imm w", insns: [st(Size.DW, R10, -8, -1), st(Size.W, R10, -8, 0), ldx(Size.DW, R0, R10, -8), exit()], r0: 0xffffffff_00000000n },
  { name: "ldx memsx s8", insns: [st(Size.B, R10, -1, 0x80), { ...ldx(Size.B, R0, R10, -1), opcode: Class.LDX | 0x80 | Size.B }, exit()], r0: U64(-128n) },
  { name: "ldx memsx s16", insns: [st(Size.H, R10, -2, 0x8001), { ...ldx(Size.H, R0, R10, -2), opcode: Class.LDX | 0x80 | Size.H }, exit()], r0: U64(-32767n) },
  { name: "ldx memsx s32", insns: [st(Size.W, R10, -4, -3), { ...ldx(Size.W, R0, R10, -4), opcode: Class.LDX | 0x80 | Size.W }, exit()], r0: U64(-3n) },
  // The VM zeroes every frame so that runs are reproducible; the kernel leaves old bytes there.
  { name: "stack starts zeroed", insns: [ldx(Size.DW, R0, R10, -512), exit()], r0: 0n, notOnKernel: "the kernel leaves old bytes in the stack" },
  // Atomics
  ...atomicCases(),
  // Calls
  {
    name: "bpf-to-bpf call keeps r6-r9 and has its own frame",
    insns: [
      mov64(R6, 5),
      st(Size.DW, R10, -8, 7),
      mov64(R1, 3),
      callLocal("f"),
      ldx(Size.DW, R2, R10, -8),
      alu64(AluOp.ADD, R0, reg(R6)),
      alu64(AluOp.ADD, R0, reg(R2)),
      exit(),
      withLabel(mov64(R6, 100), "f"),
      st(Size.DW, R10, -8, 1000),
      ldx(Size.DW, R0, R10, -8),
      alu64(AluOp.ADD, R0, reg(R1)),
      alu64(AluOp.ADD, R0, reg(R6)),
      exit(),
    ],
    r0: 1103n + 5n + 7n,
  },
  { name: "recursion deeper than 8 frames faults", insns: [withLabel(callLocal("f"), "f"), exit()], fault: /call depth exceeds 8 frames/ },
  // Faults
  { name: "stack read above the frame", insns: [ldx(Size.DW, R0, R10, 0), exit()], fault: /out of bounds/ },
  { name: "stack write below the frame", insns: [st(Size.B, R10, -513, 1), mov64(R0, 0), exit()], fault: /offset -1 of stack frame 0 .* out of bounds/ },
  { name: "NULL dereference", insns: [mov64(R1, 0), ldx(Size.W, R0, R1, 0), exit()], fault: /NULL pointer/ },
  { name: "scalar dereference", insns: [mov64(R1, 0x1000), ldx(Size.W, R0, R1, 0), exit()], fault: /not a pointer/ },
  { name: "ctx store", insns: [st(Size.W, R1, 8, 0), mov64(R0, 0), exit()], fault: /read-only/ },
  { name: "ctx narrow load of sk", insns: [ldx(Size.W, R0, R1, 4), exit()], fault: /invalid bpf_context access off=4 size=4/ },
  { name: "ctx 8-byte load of an ip6 word pair", insns: [ldx(Size.DW, R0, R1, 20), exit()], fault: /invalid bpf_context access off=20 size=8/ },
  { name: "ctx tail padding", insns: [ldx(Size.W, R0, R1, 68), exit()], fault: /invalid bpf_context access off=68 size=4/ },
  { name: "modified ctx pointer past the end", insns: [alu64(AluOp.ADD, R1, 72), ldx(Size.B, R0, R1, 0), exit()], fault: /invalid bpf_context access off=72/ },
  { name: "write to r10", insns: [mov64(R10, 0), exit()], fault: /frame pointer r10 is read-only/ },
  { name: "fell off the end", insns: [mov64(R0, 0)], fault: /fell off the end/, loadChecks: "tier-safety" },
  { name: "invalid opcode", insns: [{ opcode: 0xff, dst: 0, src: 0, off: 0, imm: 0 }, exit()], fault: /invalid opcode 0xff/ },
  { name: "LD_ABS", insns: [{ opcode: Class.LD | 0x20 | Size.W, dst: 0, src: 0, off: 0, imm: 0 }, exit()], fault: /BPF_LD_\[ABS\|IND\]/ },
  { name: "unsupported helper", insns: [call(46), exit()], fault: /helper 46 \(get_socket_cookie\) is not supported/ },
  { name: "unknown helper", insns: [call(9999), exit()], fault: /helper 9999 \(unknown\) is not supported/ },
  { name: "runaway loop exhausts the budget", insns: [withLabel(ja("top"), "top")], fault: /instruction budget/, faultName: "BudgetExceeded", budget: 10_000 },
  { name: "invalid register", insns: [{ opcode: Class.ALU64 | AluOp.MOV | Source.X, dst: 0, src: 12, off: 0, imm: 0 }, exit()], fault: /invalid register r12/ },
  { name: "jump outside the program", insns: [{ opcode: Class.JMP | JmpOp.JA, dst: 0, src: 0, off: 100, imm: 0 }, exit()], fault: /jump outside the program/, loadChecks: "tier-safety" },
];

function atomicCases(): InsnCase[] {
  const prep = (v: bigint): Instruction[] => [lddw(R2, v), stx(Size.DW, R10, -8, R2)];
  const rd = [ldx(Size.DW, R0, R10, -8), exit()];
  return [
    { name: "atomic add64", insns: [...prep(0xffffffffn), mov64(R3, 1), atomic(Size.DW, AtomicOp.ADD, R10, -8, R3), ...rd], r0: 0x100000000n },
    {
      name: "atomic fetch_add64 returns the old value",
      insns: [...prep(40n), mov64(R3, 2), atomic(Size.DW, AtomicOp.ADD | AtomicOp.FETCH, R10, -8, R3), mov64(R0, reg(R3)), exit()],
      r0: 40n,
    },
    { name: "atomic add32 wraps in its word", insns: [...prep(0x1_ffffffffn), mov64(R3, 1), atomic(Size.W, AtomicOp.ADD, R10, -8, R3), ...rd], r0: 0x1_00000000n },
    { name: "atomic or64", insns: [...prep(0xf0n), mov64(R3, 0x0f), atomic(Size.DW, AtomicOp.OR, R10, -8, R3), ...rd], r0: 0xffn },
    { name: "atomic and64", insns: [...prep(0xf0n), mov64(R3, 0x3c), atomic(Size.DW, AtomicOp.AND, R10, -8, R3), ...rd], r0: 0x30n },
    {
      name: "atomic fetch_xor32 zero-extends the old value",
      insns: [...prep(0xffffffffn), mov64(R3, -1), atomic(Size.W, AtomicOp.XOR | AtomicOp.FETCH, R10, -8, R3), mov64(R0, reg(R3)), exit()],
      r0: 0xffffffffn,
    },
    {
      name: "atomic xchg64",
      insns: [...prep(7n), mov64(R3, 9), atomic(Size.DW, AtomicOp.XCHG, R10, -8, R3), ldx(Size.DW, R0, R10, -8), alu64(AluOp.LSH, R0, 8), alu64(AluOp.OR, R0, reg(R3)), exit()],
      r0: (9n << 8n) | 7n,
    },
    {
      name: "atomic cmpxchg64 success stores",
      insns: [...prep(7n), mov64(R0, 7), mov64(R3, 9), atomic(Size.DW, AtomicOp.CMPXCHG, R10, -8, R3), ldx(Size.DW, R1, R10, -8), alu64(AluOp.LSH, R1, 8), alu64(AluOp.OR, R0, reg(R1)), exit()],
      r0: (9n << 8n) | 7n,
    },
    {
      name: "atomic cmpxchg64 failure keeps memory, r0 = old",
      insns: [...prep(7n), mov64(R0, 8), mov64(R3, 9), atomic(Size.DW, AtomicOp.CMPXCHG, R10, -8, R3), ldx(Size.DW, R1, R10, -8), alu64(AluOp.LSH, R1, 8), alu64(AluOp.OR, R0, reg(R1)), exit()],
      r0: (7n << 8n) | 7n,
    },
    {
      name: "atomic cmpxchg32 compares the low word of r0",
      insns: [...prep(0x5_00000007n), lddw(R0, 0xff_00000007n), mov64(R3, 1), atomic(Size.W, AtomicOp.CMPXCHG, R10, -8, R3), ldx(Size.DW, R0, R10, -8), exit()],
      r0: 0x5_00000001n,
    },
  ];
}
