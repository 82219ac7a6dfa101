/**
 * Integer semantics, checked on the real kernel: one program computes many expressions from context values (so
 * nothing folds at compile time), stores each as a u64 into an ArrayMap, and the test compares them with the
 * values C would compute (wrapping at the type's width, x/0 = 0, x%0 = x, signed division truncating).
 */
import { afterAll, beforeAll, expect, test } from "vitest";
import { compile, formatDiagnostics } from "../../compiler/index.ts";
import { openKernel } from "../../runtime/kernel/open.ts";
import type { LoadedObject } from "../../runtime/kernel/load.ts";
import { describeKernel } from "../support/kernel.ts";

const u64 = (v: bigint | number) => BigInt.asUintN(64, BigInt(v));

/** [expression (u64-valued, may use the locals below), expected value]. */
const CASES: [string, bigint][] = [
  ["BigInt(port)", 7007n],
  ["BigInt(rport)", 40000n],
  ["BigInt(big)", (7007n * 1000000n) % 2n ** 32n],
  ["BigInt(small)", 7007n & 255n],
  ["BigInt(s8)", u64(-56)],
  ["BigInt(neg)", u64(-3)],
  ["BigInt(neg / 2)", u64(-1)],
  ["BigInt(neg % 2)", u64(-1)],
  ["BigInt(port / zero)", 0n],
  ["BigInt(port / 0)", 0n], // a constant zero divisor: folded (the verifier refuses div by imm 0)
  ["BigInt(port % 0)", 7007n],
  ["BigInt(port) / 0n", 0n],
  ["BigInt(port % zero)", 7007n],
  ["BigInt(port << 20)", u64(BigInt.asIntN(32, 7007n << 20n))],
  ["BigInt(big >> 4)", ((7007n * 1000000n) % 2n ** 32n) >> 4n],
  ["BigInt(neg >> 1)", u64(-2)],
  ["BigInt(ctx.localIp4)", 0xc0000201n],
  ['ctx.localIp4 === ip4("192.0.2.1") ? 1n : 0n', 1n],
  ['ctx.localIp4 !== ip4("192.0.2.2") ? 1n : 0n', 1n],
  ['cidr4("192.0.2.0/24").has(ctx.localIp4) ? 1n : 0n', 1n],
  ['cidr4("192.0.2.2/32").has(ctx.localIp4) ? 1n : 0n', 0n],
  ['cidr4("0.0.0.0/0").has(ctx.remoteIp4) ? 1n : 0n', 1n],
  ["ctx.remotePort === 40000 ? 1n : 0n", 1n],
  ["ctx.remotePort > 39999 ? 1n : 0n", 1n],
  ["BigInt(port) * 0x100000000n", 7007n * 2n ** 32n],
  ["0xffffffffffffffffn + BigInt(fam)", 1n],
  ["sn / 2n", u64(-1)],
  ["sn % 2n", u64(-1)],
  ["BigInt(port) / zero64", 0n],
  ["BigInt(port) % zero64", 7007n],
  ["port > 7000 && rport < 50000 ? 1n : 0n", 1n],
  ["port > 8000 || fam === 3 ? 1n : 0n", 0n],
  ["BigInt(port > 7000 ? 11 : 22)", 11n],
  ["BigInt(sum)", 90n],
  ["BigInt(found)", 7007n],
  ["BigInt(mul3(port))", 21021n],
  ["BigInt(sw)", 4n],
  ["BigInt(w16)", (7007n * 10n) % 65536n],
  ["BigInt(h16)", u64(BigInt.asIntN(16, 7007n * 5n))],
  ["BigInt(neg < 0 ? 1 : 0)", 1n],
  ["BigInt(un > 5 ? 1 : 0)", 1n],
  ["BigInt(un)", 2n ** 32n - 3n],
  ["BigInt(-port)", u64(-7007)],
  ["BigInt(~fam)", 2n ** 32n - 3n], // fam is u32, so ~fam is u32 (C)
  ["BigInt(~port)", u64(-7008)], // port is u16: promoted to int first
  ["port === 72543 ? 1n : 0n", 0n], // 72543 & 0xffff === 7007: no wrapping of the constant
  ["rport === 105536 ? 1n : 0n", 0n],
  ["BigInt(acc)", (250n + 10n) % 256n],
  ["BigInt(before * 10 + q)", 23n],
  ["BigInt(key.port)", 7008n],
  ['ctx.localIp6.equals(ip6("::")) ? 1n : 0n', 1n],
  ["ctx.sk === null ? 1n : 0n", 1n],
  ["ktimeGetNs() > 0n ? 1n : 0n", 1n],
  ["counts.lookup({ protocol: ctx.protocol, port: ctx.localPort }) ?? 99n", 2n],
  ["counts.lookup({ protocol: 17, port: ctx.localPort }) ?? 99n", 99n],
  ["BigInt(isWeb(80) && !isWeb(port))", 1n],
  ["BigInt(Number(0x1234567890n))", 0x1234567890n], // TypeScript: Number(bigint) is exact below 2^53
  ["BigInt(low)", 0x34567890n], // a u32 keeps the low 32 bits
];

const SOURCE = `
import { type SkLookup, type Verdict, SK_PASS, ArrayMap, HashMap, ip4, ip6, cidr4, ktimeGetNs,
  type u8, type u16, type u32, type u64, type i8, type i16, type i32, type i64 } from "tsbpf";

interface PortKey { protocol: u32; port: u16 }
interface Pair { a: u32; b: u32 }
export const out = new ArrayMap<u64>({ maxEntries: ${CASES.length} });
export const counts = new HashMap<PortKey, u64>({ maxEntries: 8 });
export const pairs = new ArrayMap<Pair>({ maxEntries: 1 });
const PORTS = [22, 80, 7007] as const;

function mul3(x: u32): u32 {
  return x * 3;
}
function isWeb(port: u16): boolean {
  return port === 80 || port === 443;
}

export function probe(ctx: SkLookup): Verdict {
  const port = ctx.localPort;
  const rport = ctx.remotePort;
  const fam = ctx.family;
  const big: u32 = ctx.localPort * 1000000;
  const small: u8 = ctx.localPort;
  const s8: i8 = ctx.localPort - 6807;
  const neg: i32 = fam - 5;
  const zero: u32 = fam - 2;
  const zero64: u64 = BigInt(zero);
  const sn: i64 = BigInt(neg);
  const un: u32 = neg;
  const low: u32 = Number(0x1234567890n);
  const w16: u16 = port * 10;
  const h16: i16 = port * 5;
  let sum: u32 = 0;
  for (let i = 0; i < 10; i++) sum += i * fam;
  let found: u32 = 0;
  for (const p of PORTS) {
    if (p === port) found = p;
  }
  let sw: u32 = 0;
  switch (fam) {
    case 2: sw = 4; break;
    case 10: sw = 6; break;
    default: sw = 0;
  }
  let acc: u8 = 250;
  acc += fam * 5;
  let q: u32 = fam;
  const before = q++;
  const key: PortKey = { protocol: 6, port: port };
  key.port += 1;
  counts.increment({ protocol: ctx.protocol, port: ctx.localPort });
  counts.increment({ protocol: ctx.protocol, port: ctx.localPort });
  const pv = pairs.lookup(0);
  if (pv !== null) {
    pv.a = port;
    pv.b = pv.a + 1;
  }
${CASES.map(([e], i) => `  out.update(${i}, ${e});`).join("\n")}
  return SK_PASS;
}
`;

describeKernel("integer and control-flow semantics on the kernel", () => {
  let obj: LoadedObject;
  beforeAll(() => {
    const r = compile({ fileName: "semantics-probe.ts", source: SOURCE });
    if (r.diagnostics.length) throw new Error(formatDiagnostics(r.diagnostics, new Map([["semantics-probe.ts", SOURCE]])));
    obj = openKernel().load(r.object!);
    const run = obj.program("probe").testRun({ family: "inet", protocol: "tcp", localIp: "192.0.2.1", localPort: 7007, remoteIp: "127.0.0.2", remotePort: 40000 });
    expect(run.verdict).toBe("SK_PASS");
  });
  afterAll(() => obj?.close());

  CASES.forEach(([expr, want], i) => {
    test(expr, () => {
      expect(obj.map("out").lookupInt(i)).toBe(want);
    });
  });

  test("a struct map value is a live view: field writes land in the map", () => {
    const bytes = obj.map("pairs").lookup(0)!;
    const dv = new DataView(bytes.buffer, bytes.byteOffset);
    expect([dv.getUint32(0, true), dv.getUint32(4, true)]).toEqual([7007, 7008]);
  });
});
