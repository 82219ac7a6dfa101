/**
 * The constructs of issue 10 next to the spelling users had to write before them: each pair is one program written
 * both ways, with the same meaning. forms.test.ts checks that both give the same results and prints the instruction
 * counts (the closing note's before/after table).
 */

/** Imports and maps every form may use. */
export const FORMS_HEAD = `import { type SkLookup, type Verdict, SK_PASS, SK_DROP, SockMap, HashMap, ArrayMap, IPPROTO_UDP, TCP_LISTEN,
  type u16, type u32, type u64 } from "tsbpf";
export const out = new ArrayMap<u64>({ maxEntries: 4 });
export const counts = new HashMap<u32, u32>({ maxEntries: 8 });
export const primary = new SockMap({ maxEntries: 2 });
export const backup = new SockMap({ maxEntries: 2 });
interface Key { protocol: u32; port: u16 }
interface Stat { hits: u32; on: boolean }
export const byKey = new HashMap<Key, u32>({ maxEntries: 8 });
export const stats = new HashMap<u32, Stat>({ maxEntries: 8 });
`;

/** One construct: declarations shared by both forms, then the program body before and after. */
export interface Form {
  construct: string;
  decls?: string;
  before: string;
  after: string;
}

export const FORMS: Form[] = [
  {
    construct: "integer truthiness `if (counts.lookup(k))`",
    before: `const c = counts.lookup(1);
  if (c !== null && c !== 0) return SK_DROP;
  return SK_PASS;`,
    after: `if (counts.lookup(1)) return SK_DROP;
  return SK_PASS;`,
  },
  {
    construct: "`counts.lookup(k) || 7`",
    before: `const c = counts.lookup(1);
  let v: u32 = 7;
  if (c !== null && c !== 0) v = c;
  out.update(0, BigInt(v));
  return SK_PASS;`,
    after: `out.update(0, BigInt(counts.lookup(1) || 7));
  return SK_PASS;`,
  },
  {
    construct: "fallback socket `let sk = a.lookup(0); if (sk === null) sk = b.lookup(0)`",
    before: `const a = primary.lookup(0);
  if (a !== null) return ctx.assign(a) === 0 ? SK_PASS : SK_DROP;
  const b = backup.lookup(0);
  if (b !== null) return ctx.assign(b) === 0 ? SK_PASS : SK_DROP;
  return SK_PASS;`,
    after: `let sk = primary.lookup(0);
  if (sk === null) sk = backup.lookup(0);
  if (sk === null) return SK_PASS;
  return ctx.assign(sk) === 0 ? SK_PASS : SK_DROP;`,
  },
  {
    construct: "`cond ? a.lookup(0) : b.lookup(0)`",
    before: `if (ctx.protocol === IPPROTO_UDP) {
    const sk = primary.lookup(0);
    if (sk === null) return SK_PASS;
    return ctx.assign(sk) === 0 ? SK_PASS : SK_DROP;
  }
  const sk = backup.lookup(0);
  if (sk === null) return SK_PASS;
  return ctx.assign(sk) === 0 ? SK_PASS : SK_DROP;`,
    after: `const sk = ctx.protocol === IPPROTO_UDP ? primary.lookup(0) : backup.lookup(0);
  if (sk === null) return SK_PASS;
  return ctx.assign(sk) === 0 ? SK_PASS : SK_DROP;`,
  },
  {
    construct: "`a.lookup(i) ?? b.lookup(0)`",
    before: `const a = primary.lookup(ctx.localPort % 2);
  if (a !== null) return ctx.assign(a) === 0 ? SK_PASS : SK_DROP;
  const b = backup.lookup(0);
  if (b === null) return SK_PASS;
  return ctx.assign(b) === 0 ? SK_PASS : SK_DROP;`,
    after: `const sk = primary.lookup(ctx.localPort % 2) ?? backup.lookup(0);
  if (sk === null) return SK_PASS;
  return ctx.assign(sk) === 0 ? SK_PASS : SK_DROP;`,
  },
  {
    construct: "`enum` / `as const` object constants",
    decls: `const TCP = 6;
const UDP = 17;
enum Proto { TCP = 6, UDP = 17 }
const P = { TCP: 6, UDP: 17 } as const;`,
    before: `return ctx.protocol === TCP || ctx.protocol === UDP ? SK_PASS : SK_DROP;`,
    after: `return ctx.protocol === Proto.TCP || ctx.protocol === P.UDP ? SK_PASS : SK_DROP;`,
  },
  {
    construct: "shorthand properties `{ protocol, port }`",
    before: `const protocol = ctx.protocol;
  const port = ctx.localPort;
  return byKey.lookup({ protocol: protocol, port: port }) === null ? SK_PASS : SK_DROP;`,
    after: `const protocol = ctx.protocol;
  const port = ctx.localPort;
  return byKey.lookup({ protocol, port }) === null ? SK_PASS : SK_DROP;`,
  },
  {
    construct: "destructuring `const { protocol, localPort } = ctx`",
    before: `const protocol = ctx.protocol;
  const port = ctx.localPort;
  return protocol === 6 && port === 7007 ? SK_PASS : SK_DROP;`,
    after: `const { protocol, localPort: port } = ctx;
  return protocol === 6 && port === 7007 ? SK_PASS : SK_DROP;`,
  },
  {
    construct: "`for (const [port, slot] of TABLE)` (tuple of tuples)",
    decls: `const PORTS = [80, 443, 7007] as const;
const SLOTS = [1, 2, 3] as const;
const TABLE = [[80, 1], [443, 2], [7007, 3]] as const;`,
    before: `let slot = 0;
  for (let i = 0; i < 3; i++) if (PORTS[i] === ctx.localPort) slot = SLOTS[i];
  out.update(0, BigInt(slot));
  return SK_PASS;`,
    after: `let slot = 0;
  for (const [port, s] of TABLE) if (port === ctx.localPort) slot = s;
  out.update(0, BigInt(slot));
  return SK_PASS;`,
  },
  {
    construct: "`TABLE[i][0]` indexed by a loop counter",
    decls: `const PORTS = [80, 443, 7007] as const;
const SLOTS = [1, 2, 3] as const;
const TABLE = [[80, 1], [443, 2], [7007, 3]] as const;`,
    before: `let slot = 0;
  for (let i = 0; i < 3; i++) if (PORTS[i] === ctx.localPort) slot = SLOTS[i];
  out.update(0, BigInt(slot));
  return SK_PASS;`,
    after: `let slot = 0;
  for (let i = 0; i < TABLE.length; i++) if (TABLE[i][0] === ctx.localPort) slot = TABLE[i][1];
  out.update(0, BigInt(slot));
  return SK_PASS;`,
  },
  {
    construct: "`.includes()` on a const tuple",
    decls: `const BLOCKED = [22, 23, 7007] as const;
const BLOCKED_LIST: readonly u16[] = [22, 23, 7007];`,
    before: `let blocked = false;
  for (const p of BLOCKED) if (p === ctx.localPort) blocked = true;
  return blocked ? SK_DROP : SK_PASS;`,
    after: `return BLOCKED_LIST.includes(ctx.localPort) ? SK_DROP : SK_PASS;`,
  },
  {
    construct: "labeled `break outer`",
    decls: `const GRID = [[1, 2, 3], [4, 5, 6]] as const;`,
    before: `let found = 0;
  let done = false;
  for (const row of GRID) {
    if (done) break;
    for (let j = 0; j < 3; j++) {
      if (row[j] === ctx.localPort - 7002) { found = row[j]; done = true; break; }
    }
  }
  out.update(0, BigInt(found));
  return SK_PASS;`,
    after: `let found = 0;
  outer: for (const row of GRID) {
    for (const cell of row) {
      if (cell === ctx.localPort - 7002) { found = cell; break outer; }
    }
  }
  out.update(0, BigInt(found));
  return SK_PASS;`,
  },
  {
    construct: "optional chaining `stats.lookup(k)?.hits ?? 0`",
    before: `const s = stats.lookup(1);
  const hits = s !== null ? s.hits : 0;
  out.update(0, BigInt(hits));
  return SK_PASS;`,
    after: `out.update(0, BigInt(stats.lookup(1)?.hits ?? 0));
  return SK_PASS;`,
  },
  {
    construct: "struct parameter and result of a local function",
    decls: `function keyOf(ctx: SkLookup): Key { return { protocol: ctx.protocol, port: ctx.localPort }; }
function weigh(k: Key): u32 { return k.port * 2 + k.protocol; }
function weighFields(protocol: u32, port: u16): u32 { return port * 2 + protocol; }`,
    before: `const key: Key = { protocol: ctx.protocol, port: ctx.localPort };
  out.update(0, BigInt(weighFields(key.protocol, key.port)));
  return byKey.lookup(key) === null ? SK_PASS : SK_DROP;`,
    after: `const key = keyOf(ctx);
  out.update(0, BigInt(weigh(key)));
  return byKey.lookup(key) === null ? SK_PASS : SK_DROP;`,
  },
  {
    construct: "default parameter value",
    decls: `function scaled(x: u32, by: u32 = 2): u32 { return x * by; }`,
    before: `out.update(0, BigInt(scaled(ctx.localPort, 2)));
  return SK_PASS;`,
    after: `out.update(0, BigInt(scaled(ctx.localPort)));
  return SK_PASS;`,
  },
];

/** The whole file of one form: `before` and `after` as the programs `before` and `after`. */
export function formSource(f: Form): string {
  return `${FORMS_HEAD}${f.decls ?? ""}
export function before(ctx: SkLookup): Verdict {
  ${f.before}
}
export function after(ctx: SkLookup): Verdict {
  ${f.after}
}
`;
}
