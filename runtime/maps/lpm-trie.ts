/**
 * The structure behind the VM's LPM trie map: a multibit trie over the key data in 4-bit strides (nibbles, most
 * significant first), in one Int32Array, holding entry ids (1..; 0 = none). It is the map's only index: exact finds
 * (update, delete), longest-prefix lookups and iteration in the kernel's order all walk it, and inserts and deletes
 * change it in place. The entries' keys live in the map's record chunks (see lpm.ts), which the trie reads. While
 * the map holds at most FEW_MAX prefixes, lookups scan a table of them instead (lpm-few.ts).
 *
 * Node layout (NODE_INTS ints per node; a node is named by its offset in `n`, the root is offset 0):
 * - `n[node + 2s]`, s = 0..15: the slot of nibble s: a child node's offset (> 0), a leaf (-id: the prefixes below
 *   this slot, one or two (the second linked from the first's record), checked against the key's remaining bits,
 *   instead of a node), or 0;
 * - `n[node + 2s + 1]`: the longest prefix ending in this node that covers nibble s (controlled prefix expansion),
 *   so a lookup step that consumes a whole nibble reads its best match from the same cache line as the child;
 * - `n[node + EXACT + pos]`, pos = (1 << q) | bits for q = 1..3: the prefix ending q bits into this node's nibble
 *   (needed for deletes, for keys whose length ends inside a nibble, and for iteration). A prefix ending on the
 *   nibble boundary (q = 4) is the slot's best match itself, as nothing longer ends in the node;
 * - `n[node + FILL]`: how many slots and prefixes the node holds (an empty node is freed, a node left holding a
 *   single leaf gives it back to its parent), `n[node + LINK]`: the free list.
 * A prefix of L > 0 bits ends in the node reached by its first floor((L - 1) / 4) nibbles; the /0 prefix is `root`.
 *
 * Measured at a million IPv4 prefixes (npm run bench, section e): ~200 bytes a node; with leaves of one prefix 0.23
 * nodes a prefix, half of them holding just two, which leaves of two prefixes replace. Per-length hash tables beside
 * the trie had cost ~60 MiB more. A path-compressed binary trie (the kernel's layout) takes less memory but needs ~25
 * dependent steps, each comparing data, per lookup.
 */

/** Ints per node: 16 (child, best) pairs, then the exact-prefix area, whose positions 0 and 1 hold FILL and LINK. */
const NODE_INTS = 48;
/** Bytes of one node, charged to the map memory while it is in use (see `reserve`). */
export const NODE_BYTES = NODE_INTS * 4;
const EXACT = 32;
const FILL = EXACT;
const LINK = EXACT + 1;

/** Entries per key chunk (the map's storage unit; a chunk never moves). */
export const CHUNK_BITS = 10;
/** CHUNK_BITS as a count. */
export const CHUNK = 1 << CHUNK_BITS;

/** Where entry `id`'s record of `stride` bytes starts in its chunk (`chunks[id >> CHUNK_BITS]`). */
export const recordAt = (id: number, stride: number): number => (id & (CHUNK - 1)) * stride;

import { FEW_MAX, FewPrefixes } from "./lpm-few.ts";

/** Where `locate` found a prefix (what `remove` undoes). */
const enum Place {
  None,
  Root,
  Leaf,
  Slot,
  Inner,
}

/** How the next lookup finds its prefix. */
const enum LookupBy {
  /** Walking the trie (from the skipped path's end). */
  Walk,
  /** Scanning the few-prefix table. */
  Few,
  /** Either, once the table or the skipped path is brought up to date after a change. */
  Changed,
}

/** A multibit trie of prefixes (see the file comment). */
export class PrefixTrie {
  private n = new Int32Array(NODE_INTS * 16);
  /** Offset just past the last node ever made. */
  private top = NODE_INTS;
  /** First free node (0: none; the root is never freed). */
  private freeList = 0;
  /** The /0 prefix's entry. */
  private root = 0;
  /** The walk `locate` made: node and slot at each depth (what `remove` climbs back). */
  private readonly pathNode: Int32Array;
  private readonly pathSlot: Int32Array;
  private place = Place.None;
  private placeNode = 0;
  private placeIndex = 0;
  private placeDepth = 0;
  /** The entry located (for a leaf of two, which one). */
  private placeId = 0;
  /**
   * The start of a lookup: nodes from the root that hold a single child node and nothing else (the part every stored
   * prefix shares, such as the protocol and port in front of the addresses of the bench's keys) are skipped at once
   * after comparing the key with `skipFrom`'s data. Recomputed on the first lookup after a change that may have
   * altered that path (not after inserts below it, so that updates between lookups stay cheap).
   */
  private skipNode = 0;
  private skipDepth = 0;
  private skipFrom = 0;
  private skipStale = true;
  /** Prefixes stored, the /0 one aside. */
  private stored = 0;
  /**
   * Lookups while at most `fewLimit` prefixes are stored (the /0 one aside) scan this table instead of walking the
   * trie (null when the key data does not fit it). Inserts and removals change it in place while it is in use; it is
   * refilled from the trie on the first lookup after a removal brings the count down to `fewLimit`.
   */
  private readonly few: FewPrefixes | null;
  private fewLimit = FEW_MAX;
  /** One field for the lookup to test, so that walks of big tries pay a single check for the table. */
  private lookupBy = LookupBy.Changed;

  constructor(
    /**
     * The map's record chunks (the list itself, which grows in place): entry id → its record, `stride` bytes at
     * (id % CHUNK) * stride of chunk id / CHUNK, starting with its key (u32 prefix length, then the data), with the
     * trie's u32 link to the other prefix of its leaf at `linkAt`.
     */
    private readonly keyChunks: Uint8Array[],
    private readonly stride: number,
    private readonly linkAt: number,
    dataSize: number,
    /**
     * What nodes are charged to (the loaded object's map memory). Random prefixes take ~0.1 nodes each, but prefixes
     * that share long paths take up to one node per nibble of the path (three /128 IPv6 keys that differ in their last
     * nibble: 31 nodes, 6 KB), which the kernel's per-element charge does not cover: without a budget, a program could
     * fill a Node process.
     */
    private readonly budget?: { charge(bytes: number): boolean; release(bytes: number): void },
  ) {
    const depth = (dataSize * 8) / 4 + 1;
    this.pathNode = new Int32Array(depth);
    this.pathSlot = new Int32Array(depth);
    this.few = FewPrefixes.fits(dataSize) ? new FewPrefixes(dataSize) : null;
  }

  /** Bytes the trie holds (its node array). */
  get bytes(): number {
    return this.n.byteLength;
  }

  /** The chunk that holds entry `id`'s record. */
  private chunkOf(id: number): Uint8Array {
    return this.keyChunks[id >> CHUNK_BITS]!;
  }

  /** Where entry `id`'s key data (past the 4-byte prefix length) starts in {@link chunkOf}. */
  private dataAt(id: number): number {
    return recordAt(id, this.stride) + 4;
  }

  /** Entry `id`'s prefix length (the key's first 4 bytes, host order). */
  lenOf(id: number): number {
    const c = this.chunkOf(id);
    const at = recordAt(id, this.stride);
    return (c[at]! | (c[at + 1]! << 8) | (c[at + 2]! << 16) | (c[at + 3]! << 24)) >>> 0;
  }

  /** The second prefix of the leaf entry `id` comes first in (else 0). */
  private linkOf(id: number): number {
    const c = this.chunkOf(id);
    const at = recordAt(id, this.stride) + this.linkAt;
    return c[at]! | (c[at + 1]! << 8) | (c[at + 2]! << 16) | (c[at + 3]! << 24);
  }

  private setLink(id: number, to: number): void {
    const c = this.chunkOf(id);
    const at = recordAt(id, this.stride) + this.linkAt;
    c[at] = to;
    c[at + 1] = to >> 8;
    c[at + 2] = to >> 16;
    c[at + 3] = to >> 24;
  }

  /** A zeroed node's offset. */
  private newNode(): number {
    let node = this.freeList;
    if (node !== 0) {
      this.freeList = this.n[node + LINK]!;
      this.n[node + LINK] = 0;
      return node;
    }
    node = this.top;
    if (node + NODE_INTS > this.n.length) {
      // Grow by a quarter: doubling a 40 MiB array would leave up to 20 MiB unused (copying costs less than the fill).
      const bigger = new Int32Array(Math.ceil((this.n.length * 1.25) / NODE_INTS) * NODE_INTS);
      bigger.set(this.n);
      this.n = bigger;
    }
    this.top += NODE_INTS;
    return node;
  }

  private freeNode(node: number): void {
    this.budget?.release(NODE_BYTES);
    this.n.fill(0, node, node + NODE_INTS);
    this.n[node + LINK] = this.freeList;
    this.freeList = node;
  }

  /**
   * Whether the first `len` bits of entry `id`'s data equal those of `buf[at..]`, given that its bytes before `from`
   * already do (the walk that reached it consumed them).
   */
  private sameBits(id: number, len: number, buf: Uint8Array, at: number, from: number): boolean {
    const data = this.chunkOf(id);
    const base = this.dataAt(id);
    let b = from;
    for (; (b + 1) * 8 <= len; b++) if (data[base + b] !== buf[at + b]) return false;
    const rest = len - b * 8;
    return rest === 0 || ((data[base + b]! ^ buf[at + b]!) & (0xff00 >> rest) & 0xff) === 0;
  }

  /**
   * The entry of the stored prefix of exactly `len` bits that the data at `buf[at..]` starts with, or 0. Remembers
   * where it was (and the walk there), for `remove`.
   */
  locate(buf: Uint8Array, at: number, len: number): number {
    const n = this.n;
    this.place = Place.None;
    if (len === 0) {
      this.place = this.root === 0 ? Place.None : Place.Root;
      return this.root;
    }
    let node = 0;
    let j = 0;
    for (; len - 4 * j > 4; j++) {
      const s = nibble(buf, at, j);
      this.pathNode[j] = node;
      this.pathSlot[j] = s;
      const k = n[node + 2 * s]!;
      if (k > 0) {
        node = k;
        continue;
      }
      for (let e = -k; e > 0; e = this.linkOf(e)) {
        if (this.lenOf(e) === len && this.sameBits(e, len, buf, at, j >> 1)) {
          this.setPlace(Place.Leaf, node, s, j);
          this.placeId = e;
          return e;
        }
      }
      return 0;
    }
    const q = len - 4 * j;
    const nib = nibble(buf, at, j);
    if (q === 4) {
      const e = n[node + 2 * nib + 1]!;
      if (e === 0 || this.lenOf(e) !== len) return 0;
      this.setPlace(Place.Slot, node, nib, j);
      return e;
    }
    const pos = (1 << q) | (nib >> (4 - q));
    const e = n[node + EXACT + pos]!;
    if (e !== 0) this.setPlace(Place.Inner, node, pos, j);
    return e;
  }

  private setPlace(place: Place, node: number, index: number, depth: number): void {
    this.place = place;
    this.placeNode = node;
    this.placeIndex = index;
    this.placeDepth = depth;
  }

  /**
   * Charges the budget for the nodes that inserting the prefix of `len` bits at `buf[at..]` (not stored yet) will
   * make: one per nibble it shares with the leaf in its way, past the slot where they meet. False, charging nothing,
   * when they do not fit.
   */
  reserve(buf: Uint8Array, at: number, len: number): boolean {
    if (this.budget === undefined || len === 0) return true;
    const n = this.n;
    let node = 0;
    let j = 0;
    let made = 0;
    for (; len - 4 * j > 4; j++) {
      const k = n[node + 2 * nibble(buf, at, j)]!;
      if (k > 0) {
        node = k;
        continue;
      }
      if (k === 0) break;
      const a = -k;
      const b = this.linkOf(a);
      if (b === 0) break; // the leaf takes a second prefix
      // A full leaf moves down a level with each node made, while its two prefixes and the new one all go on past the
      // node's nibble and agree on it (insertAt's loop): otherwise they fit the new node's slots, two at most a slot.
      const aData = this.chunkOf(a);
      const aAt = this.dataAt(a);
      const bData = this.chunkOf(b);
      const bAt = this.dataAt(b);
      const aLen = this.lenOf(a);
      const bLen = this.lenOf(b);
      for (;;) {
        made++;
        j++;
        if (len - 4 * j <= 4 || aLen - 4 * j <= 4 || bLen - 4 * j <= 4) break;
        const nib = nibble(buf, at, j);
        if (nibble(aData, aAt, j) !== nib || nibble(bData, bAt, j) !== nib) break;
      }
      break;
    }
    return made === 0 || this.budget.charge(made * NODE_BYTES);
  }

  /** Adds entry `id` (a prefix of `len` bits not stored yet, `reserve`d; its key is in the key chunks). */
  insert(id: number, len: number): void {
    if (len === 0) {
      this.root = id;
      return;
    }
    // The few-prefix table in use takes the prefix at once (a small map updated between lookups is not refilled).
    if (++this.stored <= this.fewLimit && this.lookupBy === LookupBy.Few) this.addToFew(id);
    else this.lookupBy = LookupBy.Changed;
    // A prefix that follows the skipped path to its end goes in below it and leaves the path as it is.
    const skip = this.skipDepth;
    if (!this.skipStale && (skip === 0 || len <= 4 * skip || !this.samePath(this.chunkOf(id), this.dataAt(id), skip))) {
      this.skipStale = true;
    }
    this.insertAt(id, len, 0, 0);
  }

  /** Adds entry `id` below `node` at nibble depth `j`; a leaf in the way moves one level down. */
  private insertAt(id: number, len: number, node: number, j: number): void {
    const data = this.chunkOf(id);
    const at = this.dataAt(id);
    let n = this.n;
    this.setLink(id, 0);
    for (; len - 4 * j > 4; j++) {
      const slot = node + 2 * nibble(data, at, j);
      const k = n[slot]!;
      if (k === 0) {
        n[slot] = -id;
        n[node + FILL]!++;
        return;
      }
      if (k < 0) {
        const second = this.linkOf(-k);
        if (second === 0) {
          this.setLink(id, -k);
          n[slot] = -id;
          return;
        }
        // A full leaf: a node takes its place, its two prefixes go into the node, and the new one goes on there.
        const fresh = this.newNode();
        n = this.n;
        n[slot] = fresh;
        this.insertAt(-k, this.lenOf(-k), fresh, j + 1);
        this.insertAt(second, this.lenOf(second), fresh, j + 1);
        node = fresh;
        continue;
      }
      node = k;
    }
    const q = len - 4 * j;
    const bits = nibble(data, at, j) >> (4 - q);
    n[node + FILL]!++;
    if (q === 4) {
      n[node + 2 * bits + 1] = id;
      return;
    }
    n[node + EXACT + ((1 << q) | bits)] = id;
    const first = bits << (4 - q);
    for (let s = first; s < first + (1 << (4 - q)); s++) {
      const cur = n[node + 2 * s + 1]!;
      if (cur === 0 || this.lenOf(cur) < len) n[node + 2 * s + 1] = id;
    }
  }

  /** Removes the entry the last successful `locate` found (nothing may change the trie in between). */
  remove(): void {
    const n = this.n;
    const node = this.placeNode;
    const index = this.placeIndex;
    switch (this.place) {
      case Place.None:
        throw new Error("PrefixTrie.remove without a located entry");
      case Place.Root:
        this.root = 0;
        this.place = Place.None;
        return;
      case Place.Leaf: {
        this.dropFromFew(this.placeId);
        const head = -n[node + 2 * index]!;
        const other = this.linkOf(head);
        if (other !== 0) {
          // A leaf of two keeps the other prefix: the node holds as many things as before.
          n[node + 2 * index] = -(head === this.placeId ? other : head);
          this.setLink(head, 0);
          this.place = Place.None;
          return;
        }
        n[node + 2 * index] = 0;
        break;
      }
      case Place.Slot:
        this.dropFromFew(n[node + 2 * index + 1]!);
        n[node + 2 * index + 1] = this.innerCovering(node, index, 4);
        break;
      case Place.Inner: {
        const id = n[node + EXACT + index]!;
        this.dropFromFew(id);
        n[node + EXACT + index] = 0;
        const q = 31 - Math.clz32(index);
        const first = (index & ((1 << q) - 1)) << (4 - q);
        for (let s = first; s < first + (1 << (4 - q)); s++) {
          if (n[node + 2 * s + 1] === id) n[node + 2 * s + 1] = this.innerCovering(node, s, q);
        }
        break;
      }
    }
    // A removal where the skipped path ends may leave that node a single child's: the path can grow.
    if (this.placeDepth <= this.skipDepth) this.skipStale = true;
    n[node + FILL]!--;
    this.prune(node, this.placeDepth);
    this.place = Place.None;
  }

  /** Counts entry `id` (not the /0 prefix) out, and takes it out of the few-prefix table in use. */
  private dropFromFew(id: number): void {
    this.stored--;
    if (this.lookupBy === LookupBy.Few) this.few!.remove(id);
    else this.lookupBy = LookupBy.Changed;
  }

  /** The longest prefix of fewer than `below` bits ending in `node` that covers nibble `s`, or 0. */
  private innerCovering(node: number, s: number, below: number): number {
    for (let q = below - 1; q >= 1; q--) {
      const e = this.n[node + EXACT + ((1 << q) | (s >> (4 - q)))]!;
      if (e !== 0) return e;
    }
    return 0;
  }

  /**
   * After a removal in `node` (at nibble depth `j`): frees it when empty, gives its single leaf back to the parent's
   * slot when that is all it holds, and goes on up while that changed the parent.
   */
  private prune(node: number, j: number): void {
    const n = this.n;
    while (node !== 0) {
      const fill = n[node + FILL]!;
      let lifted = 0;
      if (fill === 1) {
        for (let s = 0; s < 16; s++) {
          const k = n[node + 2 * s]!;
          if (k < 0) lifted = k;
        }
        if (lifted === 0) return; // the one thing is a child node or a prefix ending here
      } else if (fill !== 0) return;
      if (j <= this.skipDepth) this.skipStale = true; // the skipped path ends in this node or runs through it
      const parent = this.pathNode[j - 1]!;
      n[parent + 2 * this.pathSlot[j - 1]!] = lifted;
      this.freeNode(node);
      if (lifted === 0) n[parent + FILL]!--;
      node = parent;
      j--;
    }
  }

  /** The entry of the longest stored prefix of at most `limit` bits that the data at `buf[at..]` starts with, or 0. */
  find(buf: Uint8Array, at: number, limit: number): number {
    if (this.lookupBy !== LookupBy.Walk) {
      if (this.lookupBy === LookupBy.Changed) this.refresh();
      if (this.lookupBy === LookupBy.Few) return this.few!.find(buf, at, limit) || this.root;
    }
    return this.walk(buf, at, limit);
  }

  /** `find` by walking the trie (kept apart so that `find` stays small enough to inline into the map's lookup). */
  private walk(buf: Uint8Array, at: number, limit: number): number {
    const n = this.n;
    let best = this.root;
    let node = 0;
    let j = 0;
    let rem = limit;
    const skip = this.skipDepth;
    if (skip !== 0) {
      // No prefix ends on the skipped path: a key that leaves it (or stops on it) matches only the /0 prefix.
      if (rem < 4 * skip || !this.samePath(buf, at, skip)) return best;
      node = this.skipNode;
      j = skip;
      rem -= 4 * skip;
    }
    for (; rem >= 4; j++, rem -= 4) {
      const byte = buf[at + (j >> 1)]!;
      const slot = node + ((j & 1) === 0 ? (byte >> 4) << 1 : (byte & 15) << 1);
      const v = n[slot + 1]!;
      if (v !== 0) best = v;
      const k = n[slot]!;
      if (k > 0) {
        node = k;
        continue;
      }
      // A leaf: the longest of its prefixes (all longer than best's) that the key has within its limit.
      if (k < 0) {
        let found = best;
        let foundLen = 0;
        for (let e = -k; e > 0; e = this.linkOf(e)) {
          const len = this.lenOf(e);
          if (len <= limit && len > foundLen && this.sameBits(e, len, buf, at, (j + 1) >> 1)) {
            found = e;
            foundLen = len;
          }
        }
        return found;
      }
      return best;
    }
    if (rem > 0) {
      const nib = nibble(buf, at, j);
      for (let q = rem; q > 0; q--) {
        const e = n[node + EXACT + ((1 << q) | (nib >> (4 - q)))]!;
        if (e !== 0) return e;
      }
    }
    return best;
  }

  /**
   * Whether the first `nibbles` nibbles of `buf[at..]` are those of the skipped path (skipFrom's data). Those bytes of
   * skipFrom's record stay the path's while the skip holds, even once that entry is deleted: its record is rewritten
   * only by an update of the same prefix or by an insert that reuses its id, which shares the path or makes it stale.
   */
  private samePath(buf: Uint8Array, at: number, nibbles: number): boolean {
    const data = this.chunkOf(this.skipFrom);
    const base = this.dataAt(this.skipFrom);
    const whole = nibbles >> 1;
    for (let b = 0; b < whole; b++) if (data[base + b] !== buf[at + b]) return false;
    return (nibbles & 1) === 0 || ((data[base + whole]! ^ buf[at + whole]!) & 0xf0) === 0;
  }

  /** Whether lookups scan the few-prefix table (what tests check). */
  private get fewOn(): boolean {
    return this.lookupBy === LookupBy.Few;
  }

  /**
   * After a change: the few-prefix table refilled when the number of prefixes stored lets lookups use it (see `few`),
   * else the skipped path recomputed if the change may have altered it.
   */
  private refresh(): void {
    if (this.few === null || this.stored > this.fewLimit) {
      if (this.skipStale) this.findSkip();
      this.lookupBy = LookupBy.Walk;
      return;
    }
    this.lookupBy = LookupBy.Few;
    this.few.clear();
    this.visitBits(0, 0, 1, this.addToFew);
  }

  /** Adds entry `id` to the few-prefix table (a function made once, for visitBits). */
  private readonly addToFew = (id: number): void => {
    this.few!.add(id, this.lenOf(id), this.chunkOf(id), this.dataAt(id));
  };

  /** Recomputes the skipped path (see skipNode). */
  private findSkip(): void {
    const n = this.n;
    let node = 0;
    let depth = 0;
    for (;;) {
      if (n[node + FILL] !== 1) break;
      let only = 0;
      for (let s = 0; s < 16; s++) only |= n[node + 2 * s]!;
      if (only <= 0) break; // a leaf or a prefix ending here
      node = only;
      depth++;
    }
    this.skipStale = false;
    this.skipDepth = depth;
    this.skipNode = node;
    this.skipFrom = depth === 0 ? 0 : this.anyBelow(node);
  }

  /** Some entry stored below `node` (every node holds one somewhere). */
  private anyBelow(node: number): number {
    const n = this.n;
    for (;;) {
      let child = 0;
      for (let s = 0; s < 16; s++) {
        const k = n[node + 2 * s]!;
        if (k < 0) return -k;
        if (n[node + 2 * s + 1] !== 0) return n[node + 2 * s + 1]!;
        if (k > 0) child = k;
      }
      for (let pos = 2; pos < 16; pos++) if (n[node + EXACT + pos] !== 0) return n[node + EXACT + pos]!;
      if (child === 0) throw new Error("PrefixTrie: an empty node");
      node = child;
    }
  }

  /**
   * Calls `visit` with every entry in the kernel's get_next_key order: a post-order walk of the binary trie of
   * prefixes (kernel/bpf/lpm_trie.c), i.e. the longer prefixes below a prefix come before it, and the prefixes whose
   * next bit is 0 before those whose next bit is 1; the /0 prefix comes last.
   */
  forEach(visit: (id: number) => void): void {
    this.visitBits(0, 0, 1, visit);
    if (this.root !== 0) visit(this.root);
  }

  /**
   * The prefixes of `node` (at nibble depth `j`) under inner position `pos` ((1 << q) | bits: the prefixes that
   * continue q bits into the nibble as `bits`): those of the next bit 0, of the next bit 1, then the one ending here.
   */
  private visitBits(node: number, j: number, pos: number, visit: (id: number) => void): void {
    const n = this.n;
    if (pos >= 16) {
      const s = pos - 16;
      const k = n[node + 2 * s]!;
      if (k > 0) this.visitBits(k, j + 1, 1, visit);
      else if (k < 0) {
        const a = -k;
        const b = this.linkOf(a);
        const bFirst = b !== 0 && this.kernelBefore(b, a);
        if (bFirst) visit(b);
        visit(a);
        if (b !== 0 && !bFirst) visit(b);
      }
      const e = n[node + 2 * s + 1]!;
      if (e !== 0 && this.lenOf(e) === 4 * j + 4) visit(e);
      return;
    }
    this.visitBits(node, j, 2 * pos, visit);
    this.visitBits(node, j, 2 * pos + 1, visit);
    if (pos >= 2 && n[node + EXACT + pos] !== 0) visit(n[node + EXACT + pos]!);
  }

  /**
   * Whether entry `a` comes before entry `b` in the kernel's order (see forEach): at the first bit where they differ
   * within both prefixes, 0 first; where one prefix extends the other, the longer first.
   */
  private kernelBefore(a: number, b: number): boolean {
    const aData = this.chunkOf(a);
    const aAt = this.dataAt(a);
    const bData = this.chunkOf(b);
    const bAt = this.dataAt(b);
    const aLen = this.lenOf(a);
    const bLen = this.lenOf(b);
    const common = Math.min(aLen, bLen);
    for (let byte = 0; byte * 8 < common; byte++) {
      const diff = (aData[aAt + byte]! ^ bData[bAt + byte]!) & (0xff00 >> Math.min(8, common - byte * 8)) & 0xff;
      if (diff !== 0) return (aData[aAt + byte]! & (0x80 >> (Math.clz32(diff) - 24))) === 0;
    }
    return aLen > bLen;
  }
}

/** Nibble `j` (0 = high half of the first byte) of the data at `b[at..]`. */
const nibble = (b: Uint8Array, at: number, j: number): number => ((j & 1) === 0 ? b[at + (j >> 1)]! >> 4 : b[at + (j >> 1)]! & 15);
