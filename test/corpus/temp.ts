/** Scratch files for tests that hand objects to command-line tools (bpftool, llvm-objdump). */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Writes `bytes` to a fresh temp file named `name`, runs `fn` with its path, then removes it. */
export async function withTempFile<T>(bytes: Uint8Array, name: string, fn: (path: string) => Promise<T> | T): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-corpus-"));
  try {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    return await fn(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
