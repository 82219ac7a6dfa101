/**
 * bpf_trace_printk formatting. The kernel (kernel/bpf/helpers.c bpf_bprintf_prepare) accepts %d %i %u %x %X %c %s %p
 * and %% with optional flags [-+ 0], a width, and l/ll length modifiers; at most 3 arguments; anything else makes the
 * helper return -EINVAL. Without a length modifier the argument is taken as 32 bits.
 *
 * Output limits (kernel/trace/bpf_trace.c bpf_trace_printk): the text is formatted by bstr_printf into a buffer of
 * MAX_BPRINTF_BUF (1024) bytes, so the trace line holds at most 1023 characters, while the helper returns the length
 * the whole text would have had (vsnprintf semantics). A width is read as a C int (lib/vsprintf.c skip_atoi, which
 * wraps) and capped at FIELD_WIDTH_MAX (2^23 - 1); a width that wrapped negative pads nothing. Measured on this
 * kernel: "%1000000000u" returns 8388607, "%3000000000u|" of 7 returns 2. So no format can make the VM build a
 * string longer than 1023 characters.
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

/** MAX_BPRINTF_BUF (include/linux/bpf.h): the trace line buffer, NUL included. */
export const MAX_BPRINTF_BUF = 1024;
/** FIELD_WIDTH_MAX (lib/vsprintf.c): the largest width a conversion pads to. */
export const FIELD_WIDTH_MAX = (1 << 23) - 1;

/** The width digits of a conversion as the kernel reads them: a wrapping C int, negative ignored, capped. */
function widthOf(digits: string): number {
  let w = 0;
  for (let i = 0; i < digits.length; i++) w = (Math.imul(w, 10) + (digits.charCodeAt(i) - 48)) | 0;
  return w < 0 ? 0 : Math.min(w, FIELD_WIDTH_MAX);
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
      width: spec[2] ? widthOf(spec[2]) : 0,
      long: spec[3] !== undefined,
      conv: spec[4]!,
    });
  }
  lits.push(lit);
  return { lits, convs };
}

/** A trace line: its first MAX_BPRINTF_BUF - 1 characters, and the length the whole text would have had. */
export interface PrintkOutput {
  text: string;
  length: number;
}

/**
 * Formats `fmt` (NUL-terminated within its bytes) with up to 3 (lo, hi) arguments: the trace line as the kernel keeps
 * it (see the file comment), or a negative errno.
 */
export function formatPrintk(m: Machine, fmt: Uint8Array, args: Array<[number, number]>, pc: number): string | number {
  const out = formatPrintkOutput(m, fmt, args, pc);
  return typeof out === "number" ? out : out.text;
}

/** formatPrintk with the would-be length the helper returns. */
export function formatPrintkOutput(m: Machine, fmt: Uint8Array, args: Array<[number, number]>, pc: number): PrintkOutput | number {
  const [a, b, c] = args as [[number, number], [number, number], [number, number]];
  return formatWords(m, fmt, 0, fmt.length, a[0], a[1], b[0], b[1], c[0], c[1], pc);
}

/** The last format text parsed, by its bytes: a program prints the same format run after run. */
let lastFmt = new Uint8Array(0);
let lastParsed: Parsed = { lits: [""], convs: [] };

/** The parsed format of the NUL-terminated text in `bytes[at..at + size)`, or undefined for a missing NUL. */
function parsedAt(bytes: Uint8Array, at: number, size: number): Parsed | undefined {
  let nul = -1;
  for (let i = 0; i < size; i++) {
    if (bytes[at + i] === 0) {
      nul = i;
      break;
    }
  }
  if (nul < 0) return undefined;
  // The same bytes as last time (compared, not trusted: stack and map memory change): the same parse.
  if (nul === lastFmt.length) {
    let same = true;
    for (let i = 0; i < nul; i++) {
      if (bytes[at + i] !== lastFmt[i]) {
        same = false;
        break;
      }
    }
    if (same) return lastParsed;
  }
  const fmt = bytes.subarray(at, at + nul);
  // Latin-1 text in one call (no Buffer copy); formats are short (the helper's size limit is checked by the caller).
  const text = nul <= 4096 ? String.fromCharCode.apply(null, fmt as unknown as number[]) : Buffer.from(fmt).toString("latin1");
  let parsed = PARSED.get(text);
  if (parsed === undefined) {
    if (PARSED.size >= 256) PARSED.clear();
    PARSED.set(text, (parsed = parse(text)));
  }
  lastFmt = fmt.slice();
  lastParsed = parsed;
  return parsed;
}

/**
 * Formats the format at `bytes[at..at + size)` with its three arguments as words (the helper's no-allocation path);
 * the trace line and would-be length, or a negative errno.
 */
export function formatWords(m: Machine, bytes: Uint8Array, at: number, size: number, l1: number, h1: number, l2: number, h2: number, l3: number, h3: number, pc: number): PrintkOutput | number {
  const parsed = parsedAt(bytes, at, size);
  if (!parsed) return -Errno.EINVAL;
  const { lits, convs } = parsed;
  const out = new Line();
  out.add(lits[0]!);
  for (let k = 0; k < convs.length; k++) {
    const c = convs[k]!;
    const lo = k === 0 ? l1 : k === 1 ? l2 : l3;
    const hi = k === 0 ? h1 : k === 1 ? h2 : h3;
    let s = convert(m, c, lo, hi, pc);
    if (c.plus && (c.conv === "d" || c.conv === "i") && /^\d/.test(s)) s = `+${s}`;
    const pad = c.width - s.length;
    if (pad <= 0) out.add(s);
    else if (c.minus) {
      out.add(s);
      out.pad(" ", pad);
    } else if (c.zero && c.conv !== "s") {
      if (s.startsWith("-")) {
        out.add("-");
        s = s.slice(1);
      }
      out.pad("0", pad);
      out.add(s);
    } else {
      out.pad(" ", pad);
      out.add(s);
    }
    out.add(lits[k + 1]!);
  }
  return { text: out.text, length: out.length };
}

/** A trace line being built: keeps the first MAX_BPRINTF_BUF - 1 characters and counts the rest. */
class Line {
  text = "";
  length = 0;
  add(s: string): void {
    const room = MAX_BPRINTF_BUF - 1 - this.text.length;
    if (room > 0) this.text += s.length <= room ? s : s.slice(0, room);
    this.length += s.length;
  }
  /** `n` copies of `c`, materialised only as far as the line has room. */
  pad(c: string, n: number): void {
    const room = MAX_BPRINTF_BUF - 1 - this.text.length;
    if (room > 0) this.text += c.repeat(Math.min(n, room));
    this.length += n;
  }
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

/**
 * %s: a NUL-terminated string (at most MAX_BPRINTF_BUF - 1 bytes) from stack, map or read-only memory of this
 * object's table. bpf_bprintf_prepare copies it with strncpy_from_kernel_nofault and prints an empty string when
 * that fails: measured here, NULL and a bad pointer both print "" ("%5s|" of NULL gives 6 characters).
 */
function readString(m: Machine, lo: number, hi: number, pc: number): string {
  if (lo === 0 && hi === 0) return "";
  let r;
  try {
    r = m.region(lo, hi, pc, "%s");
  } catch {
    return "";
  }
  const o = (lo - OFF_BIAS) | 0;
  if (r.kind === RegionKind.Map || r.kind === RegionKind.Ctx || o < 0 || o >= r.bytes.length) return "";
  const b = r.bytes.subarray(o, Math.min(r.bytes.length, o + MAX_BPRINTF_BUF - 1));
  const end = b.indexOf(0);
  return Buffer.from(end < 0 ? b : b.subarray(0, end)).toString("latin1");
}
