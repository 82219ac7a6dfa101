/** Bench provider: our verifier (placeholder until compiler/verifier lands; see bench/sections.ts VerifierProvider). */
export { verifyTime } from "../../compiler/verifier/index.ts";
