/** Bench provider: the embedded VM (placeholder until runtime/index.ts lands; see bench/sections.ts VmProvider). */
export { measureVm } from "../../runtime/index.ts";
