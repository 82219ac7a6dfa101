/**
 * bpf_trace_printk formatting. The kernel (kernel/bpf/helpers.c bpf_bprintf_prepare) accepts %d %i %u %x %X %c %s %p
 * and %% with optional flags [-+ 0], a width, and l/ll length modifiers; at most 3 arguments; anything else makes the
 * helper return -EINVAL. Without a length modifier the argument is taken as 32 bits.
 */
import { Errno } from "../../compiler/abi/sk-lookup.ts";
import type { Machine } from "../vm/machine.ts";
import { OFF_BIAS, RegionKind } from "../vm/region.ts";

/** One parsed conversion of a format: flags, width, l/ll, and the conversion character. */
interface Conv {
  plus: boolean;
  minus: boolean;
  zero: boolean;
  width: number;
  long: boolean;
  conv: string;
}

/** A parsed format: literal text and conversions alternating (`lits.length === convs.length + 1`), or EINVAL. */
type Parsed = { lits: string[]; convs: Conv[] } | null;

/** Parsed formats by text: programs print the same few formats on every run. Bounded; cleared when full. */
const PARSED = new Map<string, Parsed>();

/** Parses a format as bpf_bprintf_prepare accepts it; null when the helper must return -EINVAL. */
function parse(text: string): Parsed {
  const lits: string[] = [];
  const convs: Conv[] = [];
  let lit = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== "%") {
      lit += c;
      continue;
    }
    if (text[i + 1] === "%") {
      lit += "%";
      i++;
      continue;
    }
    const spec = /^%([-+ 0]*)(\d*)(ll|l)?([diuxXcsp])/.exec(text.slice(i));
    if (!spec || convs.length >= 3) return null;
    i += spec[0].length - 1;
    const flags = spec[1]!;
    lits.push(lit);
    lit = "";
    convs.push({
      plus: flags.includes("+"),
      minus: flags.includes("-"),
      zero: flags.includes("0"),
      width: spec[2] ? Number(spec[2]) : 0,
      long: spec[3] !== undefined,
      conv: spec[4]!,
    });
  }
  lits.push(lit);
  return { lits, convs };
}

/** Formats `fmt` (NUL-terminated within its bytes) with up to 3 (lo, hi) arguments; a number is a negative errno. */
export function formatPrintk(m: Machine, fmt: Uint8Array, args: Array<[number, number]>, pc: number): string | number {
  const nul = fmt.indexOf(0);
  if (nul < 0) return -Errno.EINVAL;
  // Latin-1 text in one call (no Buffer copy); formats are short (the helper's size limit is checked by the caller).
  const text = nul <= 4096 ? String.fromCharCode.apply(null, fmt.subarray(0, nul) as unknown as number[]) : Buffer.from(fmt.subarray(0, nul)).toString("latin1");
  let parsed = PARSED.get(text);
  if (parsed === undefined) {
    if (PARSED.size >= 256) PARSED.clear();
    PARSED.set(text, (parsed = parse(text)));
  }
  if (parsed === null) return -Errno.EINVAL;
  const { lits, convs } = parsed;
  let out = lits[0]!;
  for (let k = 0; k < convs.length; k++) {
    const c = convs[k]!;
    const [lo, hi] = args[k]!;
    let s = convert(m, c, lo, hi, pc);
    if (c.plus && (c.conv === "d" || c.conv === "i") && /^\d/.test(s)) s = `+${s}`;
    if (s.length < c.width) {
      if (c.minus) s = s.padEnd(c.width);
      else if (c.zero && c.conv !== "s") s = s.startsWith("-") ? `-${s.slice(1).padStart(c.width - 1, "0")}` : s.padStart(c.width, "0");
      else s = s.padStart(c.width);
    }
    out += s + lits[k + 1]!;
  }
  return out;
}

/**
 * One argument converted. 32-bit values (and 64-bit ones whose high word is a plain sign or zero extension) use
 * number arithmetic; the rest BigInt, with identical text.
 */
function convert(m: Machine, c: Conv, lo: number, hi: number, pc: number): string {
  switch (c.conv) {
    case "d":
    case "i":
      if (!c.long || hi === lo >> 31) return String(lo | 0);
      return BigInt.asIntN(64, big(lo, hi)).toString();
    case "u":
      if (!c.long || hi === 0) return String(lo >>> 0);
      return big(lo, hi).toString();
    case "x":
      if (!c.long || hi === 0) return (lo >>> 0).toString(16);
      return big(lo, hi).toString(16);
    case "X":
      if (!c.long || hi === 0) return (lo >>> 0).toString(16).toUpperCase();
      return big(lo, hi).toString(16).toUpperCase();
    case "c":
      return String.fromCharCode(lo & 0xff);
    case "p":
      return `0x${big(lo, hi).toString(16)}`;
    default:
      return readString(m, lo, hi, pc);
  }
}

const big = (lo: number, hi: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);

/** %s: reads a NUL-terminated string (at most 1024 bytes) from stack or map memory; a bad pointer prints like the kernel's safe copy fallback. */
function readString(m: Machine, lo: number, hi: number, pc: number): string {
  if (lo === 0 && hi === 0) return "(null)";
  let r;
  try {
    r = m.region(lo, hi, pc, "%s");
  } catch {
    return "(efault)";
  }
  const o = (lo - OFF_BIAS) | 0;
  if (r.kind === RegionKind.Map || r.kind === RegionKind.Ctx || o < 0 || o >= r.bytes.length) return "(efault)";
  const b = r.bytes.subarray(o, Math.min(r.bytes.length, o + 1024));
  const end = b.indexOf(0);
  return Buffer.from(end < 0 ? b : b.subarray(0, end)).toString("latin1");
}
