import { type Instruction, slotCount } from "./instruction.ts";
import { Class, JmpOp, LDDW, Pseudo, classOf } from "./opcode.ts";

/** Size of one instruction slot in bytes. */
export const SLOT_SIZE = 8;

/** A symbol reference left in the bytecode for the linker/loader (ELF relocation). */
export interface InsnRelocation {
  /** Slot index of the referencing instruction. */
  slot: number;
  /** `map`: lddw of a map (R_BPF_64_64); `call`: BPF-to-BPF call to a function symbol (R_BPF_64_32). */
  kind: "map" | "call";
  /** The referenced symbol (map or function name). */
  symbol: string;
}

/** The result of encoding an emitted instruction list. */
export interface Encoded {
  bytes: Uint8Array;
  relocations: InsnRelocation[];
  /** Slot index of every label. */
  labels: Map<string, number>;
  /** Slot index of each input instruction (same order as the input). */
  slots: number[];
}

/** Error raised for an instruction list that cannot be encoded (unknown label, offset out of range). */
export class EncodeError extends Error {
  override name = "EncodeError";
}

/** Error raised for bytes that do not form a BPF instruction stream. */
export class DecodeError extends Error {
  override name = "DecodeError";
  constructor(
    message: string,
    /** Slot at which decoding failed. */
    readonly slot: number,
  ) {
    super(message);
  }
}

/** Writes one raw slot at byte offset `at`. */
function writeSlot(view: DataView, at: number, opcode: number, dst: number, src: number, off: number, imm: number): void {
  view.setUint8(at, opcode);
  view.setUint8(at + 1, ((src & 0xf) << 4) | (dst & 0xf));
  view.setInt16(at + 2, off, true);
  view.setInt32(at + 4, imm, true);
}

/**
 * Encodes an emitted program: assigns slots (lddw takes two), resolves jump labels into slot offsets and records
 * relocations for map loads and calls to functions outside this instruction list.
 */
export function encode(insns: readonly Instruction[]): Encoded {
  const slots: number[] = [];
  const labels = new Map<string, number>();
  let slot = 0;
  for (const insn of insns) {
    slots.push(slot);
    for (const l of insn.labels ?? []) {
      if (labels.has(l)) throw new EncodeError(`label ${l} defined twice`);
      labels.set(l, slot);
    }
    slot += slotCount(insn);
  }
  const bytes = new Uint8Array(slot * SLOT_SIZE);
  const view = new DataView(bytes.buffer);
  const relocations: InsnRelocation[] = [];
  insns.forEach((insn, i) => {
    const at = slots[i]! * SLOT_SIZE;
    let { off, imm } = insn;
    if (insn.target !== undefined) {
      const isCall = (insn.opcode & 0xf0) === JmpOp.CALL && classOf(insn.opcode) === Class.JMP;
      const dest = labels.get(insn.target);
      if (dest === undefined) {
        if (!isCall) throw new EncodeError(`jump to undefined label ${insn.target}`);
        relocations.push({ slot: slots[i]!, kind: "call", symbol: insn.target });
      } else if (isCall) {
        imm = dest - slots[i]! - 1;
      } else {
        off = dest - slots[i]! - 1;
        if (off < -0x8000 || off > 0x7fff) throw new EncodeError(`jump to ${insn.target} is out of 16-bit range`);
      }
    }
    if (insn.opcode === LDDW) {
      const v = BigInt.asUintN(64, insn.imm64 ?? BigInt(insn.imm));
      if (insn.mapRef !== undefined) relocations.push({ slot: slots[i]!, kind: "map", symbol: insn.mapRef });
      writeSlot(view, at, insn.opcode, insn.dst, insn.src, insn.off, Number(BigInt.asIntN(32, v)));
      writeSlot(view, at + SLOT_SIZE, 0, 0, 0, 0, Number(BigInt.asIntN(32, v >> 32n)));
      return;
    }
    writeSlot(view, at, insn.opcode, insn.dst, insn.src, off, imm);
  });
  return { bytes, relocations, labels, slots };
}

/**
 * Decodes raw bytecode into a slot-indexed instruction array. A `lddw` carries its full constant in `imm64`; the slot
 * after it is kept as its raw second half so that indexes stay equal to kernel program counters.
 */
export function decode(bytes: Uint8Array): Instruction[] {
  if (bytes.length % SLOT_SIZE !== 0) {
    throw new DecodeError(`bytecode length ${bytes.length} is not a multiple of ${SLOT_SIZE}`, Math.floor(bytes.length / SLOT_SIZE));
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = bytes.length / SLOT_SIZE;
  const out: Instruction[] = [];
  for (let slot = 0; slot < count; slot++) {
    const at = slot * SLOT_SIZE;
    const regs = view.getUint8(at + 1);
    const insn: Instruction = {
      opcode: view.getUint8(at),
      dst: regs & 0xf,
      src: regs >> 4,
      off: view.getInt16(at + 2, true),
      imm: view.getInt32(at + 4, true),
    };
    out.push(insn);
    if (insn.opcode === LDDW) {
      if (slot + 1 >= count) throw new DecodeError("lddw at the end of the program has no second slot", slot);
      const hi = view.getUint32(at + SLOT_SIZE + 4, true);
      insn.imm64 = (BigInt(hi) << 32n) | BigInt(insn.imm >>> 0);
      const second: Instruction = {
        opcode: view.getUint8(at + SLOT_SIZE),
        dst: view.getUint8(at + SLOT_SIZE + 1) & 0xf,
        src: view.getUint8(at + SLOT_SIZE + 1) >> 4,
        off: view.getInt16(at + SLOT_SIZE + 2, true),
        imm: view.getInt32(at + SLOT_SIZE + 4, true),
      };
      out.push(second);
      slot++;
    }
  }
  return out;
}

/** True when `insn` is a call to a BPF-to-BPF subprogram (src = BPF_PSEUDO_CALL). */
export const isPseudoCall = (insn: Instruction): boolean =>
  insn.opcode === (Class.JMP | JmpOp.CALL) && insn.src === Pseudo.CALL;
