/**
 * Test helper: the live kernel's verdict on one program of an object (hand-assembled or read from clang's ELF), through
 * the kernel bridge. Success returns the processed-instruction count from the BPF_LOG_STATS line; a rejection returns
 * the errno and the verifier log.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { encode, decode, type Instruction } from "../../compiler/asm/index.ts";
import type { MapDef } from "../../compiler/abi/maps.ts";
import type { ObjProgram, ObjectFile } from "../../compiler/elf/object.ts";
import { loadObject } from "../../runtime/kernel/index.ts";
import { type KernelTarget, resolveTarget } from "../../compiler/target/index.ts";

/**
 * The running kernel as a verifier target (features probed, compiler/target/host.ts): tests that compare tsbpf's
 * verdict with the live kernel's verify for this target, so they hold on any kernel build.
 */
export const hostTarget = (): KernelTarget => resolveTarget("host");

/** The kernel's answer. */
export interface KernelVerdict {
  ok: boolean;
  /** errno name on rejection (EACCES, EINVAL, E2BIG, ...). */
  code?: string;
  log: string;
  processed?: number;
}

/** Assembles builder instructions (labels, `ldMap`) into a linked program as the ELF reader would return it. */
export function asmProgram(name: string, insns: Instruction[]): ObjProgram {
  const enc = encode(insns);
  const mapRelocs = enc.relocations.filter((r) => r.kind === "map").map((r) => ({ slot: r.slot, map: r.symbol }));
  return { name, section: "sk_lookup", insns: decode(enc.bytes), bytes: enc.bytes, mapRelocs, lineInfo: [], funcInfo: [] };
}

/** Loads `prog` of `obj` into the kernel and reports its verdict. */
export function kernelVerdict(obj: ObjectFile, prog: string): KernelVerdict {
  try {
    const loaded = loadObject(obj, { logLevel: 4, programs: [prog] });
    const log = loaded.program(prog).log;
    loaded.close();
    const m = /processed (\d+) insns/.exec(log);
    return { ok: true, log, processed: m ? Number(m[1]) : undefined };
  } catch (err) {
    const e = err as { code?: string; log?: string; message: string };
    if (typeof e.code !== "string") throw err;
    return { ok: false, code: e.code, log: e.log ?? e.message };
  }
}

/** An object holding one hand-written program and its maps. */
export const objectOf = (prog: ObjProgram, maps: MapDef[], license = "GPL"): ObjectFile => ({ license, programs: [prog], maps });

/**
 * The kernel's verdict on a one-program clang object loaded the way libbpf loads it (with BTF func and line info,
 * so global functions are verified on their own), through `bpftool prog loadall`.
 */
export function libbpfVerdict(path: string): KernelVerdict {
  const dir = mkdtempSync(join("/sys/fs/bpf", "tsbpf-verify-"));
  try {
    execFileSync("bpftool", ["-d", "prog", "loadall", path, join(dir, "p"), "type", "sk_lookup"], { stdio: "pipe" });
    return { ok: true, log: "" };
  } catch (err) {
    const e = err as { stderr?: Buffer };
    return { ok: false, log: e.stderr?.toString() ?? String(err) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
