/**
 * The table behind hash maps and SOCKHASH: fixed-size byte keys in an open-addressing hash table of typed arrays.
 * A key is hashed and compared as little-endian 32-bit words read straight from the caller's bytes (the program's
 * stack, for a lookup), so finding an entry allocates nothing. Entries also form a doubly linked list in insertion
 * order, which `touch` turns into recency order for LRU maps: iteration and the LRU victim come from that list.
 * Deletions leave tombstones; the table is rebuilt (in list order) when live entries and tombstones fill half of it.
 */

const EMPTY = 0;
const FULL = 1;
const DELETED = 2;
/** No slot (list ends, a failed search). */
export const NO_SLOT = -1;

/** An open-addressing table from `keySize`-byte keys to values of type V. */
export class KeyTable<V> {
  /** Key words per entry (the key's bytes, zero-padded to whole words). */
  private readonly words: number;

  /** The memory `view` reads, and the last key buffer with its offset in that memory (see load). */
  private viewOf: ArrayBufferLike | null = null;
  private lastBuf: Uint8Array | null = null;
  private lastBase = 0;
  private view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
  /** The key being searched for, as words (reused: no allocation per search). */
  private readonly probe: Int32Array;
  private cap = 0;
  private mask = 0;
  private state = new Uint8Array(0);
  private hashes = new Int32Array(0);
  private keys = new Int32Array(0);
  private prev = new Int32Array(0);
  private next = new Int32Array(0);
  private values: (V | undefined)[] = [];
  private head = NO_SLOT;
  private tail = NO_SLOT;
  private tombstones = 0;
  /** Live entries. */
  size = 0;

  constructor(readonly keySize: number) {
    this.words = (keySize + 3) >> 2;

    this.probe = new Int32Array(this.words);
    this.resize(16);
  }

  /**
   * Loads the `keySize` bytes at `buf[off..]` into `probe`, keeping only their first `bits` bits (most significant
   * bit of each byte first, as LPM keys count them; the rest read as zero), and returns their hash.
   */
  private load(buf: Uint8Array, off: number, bits: number): number {
    const probe = this.probe;
    const words = this.words;
    const size = this.keySize;
    // Whole words through a DataView (a third faster than four byte loads, measured). The view of the last buffer's
    // memory is kept: a program's lookups all read its stack, and helper keys are views of the same memory.
    // Reading .buffer and .byteOffset costs more than the lookup itself, so the last Uint8Array is remembered too.
    if (buf !== this.lastBuf) {
      this.lastBuf = buf;
      this.lastBase = buf.byteOffset;
      if (buf.buffer !== this.viewOf) {
        this.viewOf = buf.buffer;
        this.view = new DataView(buf.buffer);
      }
    }
    const view = this.view;
    const base = this.lastBase;
    let h = size;
    for (let w = 0, at = off; w < words; w++, at += 4) {
      let word =
        at + 4 <= off + size
          ? view.getInt32(base + at, true)
          : buf[at]! | (at + 1 < off + size ? buf[at + 1]! << 8 : 0) | (at + 2 < off + size ? buf[at + 2]! << 16 : 0);
      const left = bits - w * 32;
      if (left < 32) word &= left <= 0 ? 0 : wordMask(left);
      probe[w] = word;
      h = Math.imul(h ^ word, 0x9e3779b1);
      h ^= h >>> 15;
    }
    h = Math.imul(h, 0x85ebca6b);
    return h ^ (h >>> 13);
  }

  /** Whether the key at `slot` equals `probe`. */
  private same(slot: number): boolean {
    const keys = this.keys;
    const probe = this.probe;
    const words = this.words;
    const base = slot * words;
    for (let w = 0; w < words; w++) if (keys[base + w] !== probe[w]) return false;
    return true;
  }

  /**
   * The slot of the entry with the `keySize` bytes at `buf[off..]` as key, or NO_SLOT. With `bits`, only the first
   * `bits` bits of those bytes count and the rest read as zero (an LPM lookup of one prefix length, without a copy).
   */
  find(buf: Uint8Array, off: number, bits = 0x7fffffff): number {
    const h = this.load(buf, off, bits);
    const mask = this.mask;
    const state = this.state;
    const hashes = this.hashes;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const s = state[i];
      if (s === EMPTY) return NO_SLOT;
      if (s === FULL && hashes[i] === h && this.same(i)) return i;
    }
  }

  /** Adds an entry for the key at `buf[off..]`, which must not be present, at the end of the order; its slot. */
  insert(buf: Uint8Array, off: number, value: V): number {
    if ((this.size + this.tombstones + 1) * 2 > this.cap) this.resize(Math.max(16, this.cap * (this.size * 4 >= this.cap ? 2 : 1)));
    const h = this.load(buf, off, 0x7fffffff);
    const mask = this.mask;
    let i = h & mask;
    while (this.state[i] === FULL) i = (i + 1) & mask;
    if (this.state[i] === DELETED) this.tombstones--;
    this.place(i, h, this.probe, 0, value);
    return i;
  }

  /** Writes an entry into the free slot `i` and appends it to the order. */
  private place(i: number, h: number, key: Int32Array, keyAt: number, value: V): void {
    this.state[i] = FULL;
    this.hashes[i] = h;
    // By hand: a subarray to set() from allocates, per insert (a program that inserts and deletes on every run).
    const keys = this.keys;
    const words = this.words;
    for (let w = 0, to = i * words; w < words; w++) keys[to + w] = key[keyAt + w]!;
    this.values[i] = value;
    this.prev[i] = this.tail;
    this.next[i] = NO_SLOT;
    if (this.tail === NO_SLOT) this.head = i;
    else this.next[this.tail] = i;
    this.tail = i;
    this.size++;
  }

  /** Removes the entry at `slot`. */
  removeAt(slot: number): void {
    this.unlink(slot);
    this.state[slot] = DELETED;
    this.values[slot] = undefined;
    this.tombstones++;
    this.size--;
  }

  private unlink(slot: number): void {
    const p = this.prev[slot]!;
    const n = this.next[slot]!;
    if (p === NO_SLOT) this.head = n;
    else this.next[p] = n;
    if (n === NO_SLOT) this.tail = p;
    else this.prev[n] = p;
  }

  /** Moves the entry at `slot` to the end of the order (most recently used). */
  touch(slot: number): void {
    if (slot === this.tail) return;
    this.unlink(slot);
    this.prev[slot] = this.tail;
    this.next[slot] = NO_SLOT;
    this.next[this.tail] = slot;
    this.tail = slot;
  }

  /** The first entry in order (the least recently used, for LRU maps), or NO_SLOT. */
  get first(): number {
    return this.head;
  }

  /** The entry after `slot` in order, or NO_SLOT. */
  after(slot: number): number {
    return this.next[slot]!;
  }

  /** The value at `slot`. */
  valueAt(slot: number): V {
    return this.values[slot] as V;
  }

  /** Replaces the value at `slot`. */
  setValueAt(slot: number, value: V): void {
    this.values[slot] = value;
  }

  /** A copy of the key bytes at `slot`. */
  keyAt(slot: number): Uint8Array {
    const words = this.keys.slice(slot * this.words, (slot + 1) * this.words);
    return new Uint8Array(words.buffer, 0, this.keySize).slice();
  }

  /** Rebuilds the table with `cap` slots (a power of two), keeping the order and dropping tombstones. */
  private resize(cap: number): void {
    const old = { state: this.state, hashes: this.hashes, keys: this.keys, next: this.next, values: this.values, head: this.head };
    this.cap = cap;
    this.mask = cap - 1;
    this.state = new Uint8Array(cap);
    this.hashes = new Int32Array(cap);
    this.keys = new Int32Array(cap * this.words);
    this.prev = new Int32Array(cap);
    this.next = new Int32Array(cap);
    this.values = new Array<V | undefined>(cap).fill(undefined);
    this.head = this.tail = NO_SLOT;
    this.size = 0;
    this.tombstones = 0;
    for (let s = old.head; s !== NO_SLOT; s = old.next[s]!) {
      const h = old.hashes[s]!;
      let i = h & this.mask;
      while (this.state[i] === FULL) i = (i + 1) & this.mask;
      this.place(i, h, old.keys, s * this.words, old.values[s] as V);
    }
  }
}

/**
 * The mask keeping the first `bits` (1..31) bits of a little-endian word whose bytes are read most significant bit
 * first: whole bytes from the low end, then the high bits of the next byte.
 */
function wordMask(bits: number): number {
  const whole = bits >> 3;
  const partial = (0xff00 >> (bits & 7)) & 0xff;
  return (whole === 0 ? 0 : whole === 4 ? -1 : (1 << (8 * whole)) - 1) | (partial << (8 * whole));
}
