/**
 * Compile-time evaluation of `ip4`, `ip6`, `cidr4` and `cidr6` literals. Each parser returns the value or a
 * human-readable reason why the text is malformed (the caller points a diagnostic at the literal).
 */

/** A parse result: the value, or why the text is not one. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = <T>(reason: string): Parsed<T> => ({ ok: false, reason });

/** Dotted quad → host-order u32 (`"127.0.0.1"` → 0x7f000001). Leading zeros are rejected (they mean octal to inet_aton). */
export function parseIp4(text: string): Parsed<number> {
  const parts = text.split(".");
  if (parts.length !== 4) return bad(`'${text}' is not a dotted-quad IPv4 address (expected 4 parts, got ${parts.length})`);
  let value = 0;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) return bad(`'${p}' in '${text}' is not a number from 0 to 255`);
    value = value * 256 + Number(p);
  }
  return ok(value);
}

/** IPv6 text → 16 bytes in network order. Accepts `::` compression and a trailing dotted quad. */
export function parseIp6(text: string): Parsed<Uint8Array> {
  let body = text;
  const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(body);
  if (v4) {
    const n = parseIp4(v4[2]!);
    if (!n.ok) return bad(n.reason);
    body = `${v4[1]}${Math.floor(n.value / 65536).toString(16)}:${(n.value % 65536).toString(16)}`;
  }
  const halves = body.split("::");
  if (halves.length > 2) return bad(`'${text}' has more than one '::'`);
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  for (const g of [...head, ...tail]) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return bad(`'${g}' in '${text}' is not a group of 1 to 4 hex digits`);
  }
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return bad(`'${text}' does not have 8 groups`);
  const words = [...head, ...Array<string>(missing).fill("0"), ...tail].map((g) => parseInt(g, 16));
  const bytes = new Uint8Array(16);
  words.forEach((w, i) => {
    bytes[2 * i] = w >> 8;
    bytes[2 * i + 1] = w & 0xff;
  });
  return ok(bytes);
}

/** An IPv4 prefix: host-order network address and prefix length. */
export interface Cidr4Value {
  addr: number;
  len: number;
}
/** An IPv6 prefix: network-order bytes and prefix length. */
export interface Cidr6Value {
  bytes: Uint8Array;
  len: number;
}

function splitPrefix(text: string, max: number): Parsed<[string, number]> {
  const m = /^([^/]+)\/([0-9]+)$/.exec(text);
  if (!m) return bad(`'${text}' is not of the form address/length`);
  const len = Number(m[2]);
  if (!/^(0|[1-9][0-9]*)$/.test(m[2]!) || len > max) return bad(`prefix length ${m[2]} in '${text}' is not 0..${max}`);
  return ok([m[1]!, len]);
}

/** `"a.b.c.d/len"`; host bits must be zero (a set host bit is almost always a typo). */
export function parseCidr4(text: string): Parsed<Cidr4Value> {
  const s = splitPrefix(text, 32);
  if (!s.ok) return bad(s.reason);
  const a = parseIp4(s.value[0]);
  if (!a.ok) return bad(a.reason);
  const len = s.value[1];
  const hostMask = len === 32 ? 0 : 2 ** (32 - len) - 1;
  if (a.value % (hostMask + 1) !== 0) return bad(`'${text}' has host bits set (did you mean ${fmt4(a.value - (a.value % (hostMask + 1)))}/${len}?)`);
  return ok({ addr: a.value, len });
}

/** `"addr/len"` for IPv6; host bits must be zero. */
export function parseCidr6(text: string): Parsed<Cidr6Value> {
  const s = splitPrefix(text, 128);
  if (!s.ok) return bad(s.reason);
  const a = parseIp6(s.value[0]);
  if (!a.ok) return bad(a.reason);
  const len = s.value[1];
  for (let i = len; i < 128; i++) {
    if ((a.value[i >> 3]! >> (7 - (i & 7))) & 1) return bad(`'${text}' has host bits set`);
  }
  return ok({ bytes: a.value, len });
}

function fmt4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** The 32-bit mask of an IPv4 prefix length (host order). */
export function mask4(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}
