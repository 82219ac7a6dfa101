/**
 * bpf_trace_printk formatting. The kernel (kernel/bpf/helpers.c bpf_bprintf_prepare) accepts %d %i %u %x %X %c %s %p
 * and %% with optional flags [-+ 0], a width, and l/ll length modifiers; at most 3 arguments; anything else makes the
 * helper return -EINVAL. Without a length modifier the argument is taken as 32 bits.
 */
import { Errno } from "../../compiler/abi/sk-lookup.ts";
import type { Machine } from "../vm/machine.ts";
import { OFF_BIAS, RegionKind } from "../vm/region.ts";

/** Formats `fmt` (NUL-terminated within its bytes) with up to 3 (lo, hi) arguments; a number is a negative errno. */
export function formatPrintk(m: Machine, fmt: Uint8Array, args: Array<[number, number]>, pc: number): string | number {
  const nul = fmt.indexOf(0);
  if (nul < 0) return -Errno.EINVAL;
  const text = Buffer.from(fmt.subarray(0, nul)).toString("latin1");
  let out = "";
  let argi = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== "%") {
      out += c;
      continue;
    }
    if (text[i + 1] === "%") {
      out += "%";
      i++;
      continue;
    }
    const spec = /^%([-+ 0]*)(\d*)(ll|l)?([diuxXcsp])/.exec(text.slice(i));
    if (!spec || argi >= 3) return -Errno.EINVAL;
    i += spec[0].length - 1;
    const [lo, hi] = args[argi++]!;
    const flags = spec[1]!;
    const width = spec[2] ? Number(spec[2]) : 0;
    const long = spec[3] !== undefined;
    const v64 = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
    let s: string;
    switch (spec[4]) {
      case "d":
      case "i":
        s = (long ? BigInt.asIntN(64, v64) : BigInt(lo | 0)).toString();
        break;
      case "u":
        s = (long ? v64 : BigInt(lo >>> 0)).toString();
        break;
      case "x":
        s = (long ? v64 : BigInt(lo >>> 0)).toString(16);
        break;
      case "X":
        s = (long ? v64 : BigInt(lo >>> 0)).toString(16).toUpperCase();
        break;
      case "c":
        s = String.fromCharCode(lo & 0xff);
        break;
      case "p":
        s = `0x${v64.toString(16)}`;
        break;
      default: {
        s = readString(m, lo, hi, pc);
      }
    }
    if (flags.includes("+") && /^\d/.test(s) && "di".includes(spec[4]!)) s = `+${s}`;
    if (s.length < width) {
      if (flags.includes("-")) s = s.padEnd(width);
      else if (flags.includes("0") && spec[4] !== "s") s = s.startsWith("-") ? `-${s.slice(1).padStart(width - 1, "0")}` : s.padStart(width, "0");
      else s = s.padStart(width);
    }
    out += s;
  }
  return out;
}

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
