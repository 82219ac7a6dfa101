/**
 * The verifier corpus against the live kernel: every case is loaded into Linux (BPF_PROG_LOAD as root) and tsbpf's
 * verdict must equal the kernel's. Hand-written cases also pin the kernel's verdict to the one the case expects, and
 * C cases encode it in the program name (ok_* / bad_*). Zero false accepts is the hard line.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test, vi } from "vitest";
import { run as verifyCli } from "../../compiler/cli/verify.ts";
import type { VerifyResult } from "../../compiler/verifier/index.ts";
import { readObject } from "../../compiler/elf/reader.ts";
import { verifyProgram } from "../../compiler/verifier/index.ts";
import { describeKernel } from "../support/kernel.ts";
import { ASM_CASES, MAPS, forTarget } from "../fixtures/verifier/asm-cases.ts";
import { asmProgram, hostTarget, kernelVerdict, libbpfVerdict, objectOf } from "./kernel-harness.ts";
import type { KernelTarget } from "../../compiler/target/index.ts";

const root = join(import.meta.dirname, "..", "..");
const fixtures = join(root, "test", "fixtures");

describe("corpus size", () => {
  test("has at least 40 cases", () => {
    const c = readObject(readFileSync(join(fixtures, "verifier", "cases.o"))).programs.length;
    expect(ASM_CASES.length + c).toBeGreaterThanOrEqual(40);
  });
});

describeKernel("hand-written bytecode: tsbpf verdict equals the kernel's", () => {
  test.each(ASM_CASES.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    // Expectations that differ between kernels are read off the running kernel's probed features.
    const host = hostTarget();
    const expected = forTarget(c.expect, host);
    const message = c.kernelMessage === undefined ? undefined : forTarget(c.kernelMessage, host);
    const prog = asmProgram(c.name, c.insns);
    const maps = (c.maps ?? []).map((m) => MAPS[m]!);
    const kernel = kernelVerdict(objectOf(prog, maps, c.license ?? "GPL"), c.name);
    expect({ kernel: kernel.ok, log: kernel.ok ? "" : kernel.log.split("\n").slice(-3).join("\n") }).toMatchObject({ kernel: expected === "accept" });
    if (message && !kernel.ok) expect(kernel.log).toContain(message);
    const ours = verifyProgram(prog, maps, { license: c.license ?? "GPL", target: host });
    expect({ ok: ours.ok, error: ours.error?.message }).toMatchObject({ ok: c.falseReject ? false : kernel.ok });
    // Same words as the kernel, so that users can search them.
    if (message && !ours.ok) expect(ours.error?.message).toContain(message);
  });
});

/** clang cases (cases.c) whose verdict depends on the kernel: ok_/bad_ in their name is the upstream verdict. */
const TARGET_DEPENDENT: Record<string, (t: KernelTarget) => boolean> = {
  // bpf_sk_assign of an unchecked SOCKMAP lookup (released when non-NULL): accepted where the lookup is sock_or_null.
  bad_unchecked_assign: (t) => t.skAssignAcceptsUncheckedLookup,
};

/** Every clang object whose verdicts we compare: ours, plus the repo's other clang corpora (realistic programs). */
const OBJECTS = [
  ...readdirSync(join(fixtures, "verifier"))
    .filter((f) => f.endsWith(".o"))
    .map((f) => join(fixtures, "verifier", f)),
  ...["c", "elf"].flatMap((d) =>
    readdirSync(join(fixtures, d))
      .filter((f) => f.endsWith(".o"))
      .map((f) => join(fixtures, d, f)),
  ),
];

/** `tsbpf verify --target-kernel host --json OBJ`, run once per object: tsbpf's verdict per program. */
const cliVerdicts = new Map<string, Record<string, VerifyResult>>();
async function hostVerdictsOf(path: string): Promise<Record<string, VerifyResult>> {
  let cached = cliVerdicts.get(path);
  if (cached) return cached;
  let out = "";
  const spy = vi.spyOn(process.stdout, "write").mockImplementation((s) => ((out += String(s)), true));
  try {
    await verifyCli([path, "--target-kernel", "host", "--json"]);
  } finally {
    spy.mockRestore();
  }
  cached = JSON.parse(out) as Record<string, VerifyResult>;
  cliVerdicts.set(path, cached);
  return cached;
}

describeKernel("clang-16 objects: `tsbpf verify --target-kernel host` gives the kernel's verdict", () => {
  const rows = OBJECTS.flatMap((path) => {
    let obj;
    try {
      obj = readObject(readFileSync(path));
    } catch {
      return [];
    }
    return obj.programs.filter((p) => p.section === "sk_lookup").map((p) => [`${path.slice(fixtures.length + 1)}:${p.name}`, path, p.name] as const);
  });
  test.each(rows)("%s", async (_label, path, name) => {
    const obj = readObject(readFileSync(path));
    const prog = obj.programs.find((p) => p.name === name)!;
    // Loaded the way libbpf loads them (through bpftool) when our kernel bridge does not do the same yet:
    // - one-program objects with global functions: libbpf passes BTF func info, so the kernel verifies global
    //   functions on their own (and so do we);
    // - global data (.rodata/.data/.bss): the bridge does not yet patch BPF_PSEUDO_MAP_VALUE relocations.
    const globalData = prog.mapRelocs.some((r) => r.kind === "value");
    const viaLibbpf = /\/global-[^/]*\.o$/.test(path) || (globalData && obj.programs.length === 1);
    const kernel = viaLibbpf ? libbpfVerdict(path) : kernelVerdict(obj, name);
    const host = hostTarget();
    if (path.includes("verifier")) expect(kernel.ok).toBe(TARGET_DEPENDENT[name]?.(host) ?? name.startsWith("ok_"));
    const ours = (await hostVerdictsOf(path))[name]!;
    expect(ours.target).toBe(`the running kernel (Linux ${host.release})`);
    expect({ ok: ours.ok, error: ours.error?.message, at: ours.error?.pc }).toMatchObject({ ok: kernel.ok });
    // The library call answers the same as the command.
    expect(verifyProgram(prog, obj.maps, { license: obj.license || "GPL", btf: obj.btf, target: host })).toEqual(ours);
  });
});
