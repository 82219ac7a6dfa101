/** Bench provider: our compiler's in-process entry point (bundled separately; absent until compiler/index.ts lands). */
export { compile } from "../../compiler/index.ts";
