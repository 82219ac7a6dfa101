/**
 * Naming what a kernel lacks when it refuses an object. The verifier's log says `unknown opcode 3c` or
 * `invalid func unknown#164`; a user needs "this kernel is 6.1, the object uses signed division (Linux 6.6+): build
 * with --target-kernel 6.1". The object's requirements (compiler/target/requirements.ts) are compared with the
 * running kernel's probed feature set (compiler/target, `host`), and a failed load is re-thrown as a
 * {@link MissingFeatureError} that says which features are missing, since which release, and which target would
 * have been right; the kernel's own message and log follow.
 */
import { helperLabel } from "../../compiler/asm/helpers.ts";
import type { ObjectFile } from "../../compiler/elf/object.ts";
import { describeTarget, formatVersion, probeHost, type KernelTarget } from "../../compiler/target/index.ts";
import { minimumVersion, objectRequirements, unmetOn, type Requirement } from "../../compiler/target/requirements.ts";
import { FEATURE_ROWS } from "../../compiler/target/versions.ts";
import { KernelError } from "./native.ts";

/** A load or test run refused because the running kernel lacks features the object uses. */
export class MissingFeatureError extends KernelError {
  override name = "MissingFeatureError";
  constructor(
    message: string,
    cause: KernelError,
    /** What the kernel lacks. */
    readonly missing: readonly Requirement[],
    /** The `--target-kernel` that would have produced an object this kernel loads, when one would. */
    readonly rightTarget: string | undefined,
  ) {
    super(message, cause.code, cause.errno, cause.syscall, cause.log);
  }
}

/** The running kernel's feature set, or undefined when it cannot be probed (then errors stay as they are). */
export function hostTargetOrUndefined(): KernelTarget | undefined {
  try {
    return probeHost();
  } catch {
    return undefined;
  }
}

function describe(r: Requirement): string {
  const what = r.feature === "helper" && r.helper !== undefined ? `helper ${helperLabel(r.helper)}` : r.what;
  const where =
    r.program !== undefined ? ` (program ${r.program}, instruction ${r.slot})` : r.map !== undefined ? ` (map ${r.map})` : r.feature.startsWith("btf") ? " (in the object's BTF)" : "";
  const since = r.since ? `Linux ${formatVersion(r.since)}+${r.commit ? `, "${r.commit}"` : ""}` : "no Linux release tsbpf knows offers it to sk_lookup programs";
  return `${what}${where}: ${since}`;
}

/**
 * The explanation of a refusal by `host`, or undefined when the object uses nothing `host` lacks (then the refusal
 * has another cause, and the kernel's message stands alone). `program` limits the instruction checks to one program.
 */
export function explainMissing(obj: ObjectFile, host: KernelTarget, program?: string): { text: string; missing: Requirement[]; rightTarget?: string } | undefined {
  const scoped = program === undefined ? obj : { ...obj, programs: obj.programs.filter((p) => p.name === program) };
  const missing = unmetOn(host, objectRequirements(scoped));
  if (missing.length === 0) return undefined;
  const head = `${describeTarget(host)} lacks what the object uses:\n${missing.map((r) => `  - ${describe(r)}`).join("\n")}`;
  // Code generation avoids ISA forms, atomics and BTF kinds a target lacks; a helper call, a map type or a context
  // field the source reads it cannot.
  const avoidable = missing.every((r) => r.feature !== "helper" && r.feature !== "mapType" && r.feature !== "ctxIngressIfindex");
  if (avoidable) {
    const right = host.probed ? `${formatVersion(host.version)} (or host, on this machine)` : formatVersion(host.version);
    const rightTarget = formatVersion(host.version);
    return {
      text: `${head}\nThe object was built for a newer kernel: rebuild it with --target-kernel ${right}, or with the default (5.10) to load on every supported kernel.`,
      missing,
      rightTarget,
    };
  }
  const needed = minimumVersion(missing);
  const unknown = missing.some((r) => r.since === undefined);
  const text = unknown
    ? `${head}\nNo --target-kernel makes this object load here: it calls a helper this kernel does not offer sk_lookup programs.`
    : `${head}\nNo --target-kernel makes this object load here: it needs Linux ${formatVersion(needed)} or newer.`;
  return { text, missing };
}

/** Re-throws a kernel refusal of `obj` as a {@link MissingFeatureError} when `host` lacks something it uses. */
export function withMissingFeatures(err: KernelError, obj: ObjectFile, program: string | undefined, host: KernelTarget | undefined): KernelError {
  if (!host) return err;
  const why = explainMissing(obj, host, program);
  if (!why) return err;
  return new MissingFeatureError(`${err.message.split("\n")[0]}\n${why.text}${err.log ? `\nverifier log:\n${err.log.trimEnd()}` : ""}`, err, why.missing, why.rightTarget);
}

/**
 * A failed BPF_PROG_TEST_RUN on a kernel without test runs for sk_lookup (before 5.13): says so, and where programs
 * can run instead, rather than a bare ENOTSUPP. Other failures are returned unchanged.
 */
export function explainTestRunFailure(err: KernelError, host: KernelTarget | undefined): KernelError {
  if (!host || host.testRunSkLookup) return err;
  const row = FEATURE_ROWS.testRunSkLookup;
  const text =
    `${describeTarget(host)} lacks BPF_PROG_TEST_RUN for sk_lookup programs (Linux ${formatVersion(row.since)}+, "${row.commit}"): ` +
    `run the program in tsbpf's VM instead (\`tsbpf run\` without --kernel), or attach it and send real traffic`;
  const missing: Requirement[] = [{ feature: "testRunSkLookup", what: row.what, since: row.since, commit: row.commit }];
  return new MissingFeatureError(`${err.message.split("\n")[0]}\n${text}`, err, missing, undefined);
}
