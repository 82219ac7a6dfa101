/**
 * tsbpf's per-user cache directory, shared by the host-kernel probe (compiler/target/host.ts) and the V8 code cache
 * (compiler/code-cache.ts): $TSBPF_CACHE_DIR, else $XDG_CACHE_HOME/tsbpf, else ~/.cache/tsbpf (a temporary directory
 * when there is no home). Kept free of other imports: the code cache loads it before anything else.
 */
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";

/** Where tsbpf keeps its caches (not created here). */
export function tsbpfCacheDir(): string {
  const env = process.env;
  if (env.TSBPF_CACHE_DIR) return env.TSBPF_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, "tsbpf");
  try {
    return join(homedir(), ".cache", "tsbpf");
  } catch {
    return join(tmpdir(), "tsbpf-cache");
  }
}
