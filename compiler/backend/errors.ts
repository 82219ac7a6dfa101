/** Errors raised by the backend for IR it cannot compile (a frontend bug or a program beyond BPF's limits). */
import type { SourceLoc } from "../asm/instruction.ts";

/** The IR handed to the backend cannot be turned into BPF (bad ctx load, frame over 512 bytes, unknown callee …). */
export class BackendError extends Error {
  override name = "BackendError";
  constructor(
    message: string,
    /** Where in the user's source the offending IR came from, when known. */
    readonly loc?: SourceLoc,
  ) {
    super(message);
  }
}
