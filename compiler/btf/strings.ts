/** The BTF string section: NUL-terminated strings, offset 0 is always the empty string. */

/** A deduplicating string table: adding the same string twice returns the first offset. */
export class StringTable {
  private readonly offsets = new Map<string, number>([["", 0]]);
  private readonly chunks: Uint8Array[] = [new Uint8Array(1)];
  private length = 1;
  private readonly encoder = new TextEncoder();

  /** Offset of `s` in the table, adding it when new. */
  add(s: string): number {
    const known = this.offsets.get(s);
    if (known !== undefined) return known;
    const bytes = this.encoder.encode(s);
    const chunk = new Uint8Array(bytes.length + 1);
    chunk.set(bytes);
    const off = this.length;
    this.chunks.push(chunk);
    this.length += chunk.length;
    this.offsets.set(s, off);
    return off;
  }

  /** Total size in bytes. */
  get size(): number {
    return this.length;
  }

  /** The table's bytes. */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

/**
 * Reads the NUL-terminated string at `off` in `table`, or undefined when `off` is outside the table or the string is
 * not terminated inside it.
 */
export function readCString(table: Uint8Array, off: number): string | undefined {
  if (!Number.isInteger(off) || off < 0 || off >= table.length) return undefined;
  const end = table.indexOf(0, off);
  if (end < 0) return undefined;
  return new TextDecoder().decode(table.subarray(off, end));
}
