/**
 * The verifier follows the kernel target. Every row of the version table (compiler/target/versions.ts) is pinned by a
 * program that tsbpf's verifier accepts for the row's release and rejects for the release before it; where the
 * running kernel is at or past the row's release, the kernel must accept it too. Verdicts name the target, and a
 * rejection names the oldest release that would accept the program.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, test, vi } from "vitest";
import {
  AluOp, AtomicOp, Class, JmpOp, Mode, Size, Source, alu64, atomic, call, exit, jmp64, ldMap, ldx, mov64, reg, st, stx, withLabel,
  HELPER_NAMES, type Instruction,
} from "../../compiler/asm/index.ts";
import { compile, verifierDiagnostics } from "../../compiler/index.ts";
import { run as verifyCli } from "../../compiler/cli/verify.ts";
import { verifyProgram } from "../../compiler/verifier/index.ts";
import {
  FEATURE_ROWS, HELPER_ROWS, MAX_HELPER_ID_ROWS, atLeast, formatVersion, resolveTarget, targetForVersion,
  type Feature, type KernelTarget, type KernelVersion,
} from "../../compiler/target/index.ts";
import { ctxFieldLoads, objectRequirements, unmetOn } from "../../compiler/target/requirements.ts";
import { helperRefused } from "../../compiler/target/host.ts";
import { readObject } from "../../compiler/elf/index.ts";
import { MAPS } from "../fixtures/verifier/asm-cases.ts";
import { describeKernel } from "../support/kernel.ts";
import { asmProgram, hostTarget, kernelVerdict, objectOf } from "./kernel-harness.ts";

/** The release before `v` (6.0 → 5.19). */
const previous = (v: KernelVersion): KernelVersion => (v[1] > 0 ? [v[0], v[1] - 1] : [v[0] - 1, 19]);
const at = (v: KernelVersion): KernelTarget => targetForVersion(v);
const ret1: Instruction[] = [mov64(0, 1), exit()];
/** r6 = ctx; key = 1 stored at the aligned fp-8 (a constant the verifier tracks); r0 = lookup(map, &key). */
const constKeyLookup = (map: string): Instruction[] => [
  mov64(6, reg(1)), st(Size.W, 10, -8, 1), mov64(2, reg(10)), alu64(AluOp.ADD, 2, -8), ldMap(1, map), call(1),
];

interface RowCase {
  feature: Feature;
  /** One program per encoding or behaviour the row brings. */
  programs: Record<string, { insns: Instruction[]; maps?: string[]; before: string }>;
}

/** A program per verifier-visible feature row; `before` is the message of the release before the row. */
const ROW_CASES: RowCase[] = [
  {
    feature: "atomicFetch",
    programs: {
      fetch_add: { before: "BPF_XADD uses reserved fields", insns: [mov64(1, 0), stx(Size.DW, 10, -8, 1), mov64(1, 1), atomic(Size.DW, AtomicOp.ADD | AtomicOp.FETCH, 10, -8, 1), ...ret1] },
      xchg: { before: "BPF_XADD uses reserved fields", insns: [mov64(1, 0), stx(Size.DW, 10, -8, 1), mov64(1, 1), atomic(Size.DW, AtomicOp.XCHG, 10, -8, 1), ...ret1] },
      atomic_or: { before: "BPF_XADD uses reserved fields", insns: [mov64(1, 0), stx(Size.DW, 10, -8, 1), mov64(1, 1), atomic(Size.DW, AtomicOp.OR, 10, -8, 1), ...ret1] },
    },
  },
  {
    feature: "isaV4",
    programs: {
      movsx: { before: "BPF_MOV uses reserved fields", insns: [mov64(1, 1), { opcode: Class.ALU64 | AluOp.MOV | Source.X, dst: 0, src: 1, off: 8, imm: 0 }, alu64(AluOp.AND, 0, 1), exit()] },
      sdiv: { before: "BPF_ALU uses reserved fields", insns: [mov64(0, 3), { opcode: Class.ALU64 | AluOp.DIV | Source.K, dst: 0, src: 0, off: 1, imm: -2 }, alu64(AluOp.AND, 0, 1), exit()] },
      ldsx: { before: "BPF_LDX uses reserved fields", insns: [st(Size.DW, 10, -8, 1), { opcode: Class.LDX | Mode.MEMSX | Size.B, dst: 0, src: 10, off: -8, imm: 0 }, alu64(AluOp.AND, 0, 1), exit()] },
      bswap: { before: "unknown opcode d7", insns: [mov64(0, 1), { opcode: Class.ALU64 | AluOp.END, dst: 0, src: 0, off: 0, imm: 16 }, alu64(AluOp.AND, 0, 1), exit()] },
      gotol: { before: "unknown opcode 06", insns: [{ opcode: Class.JMP32 | JmpOp.JA, dst: 0, src: 0, off: 0, imm: 0 }, ...ret1] },
    },
  },
  {
    feature: "ctxIngressIfindex",
    programs: {
      word: { before: "invalid bpf_context access off=64 size=4", insns: [ldx(Size.W, 0, 1, 64), alu64(AluOp.AND, 0, 1), exit()] },
      byte: { before: "invalid bpf_context access off=65 size=1", insns: [ldx(Size.B, 0, 1, 65), alu64(AluOp.AND, 0, 1), exit()] },
    },
  },
  {
    feature: "arrayLookupConstKeyNonNull",
    programs: {
      array: { before: "R0 invalid mem access 'map_value_or_null'", maps: ["arr"], insns: [...constKeyLookup("arr"), ldx(Size.DW, 1, 0, 0), ...ret1] },
      percpu_array: { before: "R0 invalid mem access 'map_value_or_null'", maps: ["pcpu"], insns: [...constKeyLookup("pcpu"), ldx(Size.DW, 1, 0, 0), ...ret1] },
    },
  },
];

const verdict = (insns: Instruction[], target: KernelTarget, maps: string[] = []) => verifyProgram(asmProgram("p", insns), maps.map((m) => MAPS[m]!), { target });

describe("each feature row flips the verdict at its release", () => {
  const rows = ROW_CASES.flatMap((row) => Object.entries(row.programs).map(([name, p]) => [`${row.feature}: ${name}`, row.feature, p] as const));
  test.each(rows)("%s", (_label, feature, p) => {
    const since = FEATURE_ROWS[feature].since;
    expect(verdict(p.insns, at(since), p.maps)).toMatchObject({ ok: true, target: `Linux ${formatVersion(since)}` });
    const before = verdict(p.insns, at(previous(since)), p.maps);
    expect(before).toMatchObject({ ok: false, target: `Linux ${formatVersion(previous(since))}`, loadsFrom: formatVersion(since) });
    expect(before.error?.message).toBe(p.before);
  });
});

/** `call id; r0 = 1; exit`: past the availability check, a helper's own argument checks may still refuse it. */
const callOnly = (id: number): Instruction[] => [call(id), ...ret1];
const AVAILABILITY = /^(program of this type cannot use helper|unknown func |invalid func unknown#)/;
/** What the kernel of release `v` says for a helper it knows but sk_lookup may not call (HELPER_WORDING_ROW). */
const unavailable = (v: KernelVersion, id: number): string => `${atLeast(v, [6, 7]) ? "program of this type cannot use helper" : "unknown func"} ${label(id)}`;
const label = (id: number): string => `bpf_${HELPER_NAMES.get(id)}#${id}`;

describe("each helper row makes its helpers callable at its release", () => {
  const rows = HELPER_ROWS.flatMap((row) => row.ids.map((id) => [`${formatVersion(row.since)}: ${label(id)}`, row.since, id] as const));
  test.each(rows)("%s", (_label, since, id) => {
    const r = verdict(callOnly(id), at(since));
    expect(r.ok || !AVAILABILITY.test(r.error!.message), r.error?.message).toBe(true);
    if (!atLeast(previous(since), [5, 10])) return;
    const prev = at(previous(since));
    const before = verdict(callOnly(id), prev);
    expect(before.error?.message).toBe(id > prev.maxHelperId ? `invalid func unknown#${id}` : unavailable(prev.version, id));
  });

  test.each(MAX_HELPER_ID_ROWS.filter((r) => atLeast(previous(r.since), [5, 10])).map((r) => [`${formatVersion(r.since)}: #${r.maxId}`, r] as const))(
    "the highest helper id %s is known from its release on",
    (_label, row) => {
      expect(at(previous(row.since)).maxHelperId).toBeLessThan(row.maxId);
      expect(verdict(callOnly(row.maxId), at(previous(row.since))).error?.message).toBe(`invalid func unknown#${row.maxId}`);
      expect(verdict(callOnly(row.maxId), at(row.since)).error?.message ?? "").not.toMatch(/^invalid func/);
    },
  );

  test("tsbpf's modelled integer helpers are accepted from their release (get_current_pid_tgid: 6.10)", () => {
    const insns = [call(14), alu64(AluOp.AND, 0, 1), exit()];
    expect(verdict(insns, at([6, 10])).ok).toBe(true);
    const r = verdict(insns, at([6, 9]));
    expect(r).toMatchObject({ ok: false, loadsFrom: "6.10", error: { message: "program of this type cannot use helper bpf_get_current_pid_tgid#14" } });
  });

  test("a helper no release lets sk_lookup call names no release", () => {
    const r = verdict(callOnly(46), at([5, 10]));
    expect(r).toMatchObject({ ok: false, error: { message: "unknown func bpf_get_socket_cookie#46" } });
    expect(r.loadsFrom).toBeUndefined();
  });

  test("the refusal is worded as each release words it: 'unknown func' up to 6.6, 'program of this type cannot use helper' from 6.7", () => {
    expect(verdict(callOnly(46), at([6, 6])).error?.message).toBe("unknown func bpf_get_socket_cookie#46");
    expect(verdict(callOnly(46), at([6, 7])).error?.message).toBe("program of this type cannot use helper bpf_get_socket_cookie#46");
    expect(verdict(callOnly(46), at([6, 18])).error?.message).toBe("program of this type cannot use helper bpf_get_socket_cookie#46");
  });
});

describe("SOCKMAP lookup typing", () => {
  // bpf_sk_assign(ctx, lookup(...)) before the NULL check, then released when non-NULL.
  const insns = [
    mov64(6, reg(1)), st(Size.W, 10, -4, 0), mov64(2, reg(10)), alu64(AluOp.ADD, 2, -4), ldMap(1, "sockets"), call(1),
    mov64(7, reg(0)), mov64(1, reg(6)), mov64(2, reg(0)), mov64(3, 0), call(124), jmp64(JmpOp.JEQ, 7, 0, "o"),
    mov64(1, reg(7)), call(86), withLabel(mov64(0, 1), "o"), exit(),
  ];
  const sockOrNull: KernelTarget = { ...at([6, 18]), name: "6.18 (sock_or_null build)", sockmapLookupType: "sock_or_null", skAssignAcceptsUncheckedLookup: true };

  test("upstream typing (every release): an unchecked lookup is not a socket for bpf_sk_assign", () => {
    for (const v of [[5, 10], [6, 18]] as const) {
      expect(verdict(insns, at(v), ["sockets"])).toMatchObject({ ok: false, error: { message: "R2 type=map_value_or_null expected=sock" } });
    }
  });

  test("builds that type it sock_or_null accept it, and still refuse a dereference before the check", () => {
    expect(verdict(insns, sockOrNull, ["sockets"]).ok).toBe(true);
    const deref = [...insns.slice(0, 6), ldx(Size.W, 1, 0, 4), ...ret1];
    expect(verdict(deref, sockOrNull, ["sockets"]).error?.message).toBe("R0 invalid mem access 'sock_or_null'");
  });
});

describeKernel("the running kernel agrees with the table on its side of every row", () => {
  test("feature rows: the kernel accepts each program when its release is at or past the row", () => {
    const host = hostTarget();
    for (const row of ROW_CASES) {
      if (!atLeast(host.version, FEATURE_ROWS[row.feature].since)) continue;
      for (const [name, p] of Object.entries(row.programs)) {
        const prog = asmProgram(name, p.insns);
        const k = kernelVerdict(objectOf(prog, (p.maps ?? []).map((m) => MAPS[m]!)), name);
        expect({ name, ok: k.ok, log: k.log.split("\n").slice(-3).join("\n") }).toMatchObject({ name, ok: true });
        expect(verifyProgram(prog, (p.maps ?? []).map((m) => MAPS[m]!), { target: host }).ok, name).toBe(true);
      }
    }
  });

  test("helper rows: the kernel lets sk_lookup call each helper whose row it is past", () => {
    const host = hostTarget();
    for (const row of HELPER_ROWS) {
      if (!atLeast(host.version, row.since)) continue;
      for (const id of row.ids) {
        const k = kernelVerdict(objectOf(asmProgram("p", callOnly(id)), []), "p");
        expect(k.ok || !(helperRefused(k.log) || /invalid func/.test(k.log)), `${label(id)}: ${k.log.split("\n").slice(-2).join(" ")}`).toBe(true);
      }
    }
  });

  test("the host verdict names the running kernel", () => {
    const host = hostTarget();
    expect(verdict(ret1, host).target).toBe(`the running kernel (Linux ${host.release})`);
  });
});

const SIGNED = `import { type SkLookup, type Verdict, SK_PASS, SK_DROP, ArrayMap, type i32 } from "tsbpf";
interface In { a: i32 }
export const input = new ArrayMap<In>({ maxEntries: 1 });
export function p(ctx: SkLookup): Verdict {
  const v = input.lookup(0);
  if (v === null) return SK_PASS;
  return v.a / 7 === 1 ? SK_DROP : SK_PASS;
}
`;

const IFINDEX = `import { type SkLookup, type Verdict, SK_PASS, SK_DROP } from "tsbpf";
export function p(ctx: SkLookup): Verdict {
  const lo = ctx.localPort === 7007;
  return lo && ctx.ingressIfindex === 1 ? SK_DROP : SK_PASS;
}
`;

describe("ctx.ingressIfindex follows the target (the field arrived in 5.17)", () => {
  test("the default target (5.10): TSBPF3003 at the TS line, naming 5.17", () => {
    const r = compile({ fileName: "ifindex.ts", source: IFINDEX });
    const [d, ...more] = r.diagnostics;
    expect(more).toEqual([]);
    expect(d).toMatchObject({ code: "TSBPF3003", file: "ifindex.ts", line: 4 });
    expect(d!.message).toBe("program 'p' loads only from Linux 5.17: the verifier of Linux 5.10 rejects it: invalid bpf_context access off=64 size=4");
  });

  test("5.16 rejects it, 5.17 builds it; the object's requirements name the field", () => {
    expect(compile({ fileName: "ifindex.ts", source: IFINDEX }, { target: "5.16" }).diagnostics[0]?.message).toContain("loads only from Linux 5.17: the verifier of Linux 5.16 rejects it");
    const r = compile({ fileName: "ifindex.ts", source: IFINDEX }, { target: "5.17" });
    expect(r.diagnostics).toEqual([]);
    const reqs = objectRequirements(readObject(r.object!));
    expect(reqs).toEqual([expect.objectContaining({ feature: "ctxIngressIfindex", what: "context field ingress_ifindex", since: [5, 17], program: "p" })]);
    expect(unmetOn(at([5, 16]), reqs).map((q) => q.feature)).toEqual(["ctxIngressIfindex"]);
    expect(unmetOn(at([5, 17]), reqs)).toEqual([]);
  });

  test("the scan follows the context pointer through copies and stops at a call or an overwrite", () => {
    const via6 = [mov64(6, reg(1)), call(7), ldx(Size.W, 2, 6, 64), ldx(Size.W, 2, 1, 64), mov64(6, 0), ldx(Size.W, 2, 6, 64), ...ret1];
    expect(ctxFieldLoads(via6, 64)).toEqual([2]);
  });
});

describe("ctx.remotePort reads the same on every release", () => {
  const REMOTE_PORT = `import { type SkLookup, type Verdict, SK_PASS, SK_DROP } from "tsbpf";
export function p(ctx: SkLookup): Verdict {
  return ctx.remotePort === 40000 ? SK_DROP : SK_PASS;
}
`;
  // Every release accepts 1/2/4-byte loads at 36 and returns the be16 port for the 2-byte one (before 5.18 through
  // the u32 field's narrow-load path, after as the be16 field itself); only the 2-byte load at 38 differs.
  test.each(["5.10", "5.17", "5.18", "6.18"])("target %s: one 2-byte load at 36, none at 37..39", (target) => {
    const r = compile({ fileName: "rp.ts", source: REMOTE_PORT }, { target });
    expect(r.diagnostics).toEqual([]);
    const loads = r.insns!.get("p")!.filter((i) => (i.opcode & 0x07) === Class.LDX && i.off >= 36 && i.off < 40);
    expect(loads.map((i) => [i.opcode, i.off])).toEqual([[Class.LDX | Mode.MEM | Size.H, 36]]);
  });
});

describe("an object built for a newer target, checked against an older one", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-targets-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(() => vi.restoreAllMocks());

  test("compile(): TSBPF3003 at the TS line, naming the release it loads from", () => {
    const r = compile({ fileName: "signed.ts", source: SIGNED }, { target: "6.6" });
    expect(r.diagnostics).toEqual([]);
    const [d, ...more] = verifierDiagnostics("signed.ts", r.object!, r.insns!, resolveTarget("6.5"));
    expect(more).toEqual([]);
    expect(d).toMatchObject({ code: "TSBPF3003", file: "signed.ts", line: 7 });
    expect(d!.message).toBe("program 'p' loads only from Linux 6.6: the verifier of Linux 6.5 rejects it: BPF_ALU uses reserved fields");
    expect(d!.suggestion).toBe("Rewrite it so that the verifier of Linux 6.5 accepts it (see the notes), or build with --target-kernel 6.6 if every host runs Linux 6.6 or newer.");
    // The default build of the same source lowers the division and passes the default target.
    expect(compile({ fileName: "signed.ts", source: SIGNED }).diagnostics).toEqual([]);
  });

  test("tsbpf verify --target-kernel: rejected for 6.5 with 'loads from: Linux 6.6', accepted for 6.6", async () => {
    const file = join(dir, "signed.bpf.o");
    writeFileSync(file, compile({ fileName: "signed.ts", source: SIGNED }, { target: "6.6" }).object!);
    let out = "";
    vi.spyOn(process.stdout, "write").mockImplementation((s) => ((out += String(s)), true));
    expect(await verifyCli([file, "--target-kernel", "6.5"])).toBe(1);
    expect(out).toMatch(/^p: rejected for Linux 6\.5 at insn \d+: /);
    expect(out).toContain("  error: BPF_ALU uses reserved fields\n");
    expect(out).toContain("  loads from: Linux 6.6 (build with --target-kernel 6.6 if every host runs it)\n");
    out = "";
    expect(await verifyCli([file, "--target-kernel", "6.6"])).toBe(0);
    expect(out).toMatch(/^p: accepted for Linux 6\.6 \(\d+ instructions processed\)\n$/);
  });
});
