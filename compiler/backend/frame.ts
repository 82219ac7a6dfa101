/**
 * Stack frame layout: IR stack slots, then spill slots, all below r10 at negative offsets. Slots are placed in
 * decreasing alignment so padding stays minimal; spill slots are 8 bytes at 8-byte-aligned offsets (the verifier
 * tracks only such spills precisely). BPF gives a program 512 bytes.
 */
import type { Function } from "../ir/ir.ts";
import { BackendError } from "./errors.ts";

/** The BPF stack limit per program frame. */
export const MAX_STACK = 512;

/** Placement of every slot, as offsets from r10 (negative). */
export interface Frame {
  /** IR slot id → offset of its first byte from r10. */
  slotOffset: Map<number, number>;
  /** Spill slot index → offset from r10 (8-byte aligned). */
  spillOffset: number[];
  /** Bytes used, a multiple of 8. */
  size: number;
}

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

/** Lays out the frame of `fn` with `spills` 8-byte spill slots; throws BackendError beyond 512 bytes. */
export function layoutFrame(fn: Function, spills: number): Frame {
  const slotOffset = new Map<number, number>();
  let depth = 0;
  const slots = [...fn.slots].sort((a, b) => b.align - a.align || a.id - b.id);
  for (const s of slots) {
    if (s.size <= 0) throw new BackendError(`${fn.name}: stack slot s${s.id} has size ${s.size}`, fn.loc);
    depth = alignUp(depth + s.size, s.align);
    slotOffset.set(s.id, -depth);
  }
  const spillOffset: number[] = [];
  depth = alignUp(depth, 8);
  for (let i = 0; i < spills; i++) {
    depth += 8;
    spillOffset.push(-depth);
  }
  const size = alignUp(depth, 8);
  if (size > MAX_STACK) {
    throw new BackendError(
      `${fn.name}: stack frame of ${size} bytes exceeds the BPF limit of ${MAX_STACK} (${fn.slots.length} slots, ${spills} spills)`,
      fn.loc,
    );
  }
  return { slotOffset, spillOffset, size };
}
