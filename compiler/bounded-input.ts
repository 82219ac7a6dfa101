/**
 * Bounded input for the CLI and the compiler: files are checked before they are read (a regular file, not larger
 * than a cap; `/dev/zero` or a FIFO would otherwise be read forever) and read no further than the cap even when the
 * size the file system reports is wrong (procfs); JSON is refused above a size and a nesting depth (JSON.parse recurses,
 * so `[[[[...` a million deep overflows the stack); names taken from input are escaped before they are printed.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";

/** Largest object file read (64 MiB): a 1M-instruction program (the kernel's limit) is 8 MiB, BTF at most 16 MiB. */
export const MAX_OBJECT_BYTES = 64 << 20;
/** Largest TypeScript source read (8 MiB). */
export const MAX_SOURCE_BYTES = 8 << 20;
/** Largest JSON input (--ctx, --maps; 16 MiB). */
export const MAX_JSON_BYTES = 16 << 20;
/** Deepest JSON nesting accepted (a map value is a struct of arrays at most a few levels deep). */
export const MAX_JSON_DEPTH = 64;

/** An input refused before or while reading it; `code` is the errno-like reason (ENOENT, EISDIR, ENOTREG, EFBIG...). */
export class InputError extends Error {
  override name = "InputError";
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/**
 * Reads `path` if it is a regular file of at most `maxBytes` bytes. The checks are made on the opened descriptor
 * (opened non-blocking, so a FIFO without a writer cannot hang the open), and reading stops past maxBytes whatever
 * size the file system reported (procfs files report 0).
 */
export function readBoundedFile(path: string, maxBytes: number): Uint8Array {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "EIO";
    throw new InputError(code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code, code);
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new InputError("is a directory", "EISDIR");
    if (!st.isFile()) throw new InputError("not a regular file (a device, FIFO or socket could be read without end)", "ENOTREG");
    const tooBig = (): InputError => new InputError(`more than the limit of ${maxBytes} bytes`, "EFBIG");
    if (st.size > maxBytes) throw tooBig();
    const chunks: Uint8Array[] = [];
    let total = 0;
    const chunkSize = Math.max(st.size + 1, 64 * 1024);
    for (;;) {
      const buf = new Uint8Array(Math.min(chunkSize, maxBytes + 1 - total));
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      total += n;
      if (total > maxBytes) throw tooBig();
    }
    if (chunks.length === 1) return chunks[0]!;
    const out = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

/** readBoundedFile as UTF-8 text. */
export function readBoundedText(path: string, maxBytes: number): string {
  return new TextDecoder().decode(readBoundedFile(path, maxBytes));
}

/**
 * JSON.parse with limits: at most MAX_JSON_BYTES characters and MAX_JSON_DEPTH levels of nesting, checked by a scan
 * before parsing. Throws InputError (code EFBIG or EDEPTH) or the SyntaxError of JSON.parse.
 */
export function parseBoundedJson(text: string, maxBytes = MAX_JSON_BYTES, maxDepth = MAX_JSON_DEPTH): unknown {
  if (text.length > maxBytes) throw new InputError(`${text.length} characters, more than the limit of ${maxBytes}`, "EFBIG");
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) throw new InputError(`nested more than ${maxDepth} levels deep`, "EDEPTH");
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return JSON.parse(text);
}

/**
 * A message that may quote names from an object (a map, a section, a symbol), safe to print as one line: control
 * characters (newlines, escape sequences) become \uXXXX escapes; tabs and everything else are kept (source lines
 * quoted from line info are indented with tabs, and llvm-objdump prints them as they are).
 */
export function printableText(text: string): string {
  return text.replace(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/**
 * `name` as it may be printed on a terminal or in a one-line report: JSON string escapes for control characters,
 * backslashes, quotes and anything outside printable ASCII, so a program or map name cannot fake a line of output
 * ("x: accepted\n...") or send terminal escape sequences. Plain identifiers come back unchanged.
 */
export function printableName(name: string): string {
  return /^[\x21-\x7e]*$/.test(name) && !/["\\]/.test(name) ? name : JSON.stringify(name).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
