/**
 * Group 1 of issue 10: values keep their TypeScript meaning. An integer map value is falsy when the lookup misses
 * *and* when it holds 0 (`if (c)`, `!c`, `lookup(k) || 7`, `lookup(k) === 0`), and a `number` holds every value
 * of the narrower integer types (a u32 address passed to a `number` parameter stays positive, so `BigInt(ip) << 16n`
 * is the right SOCKHASH key). Each handler runs on the VM's interpreter, its JIT and the kernel.
 */
import { afterAll, beforeAll, describe, test } from "vitest";
import { describeKernel } from "../support/kernel.ts";
import { TCP4, Tiers } from "./tiers.ts";

const HEAD = `import { type SkLookup, type Verdict, SK_PASS, SK_DROP, SockMap, SockHash, HashMap, ArrayMap,
  type u8, type u16, type u32, type u64, type i32 } from "tsbpf";
export const out = new ArrayMap<u64>({ maxEntries: 4 });
export const counts = new HashMap<u32, u32>({ maxEntries: 8 });
`;

const TRUTHY = HEAD + `
export function ifValue(ctx: SkLookup): Verdict {
  const c = counts.lookup(1);
  if (c) return SK_DROP;                      // 0 and null are falsy: pass
  return SK_PASS;
}
export function notValue(ctx: SkLookup): Verdict {
  const c = counts.lookup(1);
  if (!c) return SK_PASS;
  return SK_DROP;
}
export function logicalAssign(ctx: SkLookup): Verdict {
  let a = 0;
  a ||= 5;                                    // 0 is falsy: assigned
  let b = ctx.localPort;
  b ||= 5;                                    // 7007 is truthy: kept
  let c = 3;
  c &&= ctx.localPort;                        // 3 is truthy: assigned
  let d = counts.lookup(1) ?? 0;
  d ||= 11;
  out.update(0, BigInt(a));
  out.update(1, BigInt(b));
  out.update(2, BigInt(c));
  out.update(3, BigInt(d));
  return SK_PASS;
}
export function orDefault(ctx: SkLookup): Verdict {
  out.update(0, BigInt(counts.lookup(1) || 7));
  out.update(1, BigInt(counts.lookup(2) ?? 9));
  const isZero = counts.lookup(1) === 0;      // null === 0 is false
  out.update(2, isZero ? 1n : 0n);
  out.update(3, BigInt(counts.lookup(1) !== 5));
  return SK_PASS;
}
`;

describeKernel("integer truthiness tests the value, on interp, JIT and kernel", () => {
  let t: Tiers;
  beforeAll(async () => void (t = await new Tiers(TRUTHY).start()));
  afterAll(() => t.stop());

  test("if (c): a stored 0 is falsy, like a miss; a stored 3 is truthy", () => {
    t.expect("ifValue", {}, { verdict: "SK_PASS" });
    t.expect("ifValue", { counts: [[1, 0]] }, { verdict: "SK_PASS" });
    t.expect("ifValue", { counts: [[1, 3]] }, { verdict: "SK_DROP" });
  });
  test("!c is true for a miss and for 0", () => {
    t.expect("notValue", {}, { verdict: "SK_PASS" });
    t.expect("notValue", { counts: [[1, 0]] }, { verdict: "SK_PASS" });
    t.expect("notValue", { counts: [[1, 3]] }, { verdict: "SK_DROP" });
  });
  test("||= and &&= assign only when the target is falsy / truthy", () => {
    t.expect("logicalAssign", {}, { out: [5n, 7007n, 7007n, 11n] });
    t.expect("logicalAssign", { counts: [[1, 4]] }, { out: [5n, 7007n, 7007n, 4n] });
  });
  test("lookup(k) || 7 yields the stored value when it is truthy, else 7; === 0 is false on a miss", () => {
    t.expect("orDefault", {}, { out: [7n, 9n, 0n, 1n] });
    t.expect("orDefault", { counts: [[1, 0], [2, 0]] }, { out: [7n, 0n, 1n, 1n] });
    t.expect("orDefault", { counts: [[1, 5], [2, 4]] }, { out: [5n, 4n, 0n, 0n] });
  });
});

const NUMBERS = HEAD + `
export const services = new SockHash<u64>({ maxEntries: 4 });
function serviceKey(ip: number, port: number): bigint {
  return (BigInt(ip) << 16n) | BigInt(port);
}
export function numberParam(ctx: SkLookup): Verdict {
  out.update(0, serviceKey(ctx.localIp4, ctx.localPort));
  let n = 0;
  n = ctx.localIp4;                               // an unannotated let is a number: no i32 wrap
  out.update(1, BigInt(n));
  let p = ctx.localPort;
  p += 65535;                                     // no u16 wrap either
  out.update(2, BigInt(p));
  const sk = services.lookup(serviceKey(ctx.localIp4, ctx.localPort));
  if (sk === null) return SK_DROP;
  return ctx.assign(sk) === 0 ? SK_PASS : SK_DROP;
}
export const sa = new HashMap<u32, u32>({ maxEntries: 4 });
export const sb = new HashMap<u32, u32>({ maxEntries: 4 });
export function choices(ctx: SkLookup): Verdict {
  sb.update(2, 9);
  const x = ctx.protocol === 6 ? 0 : ctx.localIp4;    // a u32 when it is the address: no i32 wrap
  out.update(0, BigInt(x));
  const neg: i32 = ctx.localPort - 8000;
  const y = ctx.protocol === 6 ? neg : ctx.localIp4;  // -993 or the address: both keep their value
  out.update(1, y < 0 ? 1n : 0n);
  const t = sa.lookup(2) ?? sb.lookup(2);             // a map value (or null), not its contents
  out.update(2, t === null ? 7n : BigInt(t));
  const s = ctx.protocol === 6 ? sa.lookup(2) : sb.lookup(2);
  out.update(3, BigInt(s ?? 42));
  return SK_PASS;
}
export function signedCompare(ctx: SkLookup): Verdict {
  const neg: i32 = ctx.localPort - 8000;          // -993
  out.update(0, neg < ctx.localIp4 ? 1n : 0n);    // C: unsigned compare, false; TypeScript: true
  out.update(1, ctx.localIp4 > -1 ? 1n : 0n);
  out.update(2, BigInt(Number(BigInt(ctx.localIp4) * 65536n)));
  return SK_PASS;
}
`;

describeKernel("a number keeps every value; comparisons compare the numbers", () => {
  let t: Tiers;
  beforeAll(async () => void (t = await new Tiers(NUMBERS, "numbers.ts").start()));
  afterAll(() => t.stop());
  const key = (0xc0000201n << 16n) | 7007n;

  test("a u32 address passed to a number parameter: BigInt(ip) << 16n finds the SOCKHASH entry", () => {
    t.expect("numberParam", { services: [[key, "A"]] }, { verdict: "SK_PASS", selected: "A", out: [key, 0xc0000201n, 7007n + 65535n] });
    t.expect("numberParam", {}, { verdict: "SK_DROP", selected: null });
  });
  test("?: keeps both operands' values; ?: and ?? between map lookups yield a map value or null", () => {
    t.expect("choices", {}, { out: [0n, 1n, 9n, 42n] });
    t.expect("choices", {}, { out: [0xc0000201n, 0n, 9n, 9n] }, { ...TCP4, protocol: "udp" });
  });
  test("a negative i32 is below a u32; Number(bigint) is exact", () => {
    t.expect("signedCompare", {}, { out: [1n, 1n, 0xc0000201n * 65536n] });
  });
});
