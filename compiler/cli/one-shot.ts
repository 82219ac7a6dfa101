/**
 * V8 settings for a process that runs one `tsbpf build`/`tsbpf check` and exits (not the compile server, not
 * `--watch`): no optimising compiler. TurboFan compiles hot functions on background threads, and a process that
 * lives for one build never earns that back: measured from the start-up snapshot, one build of the bench's
 * 22-program file fell from ~500 to ~350 ms of CPU, one of a 110-program file from 1.42 to 0.77 s of CPU (wall
 * 0.93 → 0.76 s), a one-program example by ~5%. The compile server keeps TurboFan: it compiles for many builds.
 */
import v8 from "node:v8";
import { isServerCommand } from "../server/protocol.ts";

/** Applies the one-shot settings when `argv` is a build or check that this process runs once. */
export function tuneOneShot(argv: readonly string[]): void {
  // Only the optimising tier is off: results are the same, Ignition and Sparkplug still run everything.
  if (isServerCommand(argv)) v8.setFlagsFromString("--no-opt");
}
