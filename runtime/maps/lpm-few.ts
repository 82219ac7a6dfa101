/**
 * Longest-prefix lookups in an LPM trie map that holds only a few prefixes (a dispatcher's bindings, a handful of
 * ranges): the prefixes as rows of 32-bit words, longest first, each compared with the key under its mask, so that the
 * first row that matches is the answer. The trie walk (lpm-trie.ts) reads a slot per nibble and then the leaf's key
 * bytes one by one through the record chunks; here a lookup compares whole words of the key with each row's.
 * PrefixTrie keeps the trie as the index of updates, deletes and iteration and consults this table for lookups while
 * the map holds at most FEW_MAX prefixes (plus the /0 prefix, which the trie keeps apart).
 *
 * Row layout (rowInts ints): [len, id, then (mask, data) for each of the words the prefix reaches], the data masked
 * to the prefix, words big-endian (the first data byte in the top bits, as prefixes count from its top bit).
 */

/** The most prefixes the table holds; beyond it a row-by-row scan costs more than the trie walk. */
export const FEW_MAX = 8;
/** The longest key data (bytes) the table takes (an IPv6 address with a protocol and a port fits). */
const FEW_DATA_MAX = 32;

/** A table of at most FEW_MAX prefixes, longest first (see the file comment). */
export class FewPrefixes {
  private readonly rowInts: number;
  private readonly rows: Int32Array;
  private count = 0;

  /**
   * Whether a map whose key data is `dataSize` bytes can use the table: a whole number of words (a lookup reads the
   * key a word at a time, and no byte past its data), at most FEW_DATA_MAX.
   */
  static fits(dataSize: number): boolean {
    return dataSize <= FEW_DATA_MAX && dataSize % 4 === 0;
  }

  constructor(dataSize: number) {
    const words = (dataSize + 3) >> 2;
    this.rowInts = 2 + 2 * words;
    this.rows = new Int32Array(FEW_MAX * this.rowInts);
  }

  /** Empties the table (before `add`ing the prefixes anew). */
  clear(): void {
    this.count = 0;
  }

  /**
   * Adds entry `id`, a prefix of `len` bits (0 < len) whose data is at `bytes[at..]`, after the rows at least as long
   * (the table holds fewer than FEW_MAX rows).
   */
  add(id: number, len: number, bytes: Uint8Array, at: number): void {
    const t = this.rows;
    const rowInts = this.rowInts;
    let r = 0;
    while (r < this.count && t[r * rowInts]! >= len) r++;
    const o = r * rowInts;
    t.copyWithin(o + rowInts, o, this.count * rowInts);
    t.fill(0, o, o + rowInts);
    t[o] = len;
    t[o + 1] = id;
    for (let w = 0; w * 32 < len; w++) {
      const bitsLeft = len - w * 32;
      const mask = bitsLeft >= 32 ? -1 : ~(-1 >>> bitsLeft);
      t[o + 2 + 2 * w] = mask;
      t[o + 3 + 2 * w] = wordAt(bytes, at + 4 * w) & mask;
    }
    this.count++;
  }

  /** Removes entry `id`'s row (if there is one). */
  remove(id: number): void {
    const t = this.rows;
    const rowInts = this.rowInts;
    for (let o = 0; o < this.count * rowInts; o += rowInts) {
      if (t[o + 1] !== id) continue;
      t.copyWithin(o, o + rowInts, this.count * rowInts);
      this.count--;
      return;
    }
  }

  /** The entry of the longest row of at most `limit` bits that the data at `buf[at..]` starts with, or 0. */
  find(buf: Uint8Array, at: number, limit: number): number {
    const t = this.rows;
    const rowInts = this.rowInts;
    const count = this.count;
    // The key's words are read again for each row (each row reads only the words its prefix reaches): measured, that
    // costs less than assembling them once into an array, at the one or two rows of a dispatcher.
    for (let r = 0, o = 0; r < count; r++, o += rowInts) {
      const len = t[o]!;
      if (len > limit) continue;
      let p = o + 2;
      let w = 0;
      for (; w * 32 < len; w++, p += 2) if (((wordAt(buf, at + 4 * w) ^ t[p + 1]!) & t[p]!) !== 0) break;
      if (w * 32 >= len) return t[o + 1]!;
    }
    return 0;
  }
}

/** The big-endian word at `b[at..at + 3]`. */
const wordAt = (b: Uint8Array, at: number): number => (b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!;
