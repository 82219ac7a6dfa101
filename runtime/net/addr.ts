/** IP address parsing/formatting for the simulated network (network-order bytes, like the kernel stores them). */

/** A malformed address string. */
export class AddressError extends Error {
  override name = "AddressError";
}

/** Parses dotted-quad IPv4 into 4 network-order bytes. */
export function parseIp4(s: string): Uint8Array {
  const parts = s.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    throw new AddressError(`'${s}' is not an IPv4 address`);
  }
  return Uint8Array.from(parts.map(Number));
}

/** Parses an IPv6 address (with `::` and an optional dotted IPv4 tail) into 16 network-order bytes. */
export function parseIp6(s: string): Uint8Array {
  const bad = (): never => {
    throw new AddressError(`'${s}' is not an IPv6 address`);
  };
  let text = s;
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".")) {
    const v4 = parseIp4(text.slice(lastColon + 1));
    tail.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
    text = text.slice(0, lastColon + 1) + "0"; // placeholder group, removed below
  }
  const halves = text.split("::");
  if (halves.length > 2) bad();
  const groups = (h: string): number[] =>
    h === "" ? [] : h.split(":").map((g) => (/^[0-9a-fA-F]{1,4}$/.test(g) ? parseInt(g, 16) : bad()));
  let head = groups(halves[0]!);
  let rest = halves.length === 2 ? groups(halves[1]!) : [];
  if (tail.length) {
    if (halves.length === 2 && rest.length) rest = [...rest.slice(0, -1), ...tail];
    else head = [...head.slice(0, -1), ...tail];
  }
  const fill = 8 - head.length - rest.length;
  if ((halves.length === 1 && fill !== 0) || fill < 0 || (halves.length === 2 && fill < 1)) bad();
  const all = [...head, ...new Array(halves.length === 2 ? fill : 0).fill(0), ...rest];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** Parses an address of either family; returns its family (2 or 10) and bytes. */
export function parseIp(s: string): { family: 2 | 10; bytes: Uint8Array } {
  if (typeof s !== "string") throw new AddressError(`address must be a string, got ${JSON.stringify(s)}`);
  return s.includes(":") ? { family: 10, bytes: parseIp6(s) } : { family: 2, bytes: parseIp4(s) };
}

/** Formats network-order bytes (4 or 16) as text. */
export function formatIp(b: Uint8Array): string {
  if (b.length === 4) return Array.from(b).join(".");
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return g.join(":").replace(/(^|:)0(:0)+(:|$)/, "::").replace(/:::+/, "::");
}

/** True when all bytes are zero (the wildcard address). */
export const isAnyAddr = (b: Uint8Array): boolean => b.every((x) => x === 0);

/** IPv4-mapped IPv6 (::ffff:a.b.c.d) of a v4 address. */
export function v4Mapped(v4: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(v4, 12);
  return out;
}
