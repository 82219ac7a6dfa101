/**
 * `tsbpf build --watch`: build once, then rebuild whenever the source file changes, in the same process. The front
 * end keeps the lib and the stdlib parsed and bound between builds (frontend/project.ts), so a rebuild only parses,
 * checks and compiles the edited file: each rebuild prints how long it took.
 */
import { watch, type FSWatcher } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import type { CliIO } from "./build.ts";

/** One build of the watched file: returns true when the object was written. */
export type BuildOnce = () => Promise<boolean>;

/** What {@link watchBuild} reports after each build (tests and the bench wait on it). */
export interface WatchEvents {
  /** After every build, the first included: whether it wrote the object, and its duration. */
  onBuild?(ok: boolean, ms: number): void;
}

/**
 * Builds `file` now and after each change until `signal` aborts (Ctrl-C in the CLI); resolves to the exit code of
 * the last build. The directory is watched, not the file: editors that save by renaming a new file over the old one
 * would otherwise end the watch.
 */
export async function watchBuild(file: string, buildOnce: BuildOnce, io: CliIO, signal: AbortSignal, events: WatchEvents = {}): Promise<number> {
  let ok = false;
  let running = false;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  const rebuild = async (first: boolean) => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    do {
      again = false;
      const t0 = performance.now();
      ok = await buildOnce();
      const ms = performance.now() - t0;
      io.stderr(`${first ? "built" : "rebuilt"} in ${ms.toFixed(0)} ms; watching ${file} for changes (Ctrl-C stops)\n`);
      events.onBuild?.(ok, ms);
      first = false;
    } while (again);
    running = false;
  };
  // Watching starts before the first build, so an edit made during it is not missed.
  const name = basename(file);
  let watcher: FSWatcher;
  try {
    watcher = watch(dirname(resolve(file)), (_event, changed) => {
      if (changed !== null && changed !== name) return;
      // Editors write in several steps (truncate, write, rename): one rebuild after they settle.
      clearTimeout(timer);
      timer = setTimeout(() => void rebuild(false), 30);
    });
  } catch (err) {
    io.stderr(`tsbpf build: cannot watch '${file}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
    return 1;
  }
  await rebuild(true);
  if (!signal.aborted) await new Promise<void>((done) => signal.addEventListener("abort", () => done(), { once: true }));
  clearTimeout(timer);
  watcher.close();
  return ok ? 0 : 1;
}
