/**
 * Instruction counts per program as llvm-objdump-16 prints them (a 16-byte `lddw` counts as one instruction), for
 * any BPF ELF object: ours or clang's. Function symbols come from the symbol table, so clang's local labels
 * (LBB0_3) inside a function do not start a new count.
 */
import { spawnSync } from "node:child_process";

/** llvm-objdump-16 is missing or failed. */
export class ObjdumpError extends Error {
  override name = "ObjdumpError";
}

function run(args: string[]): string {
  const r = spawnSync("llvm-objdump-16", args, { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.error) throw new ObjdumpError(`llvm-objdump-16 is not available (${r.error.message}); apt-get install llvm-16`);
  if (r.status !== 0) throw new ObjdumpError(`llvm-objdump-16 ${args.join(" ")} failed: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Why llvm-objdump-16 cannot be used here, or null. */
export function objdumpUnavailableReason(): string | null {
  const r = spawnSync("llvm-objdump-16", ["--version"], { encoding: "utf8" });
  return r.error || r.status !== 0 ? "llvm-objdump-16 is not installed (apt-get install llvm-16)" : null;
}

/** Instruction count of every function symbol in the object file at `path`, by symbol name. */
export function instructionCounts(path: string): Map<string, number> {
  const funcs = new Set<string>();
  for (const line of run(["-t", path]).split("\n")) {
    // e.g. "0000000000000000 g     F sk_lookup	00000000000000c8 redir_port"
    const m = /^[0-9a-f]+\s.*\sF\s+\S+\s+[0-9a-f]+\s+(\S+)$/.exec(line);
    if (m) funcs.add(m[1]!);
  }
  const counts = new Map<string, number>();
  let current: string | undefined;
  for (const line of run(["-d", "--no-show-raw-insn", path]).split("\n")) {
    const header = /^[0-9a-f]+ <(.+)>:$/.exec(line);
    if (header) {
      if (funcs.has(header[1]!)) current = header[1]!;
      continue;
    }
    if (/^Disassembly of section /.test(line)) current = undefined;
    if (current !== undefined && /^\s+\d+:\t/.test(line)) counts.set(current, (counts.get(current) ?? 0) + 1);
  }
  return counts;
}
