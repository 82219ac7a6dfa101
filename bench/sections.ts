/**
 * The benchmark sections (one file each under sections/). Each takes the providers that scripts/bench.mjs
 * managed to build (or the reason one is missing) and returns a {@link Section}; a section whose essential part is
 * missing is skipped with one line saying why, and a missing comparison column is shown as "n/a" with a note.
 */
export * from "./sections/common.ts";
export { sizeSection } from "./sections/size.ts";
export { compileTimeSection } from "./sections/compile-time.ts";
export { runtimeSection } from "./sections/runtime.ts";
export { verifierSection } from "./sections/verifier.ts";
export { lpmScaleSection } from "./sections/lpm-scale.ts";
export { goalsSection } from "./sections/goals.ts";
