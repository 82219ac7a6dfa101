/**
 * V8 settings for a process that runs one `tsbpf build`/`tsbpf check` and exits (not the compile server, not
 * `--watch`): no optimising compiler. TurboFan compiles hot functions on background threads, and a process that
 * lives for one build never earns that back: measured from the start-up snapshot, one build of the bench's
 * 22-program file fell from ~500 to ~350 ms of CPU, one of a 110-program file from 1.42 to 0.77 s of CPU (wall
 * 0.93 → 0.76 s), a one-program example by ~5%. The compile server runs its first build the same way (the user's
 * first build: 450 → 315 ms of the new server's CPU on the 22-program file) and then turns TurboFan on, since it
 * compiles for many builds (its later builds cost the same as before).
 */
import v8 from "node:v8";
import { isServerCommand } from "../server/protocol.ts";

/** Applies the one-shot settings when `argv` is a build or check that this process runs once. */
export function tuneOneShot(argv: readonly string[]): void {
  if (isServerCommand(argv)) optimisingCompiler(false);
}

/**
 * Turns V8's optimising compiler (TurboFan) on or off from now on. Only that tier changes: results are the same,
 * Ignition and Sparkplug still run everything.
 */
export function optimisingCompiler(on: boolean): void {
  v8.setFlagsFromString(on ? "--opt" : "--no-opt");
}
