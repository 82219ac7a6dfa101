/**
 * BPF opcode fields. One instruction slot is 8 bytes:
 *
 *   byte 0         1              2..3          4..7
 *   +--------+-----------+---------+-------------+------------------+
 *   | opcode | src (4b)  | dst(4b) | off (s16 LE)| imm (s32 LE)     |
 *   +--------+-----------+---------+-------------+------------------+
 *              high nibble  low nibble
 *
 * The opcode byte splits by class (low 3 bits):
 *   ALU/ALU64/JMP/JMP32:  | op (4b) | source (1b) | class (3b) |
 *   LD/LDX/ST/STX:        | mode(3b)| size (2b)   | class (3b) |
 */

/** Instruction class: the low 3 bits of the opcode. */
export const enum Class {
  LD = 0x00,
  LDX = 0x01,
  ST = 0x02,
  STX = 0x03,
  ALU = 0x04,
  JMP = 0x05,
  JMP32 = 0x06,
  ALU64 = 0x07,
}

/** Operand source bit for ALU and JMP classes: immediate (K) or register (X). */
export const enum Source {
  K = 0x00,
  X = 0x08,
}

/** ALU operation: the high 4 bits of an ALU/ALU64 opcode. */
export const enum AluOp {
  ADD = 0x00,
  SUB = 0x10,
  MUL = 0x20,
  DIV = 0x30,
  OR = 0x40,
  AND = 0x50,
  LSH = 0x60,
  RSH = 0x70,
  NEG = 0x80,
  MOD = 0x90,
  XOR = 0xa0,
  MOV = 0xb0,
  ARSH = 0xc0,
  /** Byte swap. In class ALU, source K = to little endian, X = to big endian; in ALU64 (v4) unconditional bswap. */
  END = 0xd0,
}

/** Jump operation: the high 4 bits of a JMP/JMP32 opcode. */
export const enum JmpOp {
  JA = 0x00,
  JEQ = 0x10,
  JGT = 0x20,
  JGE = 0x30,
  JSET = 0x40,
  JNE = 0x50,
  JSGT = 0x60,
  JSGE = 0x70,
  CALL = 0x80,
  EXIT = 0x90,
  JLT = 0xa0,
  JLE = 0xb0,
  JSLT = 0xc0,
  JSLE = 0xd0,
}

/** Access size for load/store classes. */
export const enum Size {
  W = 0x00, // 4 bytes
  H = 0x08, // 2 bytes
  B = 0x10, // 1 byte
  DW = 0x18, // 8 bytes
}

/** Addressing mode for load/store classes. */
export const enum Mode {
  IMM = 0x00, // lddw (class LD, size DW)
  ABS = 0x20, // legacy packet access, rejected for sk_lookup
  IND = 0x40, // legacy packet access, rejected for sk_lookup
  MEM = 0x60,
  MEMSX = 0x80, // v4 sign-extending load
  ATOMIC = 0xc0,
}

/** Atomic operation codes carried in `imm` of a STX|ATOMIC instruction. */
export const enum AtomicOp {
  ADD = 0x00,
  OR = 0x40,
  AND = 0x50,
  XOR = 0xa0,
  /** Set on ADD/OR/AND/XOR to return the old value in the source register. */
  FETCH = 0x01,
  XCHG = 0xe0 | 0x01,
  CMPXCHG = 0xf0 | 0x01,
}

/** `src` values that give `lddw` and `call` special meanings. */
export const enum Pseudo {
  /** lddw: imm is a map fd (relocated against a map symbol). */
  MAP_FD = 1,
  /** lddw: imm is a map fd, next imm an offset into its value (global data). */
  MAP_VALUE = 2,
  /** lddw: imm is the relative address of a BPF function (a callback); its target starts a function. */
  FUNC = 4,
  /** call: imm is a relative offset to a BPF-to-BPF callee. */
  CALL = 1,
  /** call: imm is a kfunc BTF id. */
  KFUNC_CALL = 2,
}

export const CLASS_MASK = 0x07;
export const SIZE_MASK = 0x18;
export const MODE_MASK = 0xe0;
export const OP_MASK = 0xf0;
export const SOURCE_MASK = 0x08;

/** Class of an opcode byte. */
export const classOf = (opcode: number): Class => (opcode & CLASS_MASK) as Class;
/** True for ALU and ALU64. */
export const isAluClass = (c: Class): boolean => c === Class.ALU || c === Class.ALU64;
/** True for JMP and JMP32. */
export const isJmpClass = (c: Class): boolean => c === Class.JMP || c === Class.JMP32;

/** Byte width of a load/store size field. */
export function sizeBytes(size: Size): 1 | 2 | 4 | 8 {
  switch (size) {
    case Size.B:
      return 1;
    case Size.H:
      return 2;
    case Size.W:
      return 4;
    default:
      return 8;
  }
}

/** Size field for a byte width. */
export function sizeOfBytes(bytes: number): Size {
  switch (bytes) {
    case 1:
      return Size.B;
    case 2:
      return Size.H;
    case 4:
      return Size.W;
    case 8:
      return Size.DW;
  }
  throw new RangeError(`no BPF access size of ${bytes} bytes`);
}

/** The opcode byte of `lddw` (LD | IMM | DW); it occupies two slots. */
export const LDDW = Class.LD | Mode.IMM | Size.DW;
