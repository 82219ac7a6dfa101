/**
 * What an object asks of the kernel (compiler/target/requirements.ts), and how the loader names what a kernel lacks
 * (runtime/kernel/missing.ts): every newer form is recognised with its table row, a default build asks for nothing,
 * explanations name the feature, its release and the right --target-kernel, and a real refusal by the running
 * kernel comes back as a MissingFeatureError that keeps the kernel's log.
 */
import { describe, expect, it } from "vitest";
import { AluOp, AtomicOp, Class, JmpOp, Mode, Size, alu64, atomic, call, exit, mov64, type Instruction } from "../../compiler/asm/index.ts";
import { BtfKind, IntEncoding, encodeBtf } from "../../compiler/btf/index.ts";
import { readObject, writeObject } from "../../compiler/elf/index.ts";
import type { ObjectFile } from "../../compiler/elf/object.ts";
import { compile } from "../../compiler/index.ts";
import { FEATURE_ROWS, resolveTarget, targetForVersion } from "../../compiler/target/index.ts";
import { minimumVersion, objectRequirements } from "../../compiler/target/requirements.ts";
import { helperRefused } from "../../compiler/target/host.ts";
import { KernelError } from "../../runtime/kernel/native.ts";
import { MissingFeatureError, explainMissing, explainTestRunFailure } from "../../runtime/kernel/missing.ts";
import { openKernel } from "../../runtime/kernel/open.ts";
import { describeKernel } from "../support/kernel.ts";

const DIVIDE = `
import { type SkLookup, type Verdict, SK_PASS, SK_DROP, type i32 } from "tsbpf";
export function p(ctx: SkLookup): Verdict {
  const a: i32 = ctx.localPort - 9000;
  return a / 3 === -1 ? SK_DROP : SK_PASS;
}
`;

const IFINDEX = `
import { type SkLookup, type Verdict, SK_PASS, SK_DROP } from "tsbpf";
export function p(ctx: SkLookup): Verdict {
  return ctx.ingressIfindex === 1 ? SK_DROP : SK_PASS;
}
`;

function objectOf(body: Instruction[], btf?: Uint8Array): ObjectFile {
  const obj = readObject(writeObject({ fileName: "hand.ts", license: "GPL", programs: [{ name: "hand", insns: [...body, mov64(0, 1), exit()] }], maps: [] }));
  return btf ? { ...obj, btf } : obj;
}
const raw = (opcode: number, dst: number, src: number, off: number, imm: number): Instruction => ({ opcode, dst, src, off, imm });
const names = (obj: ObjectFile) => objectRequirements(obj).map((r) => `${r.feature}: ${r.what}`);

describe("object requirements", () => {
  it("a default build asks for nothing beyond 5.10; a 6.6 build of signed division asks for cpu v4", () => {
    expect(objectRequirements(readObject(compile({ fileName: "d.ts", source: DIVIDE }).object!))).toEqual([]);
    const v4 = objectRequirements(readObject(compile({ fileName: "d.ts", source: DIVIDE }, { target: "6.6" }).object!));
    expect(v4).toEqual([expect.objectContaining({ feature: "isaV4", what: "signed division and remainder (sdiv/smod)", since: [6, 6], program: "p" })]);
    expect(minimumVersion(v4)).toEqual([6, 6]);
  });

  it("recognises each cpu-v4 form, each atomic form newer than atomic add, and newer helpers", () => {
    const obj = objectOf([
      mov64(1, 0),
      raw(Class.ALU64 | 0xb0 | 0x08, 1, 2, 16, 0), // movsx r1 = (s16) r2
      raw(Class.LDX | Mode.MEMSX | Size.H, 1, 10, -8, 0), // ldsx
      raw(Class.ALU64 | 0xd0, 1, 0, 0, 16), // bswap16
      raw(Class.JMP32 | JmpOp.JA, 0, 0, 0, 0), // gotol +0
      atomic(Size.DW, AtomicOp.ADD, 10, -8, 1), // plain atomic add: 5.10 has it
      atomic(Size.DW, AtomicOp.ADD | AtomicOp.FETCH, 10, -8, 1),
      atomic(Size.W, AtomicOp.XCHG, 10, -8, 1),
      atomic(Size.W, AtomicOp.OR, 10, -8, 1),
      call(5), // ktime_get_ns: 5.10
      call(164), // for_each_map_elem: 5.13
      alu64(AluOp.ADD, 1, 1),
    ]);
    expect(names(obj)).toEqual([
      "isaV4: sign-extending move (movsx)",
      "isaV4: sign-extending load (ldsx)",
      "isaV4: unconditional byte swap (bswap)",
      "isaV4: jump with a 32-bit offset (gotol)",
      "atomicFetch: atomic fetch-and-add",
      "atomicFetch: atomic exchange (xchg)",
      "atomicFetch: atomic or",
      "helper: helper #164",
    ]);
    expect(minimumVersion(objectRequirements(obj))).toEqual(FEATURE_ROWS.isaV4.since);
    const commit = (what: string) => objectRequirements(obj).find((r) => r.what === what)?.commit;
    expect([commit("atomic fetch-and-add"), commit("atomic exchange (xchg)"), commit("atomic or"), commit("sign-extending load (ldsx)")]).toEqual([
      "bpf: Add BPF_FETCH field / create atomic_fetch_add instruction",
      "bpf: Add instructions for atomic_[cmp]xchg",
      "bpf: Add bitwise atomic instructions",
      "bpf: Support new sign-extension load insns",
    ]);
  });

  it("recognises BTF kinds newer than 5.10 and signed enums", () => {
    const btf = encodeBtf([
      { kind: BtfKind.INT, name: "int", size: 4, bits: 32, offset: 0, encoding: IntEncoding.SIGNED },
      { kind: BtfKind.FLOAT, name: "double", size: 8 },
      { kind: BtfKind.ENUM, name: "e", size: 4, signed: true, values: [{ name: "A", value: -1 }] },
      { kind: BtfKind.TYPE_TAG, name: "user", type: 1 },
    ]);
    expect(names(objectOf([], btf))).toEqual(["btfFloat: BTF kind FLOAT", "btfEnum64: signed BTF ENUM (kind_flag)", "btfTypeTag: BTF kind TYPE_TAG"]);
  });
});

describe("naming what a kernel lacks", () => {
  const v4 = readObject(compile({ fileName: "d.ts", source: DIVIDE }, { target: "6.6" }).object!);

  it("an ISA form: the feature, its release and the target that would have been right", () => {
    const why = explainMissing(v4, targetForVersion([6, 1]))!;
    expect(why.rightTarget).toBe("6.1");
    expect(why.text).toContain("Linux 6.1 lacks what the object uses:");
    expect(why.text).toContain('signed division and remainder (sdiv/smod) (program p, instruction');
    expect(why.text).toContain('Linux 6.6+, "bpf: Support new signed div/mod instructions"');
    expect(why.text).toContain("rebuild it with --target-kernel 6.1, or with the default (5.10)");
    expect(explainMissing(v4, resolveTarget("6.6"))).toBeUndefined();
  });

  it("a helper no target can avoid: the release the program needs", () => {
    const why = explainMissing(objectOf([call(164)]), targetForVersion([5, 10]))!;
    expect(why.rightTarget).toBeUndefined();
    expect(why.text).toContain("helper bpf_for_each_map_elem#164 (program hand, instruction 0): Linux 5.13+");
    expect(why.text).toContain("No --target-kernel makes this object load here: it needs Linux 5.13 or newer.");
  });

  it("a map type: the map and the release that has it", () => {
    const obj: ObjectFile = { ...objectOf([]), maps: [{ name: "seen", type: 30, keySize: 0, valueSize: 4, maxEntries: 64, flags: 0, pinning: 0 }] };
    const why = explainMissing(obj, targetForVersion([5, 15]))!;
    expect(why.text).toContain('map type BLOOM_FILTER (map seen): Linux 5.16+, "bpf: Add bloom filter map implementation"');
    expect(why.text).toContain("it needs Linux 5.16 or newer");
    expect(explainMissing(obj, targetForVersion([6, 1]))).toBeUndefined();
  });

  it("a context field: ingress_ifindex on a kernel before 5.17, which no rebuild avoids", () => {
    const obj = readObject(compile({ fileName: "i.ts", source: IFINDEX }, { target: "5.17" }).object!);
    const why = explainMissing(obj, targetForVersion([5, 15]))!;
    expect(why.text).toContain('context field ingress_ifindex (program p, instruction');
    expect(why.text).toContain('Linux 5.17+, "bpf: Add ingress_ifindex to bpf_sk_lookup"');
    expect(why.rightTarget).toBeUndefined();
    expect(why.text).toContain("No --target-kernel makes this object load here: it needs Linux 5.17 or newer.");
    expect(explainMissing(obj, targetForVersion([5, 17]))).toBeUndefined();
  });

  it("helper probes read both wordings of 'not for this program type'", () => {
    expect(helperRefused("0: R1=ctx() R10=fp0\n0: (85) call bpf_get_socket_cookie#46\nunknown func bpf_get_socket_cookie#46\n")).toBe(true);
    expect(helperRefused("program of this type cannot use helper bpf_get_socket_cookie#46\n")).toBe(true);
    expect(helperRefused("R1 type=ctx expected=fp\n")).toBe(false);
    expect(helperRefused("invalid func unknown#212\n")).toBe(false);
  });

  it("test runs before 5.13", () => {
    const err = new KernelError("test run of p: Unknown system error -524", "Unknown system error -524", 524, "bpf(BPF_PROG_TEST_RUN)");
    const named = explainTestRunFailure(err, targetForVersion([5, 10]));
    expect(named).toBeInstanceOf(MissingFeatureError);
    expect(named.message).toContain("Linux 5.10 lacks BPF_PROG_TEST_RUN for sk_lookup programs (Linux 5.13+");
    expect(explainTestRunFailure(err, targetForVersion([5, 13]))).toBe(err);
  });
});

describeKernel("the loader names what the running kernel lacks", () => {
  it("a helper id this kernel does not know: MissingFeatureError with the kernel's log kept", () => {
    const obj = objectOf([call(4000)]);
    let caught: unknown;
    try {
      openKernel().load(obj).close();
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(MissingFeatureError);
    const e = caught as MissingFeatureError;
    expect(e.message).toMatch(/^loading program hand: /);
    expect(e.message).toContain("the running kernel (Linux ");
    expect(e.message).toContain("helper unknown#4000 (program hand, instruction 0): no Linux release tsbpf knows offers it to sk_lookup programs");
    expect(e.message).toContain("No --target-kernel makes this object load here");
    expect(e.log).toMatch(/unknown#4000/);
    expect(e.missing.map((r) => r.helper)).toEqual([4000]);
  });

  it("a refusal with another cause stays the kernel's error", () => {
    // r0 is never set: a verifier error, no missing feature.
    const obj = readObject(writeObject({ fileName: "hand.ts", license: "GPL", programs: [{ name: "hand", insns: [exit()] }], maps: [] }));
    expect(() => openKernel().load(obj)).toThrow(expect.objectContaining({ name: "KernelError" }));
  });
});
