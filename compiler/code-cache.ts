/**
 * `require()` of a CommonJS package with V8's code cache for its files, the way Node 22's `module.enableCompileCache`
 * does (Node 20 has none): TypeScript is 12 MB of JavaScript, and compiling it took ~0.2 s of every process that
 * compiles a handler without the start-up snapshot (the esbuild plugin, tsbpf/testing, compile(), TSBPF_NO_SNAPSHOT).
 * With the cache V8 deserializes the bytecode instead, including the functions the previous run compiled lazily.
 *
 * The cache lives in v8/ under tsbpf's cache directory (cache-dir.ts: $TSBPF_CACHE_DIR, $XDG_CACHE_HOME/tsbpf or
 * ~/.cache/tsbpf): per user, one file per source file, keyed by its size, modification time and the Node.js
 * version; V8 itself rejects data that does not fit the source. A missing or rejected entry is written when the
 * process exits. TSBPF_CODE_CACHE=0 turns it off; any problem with the
 * cache (read-only home, ...) only means compiling as usual.
 */
import { createRequire } from "node:module";
import Module from "node:module";
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { Script } from "node:vm";
import { tsbpfCacheDir } from "./cache-dir.ts";

/** The per-user cache directory, or undefined when turned off or unavailable. */
function cacheDir(): string | undefined {
  if (process.env.TSBPF_CODE_CACHE === "0") return undefined;
  try {
    const dir = join(tsbpfCacheDir(), "v8");
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  } catch {
    return undefined;
  }
}

type Compile = (this: Module & { require(id: string): unknown }, content: string, filename: string) => unknown;

/**
 * `require(id)` resolved from `from` (a file URL or path), compiling the files under the package's directory through
 * the code cache. Other files (its dependencies) load as usual.
 */
export function requireWithCodeCache(from: string, id: string): unknown {
  const load = createRequire(from);
  const dir = cacheDir();
  if (!dir) return load(id);
  const pkgDir = dirname(load.resolve(id));
  const proto = (Module as unknown as { prototype: { _compile: Compile } }).prototype;
  const original = proto._compile;
  const toWrite: Array<{ file: string; script: Script }> = [];
  proto._compile = function (content, filename) {
    if (!filename.startsWith(pkgDir)) return original.call(this, content, filename);
    let file: string;
    let cachedData: Buffer | undefined;
    try {
      const st = statSync(filename);
      file = join(dir, `${basename(filename)}-${st.size}-${Math.trunc(st.mtimeMs)}-${process.version}.cache`);
    } catch {
      return original.call(this, content, filename);
    }
    try {
      cachedData = readFileSync(file);
    } catch {
      cachedData = undefined;
    }
    const script = new Script((Module as unknown as { wrap(s: string): string }).wrap(content), { filename, cachedData });
    if (cachedData === undefined || script.cachedDataRejected) toWrite.push({ file, script });
    const fn = script.runInThisContext() as (exports: unknown, require: unknown, module: unknown, filename: string, dirname: string) => unknown;
    const mod = this as Module & { require(id: string): unknown; exports: unknown };
    const req = createRequire(filename);
    return fn.call(mod.exports, mod.exports, req, mod, filename, dirname(filename));
  };
  try {
    return load(id);
  } finally {
    proto._compile = original;
    if (toWrite.length) {
      // At exit, so the data includes the functions this run compiled (the checker, the parser...).
      process.once("exit", () => {
        for (const { file, script } of toWrite) {
          try {
            const tmp = `${file}.${process.pid}.tmp`;
            writeFileSync(tmp, script.createCachedData(), { mode: 0o600 });
            renameSync(tmp, file);
          } catch {
            // A cache that cannot be written costs only time.
          }
        }
      });
    }
  }
}
