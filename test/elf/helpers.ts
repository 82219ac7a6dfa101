/** Shared helpers of the ELF tests: temporary directories, unique bpffs pin paths, running tools. */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

let counter = 0;

/** A fresh temporary directory, removed by the returned cleanup. */
export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-elf-"));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A bpffs path no other test (or concurrent run) uses. */
export const uniquePin = (tag: string): string => `/sys/fs/bpf/tsbpf_elf_${tag}_${process.pid}_${++counter}`;

/** Runs a command; returns status, stdout, stderr (never throws on a non-zero exit). */
export function run(cmd: string, args: string[], opts: { cwd?: string } = {}): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8", cwd: opts.cwd });
  return { status: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** Runs a command that must succeed; returns stdout. */
export const ok = (cmd: string, args: string[], opts: { cwd?: string } = {}): string =>
  execFileSync(cmd, args, { encoding: "utf8", cwd: opts.cwd, stdio: ["ignore", "pipe", "pipe"] });

/** A committed clang fixture object. */
export const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../fixtures/elf/${name}`, import.meta.url)));
