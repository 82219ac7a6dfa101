/**
 * Kernel targets: which kernels a build must load on. `resolveTarget("5.10")` reads the version table
 * (versions.ts); `resolveTarget("host")` probes the running kernel (host.ts). The default is 5.10, the oldest LTS
 * with sk_lookup, so that one object loads on every kernel a user may run.
 *
 * The verifier, the code generator and the loader all ask the same {@link KernelTarget}.
 */
import {
  FEATURE_ROWS,
  HELPER_ROWS,
  KNOWN_VERSIONS,
  MAX_HELPER_ID_ROWS,
  NEWEST_VERSION,
  OLDEST_VERSION,
  SOCKMAP_LOOKUP_ROW,
  type Feature,
  type KernelVersion,
  TargetError,
  atLeast,
  compareVersions,
  formatVersion,
  parseVersion,
} from "./versions.ts";
import { probeHost } from "./host.ts";

export {
  FEATURE_ROWS,
  HELPER_ROWS,
  KNOWN_VERSIONS,
  MAX_HELPER_ID_ROWS,
  NEWEST_VERSION,
  OLDEST_VERSION,
  SOCKMAP_LOOKUP_ROW,
  CTX_LAYOUT_ROW,
  HELPER_WORDING_ROW,
  type Feature,
  type HelperRow,
  type KernelVersion,
  type VersionRow,
  TargetError,
  atLeast,
  compareVersions,
  formatVersion,
  parseVersion,
} from "./versions.ts";
export { hostCacheDir, hostCacheKey, probeHost, type HostProbeOptions } from "./host.ts";

/** How the verifier types an unchecked SOCKMAP/SOCKHASH lookup result. */
export type SockmapLookupType = "map_value_or_null" | "sock_or_null";

/** A resolved feature set: everything tsbpf needs to know about the kernels a build targets. */
export interface KernelTarget {
  /** What the user asked for: "5.10", "6.6", "host". */
  name: string;
  /** The release (for `host`, the running kernel's major.minor). */
  version: KernelVersion;
  /** For `host`: the running kernel's `uname -r`. */
  release?: string;
  /** True when the features were measured on the running kernel rather than read from the table. */
  probed: boolean;
  /** cpu v4 instructions (ldsx, movsx, sdiv/smod, bswap, gotol). Linux 6.6. */
  isaV4: boolean;
  /** Atomic fetch forms, xchg, cmpxchg, atomic and/or/xor. Linux 5.12. */
  atomicFetch: boolean;
  /** BTF kinds newer than 5.10: FLOAT 5.13, DECL_TAG 5.16, TYPE_TAG 5.17, ENUM64 6.0. */
  btfKinds: { float: boolean; declTag: boolean; typeTag: boolean; enum64: boolean };
  /** BPF_PROG_TEST_RUN for sk_lookup. Linux 5.13 (and 5.10.135+ stable). */
  testRunSkLookup: boolean;
  /** The context has `ingress_ifindex` (offset 64); before, a load there is an invalid context access. Linux 5.17. */
  ctxIngressIfindex: boolean;
  /** ARRAY/PERCPU_ARRAY lookups with a constant in-range key are non-NULL. Linux 6.14. */
  arrayLookupConstKeyNonNull: boolean;
  /** Type of an unchecked SOCKMAP/SOCKHASH lookup (upstream: map_value_or_null; some 6.18 builds: sock_or_null). */
  sockmapLookupType: SockmapLookupType;
  /** An unchecked SOCKMAP/SOCKHASH lookup result may be passed to bpf_sk_assign (true where it is sock_or_null). */
  skAssignAcceptsUncheckedLookup: boolean;
  /** Helper ids an sk_lookup program may call (as root). */
  helpers: ReadonlySet<number>;
  /** The highest helper id the kernel knows; higher ids are `invalid func unknown#N`. */
  maxHelperId: number;
}

/** The default target: the oldest LTS with sk_lookup. */
export const DEFAULT_TARGET = formatVersion(OLDEST_VERSION);

/** What --target-kernel accepts, for usage text and errors. */
export const TARGET_SYNTAX = `a Linux version from ${formatVersion(OLDEST_VERSION)} to ${formatVersion(NEWEST_VERSION)} (e.g. 5.10, 6.1, 6.6), or "host" (probe the running kernel)`;

const has = (v: KernelVersion, f: Feature): boolean => atLeast(v, FEATURE_ROWS[f].since);

/** The table's feature set for release `version` (which must be within the supported range). */
export function targetForVersion(version: KernelVersion, name = formatVersion(version)): KernelTarget {
  const helpers = new Set<number>();
  for (const row of HELPER_ROWS) if (atLeast(version, row.since)) for (const id of row.ids) helpers.add(id);
  let maxHelperId = 0;
  for (const row of MAX_HELPER_ID_ROWS) if (atLeast(version, row.since)) maxHelperId = row.maxId;
  return {
    name,
    version,
    probed: false,
    isaV4: has(version, "isaV4"),
    atomicFetch: has(version, "atomicFetch"),
    btfKinds: {
      float: has(version, "btfFloat"),
      declTag: has(version, "btfDeclTag"),
      typeTag: has(version, "btfTypeTag"),
      enum64: has(version, "btfEnum64"),
    },
    testRunSkLookup: has(version, "testRunSkLookup"),
    ctxIngressIfindex: has(version, "ctxIngressIfindex"),
    arrayLookupConstKeyNonNull: has(version, "arrayLookupConstKeyNonNull"),
    sockmapLookupType: SOCKMAP_LOOKUP_ROW.upstream,
    skAssignAcceptsUncheckedLookup: false,
    helpers,
    maxHelperId,
  };
}

/**
 * Resolves a --target-kernel value: undefined → 5.10 (the default), "X.Y" → the table's feature set, "host" → the
 * running kernel's probed feature set (cached), or an already resolved target. Throws {@link TargetError} with a
 * message naming what is accepted.
 */
export function resolveTarget(spec?: string | KernelTarget): KernelTarget {
  if (spec !== undefined && typeof spec !== "string") return spec;
  const text = (spec ?? DEFAULT_TARGET).trim();
  if (text === "host") return probeHost();
  const version = parseVersion(text);
  if (!version) throw new TargetError(`unknown kernel target '${text}': expected ${TARGET_SYNTAX}`);
  if (compareVersions(version, [5, 9]) < 0) {
    throw new TargetError(
      `kernel target ${text} cannot run sk_lookup programs: sk_lookup needs Linux 5.9+; tsbpf supports ${formatVersion(OLDEST_VERSION)} (the oldest LTS with sk_lookup) to ${formatVersion(NEWEST_VERSION)}`,
    );
  }
  if (compareVersions(version, OLDEST_VERSION) < 0) {
    throw new TargetError(
      `kernel target ${text} is not supported: tsbpf supports ${formatVersion(OLDEST_VERSION)} (the oldest LTS with sk_lookup) to ${formatVersion(NEWEST_VERSION)}; use --target-kernel ${formatVersion(OLDEST_VERSION)}`,
    );
  }
  if (compareVersions(version, NEWEST_VERSION) > 0) {
    throw new TargetError(
      `kernel target ${text} is newer than tsbpf's kernel table (which ends at ${formatVersion(NEWEST_VERSION)}): use --target-kernel ${formatVersion(NEWEST_VERSION)}, or "host" to probe the running kernel`,
    );
  }
  return targetForVersion(version, text);
}

/** "Linux 5.10", or "this host's Linux 6.18.44-fc-v1272" for a probed target: used in verdicts. */
export function describeTarget(t: KernelTarget): string {
  return t.probed ? `the running kernel (Linux ${t.release ?? formatVersion(t.version)})` : `Linux ${t.name}`;
}

/** True when `helper` may be called by sk_lookup programs on the target. */
export const helperAvailable = (t: KernelTarget, helper: number): boolean => t.helpers.has(helper);

/** The table's targets for {@link KNOWN_VERSIONS}, oldest first. */
export function knownTargets(): KernelTarget[] {
  return KNOWN_VERSIONS.map((v) => targetForVersion(v));
}

/** The newest release the table describes, as a target. */
export const newestTarget = (): KernelTarget => targetForVersion(NEWEST_VERSION);
