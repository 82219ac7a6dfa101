/**
 * The handler objects the e2e scenarios load. The range handler is TypeScript compiled by our compiler
 * (handlers/range.ts) when `compiler/index.ts` can build it; until then (or if it fails) an equivalent program
 * assembled with the shared builders is used, and `source` says which one ran.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ObjectFile } from "../../compiler/elf/object.ts";
import { cidr4Program, selectObject } from "../kernel/asm-objects.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "..", "..");

/** An object to load, the program to attach and where it came from. */
export interface Handler {
  object: ObjectFile;
  program: string;
  source: "tsbpf compiler" | "assembled";
}

/**
 * Compiles `file` with our compiler and reads it back as an ObjectFile; null only when the compiler or the reader is
 * not in the tree. A file that fails to compile throws with the diagnostics.
 */
export async function compileTs(file: string): Promise<ObjectFile | null> {
  const compilerPath = join(ROOT, "compiler/index.ts");
  const readerPath = join(ROOT, "compiler/elf/reader.ts");
  if (!existsSync(compilerPath) || !existsSync(readerPath)) return null;
  // Imported by path so this file type-checks before those modules exist.
  const { compile } = (await import(compilerPath)) as {
    compile(o: { fileName: string }): { object?: Uint8Array; diagnostics: Array<{ message?: string; category?: string }> };
  };
  const { readObject } = (await import(readerPath)) as { readObject(b: Uint8Array): ObjectFile };
  const out = compile({ fileName: file });
  if (!out.object || out.object.length === 0) {
    throw new Error(`${file} did not compile: ${out.diagnostics.map((d) => d.message ?? JSON.stringify(d)).join("; ")}`);
  }
  return readObject(out.object);
}

/** IPv4 TCP to any port of 127.0.2.0/24 → `sockets[0]` (program `serve_range`). */
export async function rangeObject(): Promise<Handler> {
  const compiled = process.env.TSBPF_E2E_ASM === "1" ? null : await compileTs(join(HERE, "handlers/range.ts"));
  if (compiled) return { object: compiled, program: "serve_range", source: "tsbpf compiler" };
  return { object: selectObject(cidr4Program("serve_range", "127.0.2.0/24")), program: "serve_range", source: "assembled" };
}
