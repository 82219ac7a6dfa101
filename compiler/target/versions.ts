/**
 * THE table of what each Linux version lets an sk_lookup program do (loaded as root: CAP_BPF + CAP_PERFMON).
 *
 * Every row names the upstream release that introduced the behaviour and the commit title that did it, so that a
 * reader can check it against kernel sources. `resolveTarget("6.1")` turns the table into a {@link KernelTarget}
 * feature set; `resolveTarget("host")` measures the same features on the running kernel instead (host.ts).
 *
 * tsbpf supports 5.10 (the oldest LTS with sk_lookup, which arrived in 5.9) up to {@link NEWEST_VERSION}.
 */

/** `[major, minor]` of a Linux release. */
export type KernelVersion = readonly [number, number];

/** One row of the table: since which release a behaviour exists, and which commit brought it. */
export interface VersionRow {
  /** First upstream release with the behaviour. */
  since: KernelVersion;
  /** Title(s) of the commit(s) that introduced it. */
  commit: string;
  /** What the row means for a tsbpf program. */
  what: string;
}

/** The oldest release tsbpf targets: the oldest LTS with sk_lookup (5.9 introduced it, 5.10 is the LTS). */
export const OLDEST_VERSION: KernelVersion = [5, 10];
/** The newest release the table describes (measured here on 6.18.44 builds). */
export const NEWEST_VERSION: KernelVersion = [6, 18];
/** The LTS and common distribution releases users name; `tsbpf verify` reports against these. */
export const KNOWN_VERSIONS: readonly KernelVersion[] = [[5, 10], [5, 15], [6, 1], [6, 6], [6, 8], [6, 12], [6, 18]];

/** Boolean features of the model, each with its row. */
export const FEATURE_ROWS = {
  /**
   * Atomic fetch-and-op, xchg, cmpxchg and atomic and/or/xor (BPF_ATOMIC with BPF_FETCH or imm other than ADD).
   * Brendan Jackman's series (v7 posted 14 Jan 2021, 5ffa25502b5a among it) went to bpf-next before the 5.12 window.
   */
  atomicFetch: {
    since: [5, 12],
    commit: "bpf: Add BPF_FETCH field / create atomic_fetch_add instruction; bpf: Add instructions for atomic_[cmp]xchg; bpf: Add bitwise atomic instructions",
    what: "atomic fetch-and-add/and/or/xor, xchg and cmpxchg instructions",
  },
  /**
   * BTF_KIND_FLOAT in the object's BTF. Kernel side b1828f0b0482, in "pull-request: bpf-next 2021-03-09" (after
   * 5.12-rc1), so 5.13.
   */
  btfFloat: { since: [5, 13], commit: "bpf: Add BTF_KIND_FLOAT support", what: "BTF_KIND_FLOAT" },
  /**
   * PROG_TEST_RUN of sk_lookup programs (runtime tests and `tsbpf run --kernel`). Upstream in 5.13 ("pull-request:
   * bpf-next 2021-03-09", with BTF_KIND_FLOAT and bpf_for_each_map_elem); also backported to 5.10.135 stable (Aug 2022),
   * which a "5.10" target cannot count on.
   */
  testRunSkLookup: {
    since: [5, 13],
    commit: "bpf: Add PROG_TEST_RUN support for sk_lookup programs",
    what: "BPF_PROG_TEST_RUN for sk_lookup programs",
  },
  /**
   * BTF_KIND_DECL_TAG (introduced as BTF_KIND_TAG and renamed in the same release): b5ea834dde6b was committed on
   * 14 Sep 2021, after 5.15-rc1, and the rename 223f903e9c83 is v5.15-rc3-1032, so both first shipped in 5.16.
   */
  btfDeclTag: {
    since: [5, 16],
    commit: "bpf: Support for new btf kind BTF_KIND_TAG; bpf: Rename BTF_KIND_TAG to BTF_KIND_DECL_TAG",
    what: "BTF_KIND_DECL_TAG",
  },
  /** BTF_KIND_TYPE_TAG: 8c42d2fa4eea, merged with the "Networking for 5.17" pull (9 Jan 2022). */
  btfTypeTag: { since: [5, 17], commit: "bpf: Support BTF_KIND_TYPE_TAG for btf_type_tag attributes", what: "BTF_KIND_TYPE_TAG" },
  /** BTF_KIND_ENUM64: 6089fb325cf7 is v5.18-12137, applied to bpf-next in June 2022 after the 5.19 window: 6.0. */
  btfEnum64: { since: [6, 0], commit: "bpf: Add btf enum64 support", what: "BTF_KIND_ENUM64" },
  /**
   * cpu v4 instructions: ldsx, movsx, sdiv/smod, unconditional bswap, gotol (32-bit jump offset). Yonghong Song's
   * series (v5 posted 27 Jul 2023; ec0e2da95f72, 1f9a1ea, 8100928, 0845c3db7bf5, 4cd58e9af8b9), bpf-next
   * for the 6.6 window.
   */
  isaV4: {
    since: [6, 6],
    commit:
      "bpf: Support new sign-extension load insns; bpf: Support new sign-extension mov insns; bpf: Support new unconditional bswap instruction; bpf: Support new signed div/mod instructions; bpf: Support new 32bit offset jmp instruction",
    what: "cpu v4 instructions (sign-extending loads and moves, signed division and remainder, bswap, gotol)",
  },
  /**
   * `ctx->ingress_ifindex` (offset 64) exists: before it, `struct bpf_sk_lookup` ends at 64 bytes and
   * sk_lookup_is_valid_access refuses the load (`off >= sizeof(struct bpf_sk_lookup)`), so the verifier says
   * "invalid bpf_context access off=64 size=N". Sources: net/core/filter.c has no such case in the 5.10 and 5.15
   * trees (AltafYafai/kernel_common_5.10 96d8420, 0xUnbound/kernel_common-android13-5.15-lts ff3bfbb) and has it,
   * a u32 field with narrow loads, in 6.1 (ApertureLatticework/android_kernel_test_6.1 b92b35b). The patch's v3 was
   * posted to bpf-next on 10 Nov 2021, inside the 5.16 merge window, so it first shipped in 5.17.
   */
  ctxIngressIfindex: {
    since: [5, 17],
    commit: "bpf: Add ingress_ifindex to bpf_sk_lookup",
    what: "the sk_lookup context field ingress_ifindex (ctx.ingressIfindex)",
  },
  /**
   * An ARRAY / PERCPU_ARRAY lookup whose key is a constant on the stack and in range returns a non-NULL map value
   * pointer (the verifier's `const_map_key` / `can_elide_value_nullness`). Older verifiers want a NULL check.
   * d2102f2f5d75 (v7 posted 14 Jan 2025) is in the mainline revlist of the 6.14 merge window (tip push of 24 Jan
   * 2025), so 6.14.
   */
  arrayLookupConstKeyNonNull: {
    since: [6, 14],
    commit: "bpf: verifier: Support eliding map lookup nullness",
    what: "an ARRAY-map lookup with a constant in-range key needs no NULL check",
  },
} as const satisfies Record<string, VersionRow>;

/** A boolean feature of the table. */
export type Feature = keyof typeof FEATURE_ROWS;

/**
 * SOCKMAP/SOCKHASH lookup typing is not a version row: every upstream release from 5.10 to 6.18 types the result of
 * `bpf_map_lookup_elem` on a socket map as `map_value_or_null` (it becomes `sock` after the NULL check, in
 * `mark_ptr_not_null_reg`), so an unchecked result cannot be passed to `bpf_sk_assign`. Some 6.18 builds seen on our
 * machines (6.18.44-fc-v1252 and later) type it `sock_or_null` instead, and then the unchecked result may go to
 * `bpf_sk_assign` (whose argument is ARG_PTR_TO_SOCKET_OR_NULL since sk_lookup's introduction). Version targets use
 * the upstream typing; `host` measures it.
 */
export const SOCKMAP_LOOKUP_ROW = {
  upstream: "map_value_or_null",
  commit: "bpf: Introduce SK_LOOKUP program type with a dedicated attach point (5.9: bpf_sk_assign takes ARG_PTR_TO_SOCKET_OR_NULL)",
  what: "the type of an unchecked SOCKMAP/SOCKHASH lookup result, and so whether bpf_sk_assign accepts it",
} as const;

/**
 * The sk_lookup context across releases, apart from ingress_ifindex (a feature row). Not a feature row, because no
 * verdict changes: every release accepts the same loads at 36..39 and the same 8-byte `sk` load at 0.
 *
 * - `sk` (offset 0, PTR_TO_SOCKET_OR_NULL, 8-byte loads only) is readable from 5.9 on; the `cookie` member that
 *   shares its union only names what BPF_PROG_TEST_RUN writes back, the verifier treats offset 0 as `sk`.
 * - `remote_port`: until 5.17 a u32 field converted to a 16-bit load of the be16 port (filter.c of the 5.10 and 5.15
 *   trees), so 1-byte loads at 36..39, 2-byte loads at 36 and 38 and a 4-byte load at 36 are accepted. "bpf: Make
 *   remote_port field in struct bpf_sk_lookup 16-bit wide" (9a69e2b385f4) and "bpf: Treat bpf_sk_lookup remote_port
 *   as a 2-byte field" (058ec4a7d9cf, merged after v5.17, also in 5.17.3 and 5.15.y stable) made it a be16 plus
 *   zero padding (6.1 tree) accepting the same loads. What they return is the same at 36 and 37 for every size (the
 *   4-byte load stays the zero-extended be16), but the 2-byte load at 38 returns the port before the fix (the narrow
 *   load of a field whose converted load is already 2 bytes wide is neither shifted nor masked: the same quirk as
 *   family/protocol/local_port, abi/sk-lookup.ts U16_BACKED_FIELDS) and 0 after it. tsbpf emits only the 2-byte load
 *   at 36 for ctx.remotePort and never the load at 38 (the backend refuses it), so objects read the same value on
 *   every release; the VM returns the 5.18+ value (0) at 38.
 */
export const CTX_LAYOUT_ROW = {
  remotePortTwoByte: { since: [5, 18] as KernelVersion, commit: "bpf: Treat bpf_sk_lookup remote_port as a 2-byte field" },
} as const;

/**
 * How the verifier words a helper the program type may not call (a helper id it knows, that get_func_proto refuses).
 * check_helper_call prints "unknown func bpf_X#N" in the 5.10 (Rtoax/linux-5.10.13), 6.1 (CosmicBulb/android14-gs-pixel-6.1)
 * and 6.6 (CodeLinaro-mirror/qsdk_oss_kernel_linux-ipq-6.6) sources, and "program of this type cannot use helper
 * bpf_X#N" on 6.18 (measured here; also in the 2024 get_helper_proto rework's context). The commit that changed the
 * wording was not found, so `since` is the first release it can be: 6.7. Unknown ids stay "invalid func unknown#N".
 */
export const HELPER_WORDING_ROW = {
  since: [6, 7] as KernelVersion,
  before: "unknown func",
  after: "program of this type cannot use helper",
} as const;

/** Helper ids available to sk_lookup (as root) from a given release, with the commit that made them so. */
export interface HelperRow extends VersionRow {
  ids: readonly number[];
}

/**
 * Which helpers an sk_lookup program may call, by release. sk_lookup's func_proto adds perf_event_output, sk_assign
 * and sk_release to bpf_sk_base_func_proto (the skc_to_* casts), which falls back to bpf_base_func_proto (map ops,
 * time, random, ringbuf; then CAP_BPF and CAP_PERFMON extras). A helper arrives when it is written and added to one
 * of those protos.
 *
 * Checked against sources (read, 2026-12): bpf_base_func_proto in kernel/bpf/helpers.c of upstream 5.10.13
 * (Rtoax/linux-5.10.13 01035d1) gives exactly the 5.10 row, get_current_task (35) included (perfmon section); net/core/filter.c
 * sk_lookup_func_proto / bpf_sk_base_func_proto in the 5.10, 5.15 and 6.1 trees named on FEATURE_ROWS.ctxIngressIfindex
 * (5.15: + ktime_get_coarse_ns; 6.1: + skc_to_unix_sock, skc_to_mptcp_sock); helpers.c of 6.1 (GrapheneOS/kernel_common-6.1
 * a6fc30b, an Android tree that also carries backports, so only what upstream dates confirm is taken from it) for the
 * 5.17, 5.19 and 6.1 rows; release of each helper from the "Networking for 5.17" pull and the bpf-next pulls.
 */
export const HELPER_ROWS: readonly HelperRow[] = [
  {
    since: [5, 10],
    commit:
      "bpf: Introduce SK_LOOKUP program type with a dedicated attach point (5.9); bpf: Implement CAP_BPF (5.8, base protos); bpf: Enable bpf_skc_to_* sock casting helper to networking prog type (5.10)",
    what: "map ops, ktime_get_ns/boot_ns, prandom, smp/numa ids, tail_call, ringbuf, spin locks, jiffies64, per/this_cpu_ptr, trace_printk, probe_read_*, snprintf_btf, perf_event_output, sk_assign, sk_release, skc_to_* casts",
    ids: [1, 2, 3, 5, 6, 7, 8, 12, 25, 35, 42, 86, 87, 88, 89, 93, 94, 112, 113, 114, 115, 118, 124, 125, 130, 131, 132, 133, 134, 136, 137, 138, 139, 140, 149, 153, 154],
  },
  { since: [5, 11], commit: "bpf: Add bpf_ktime_get_coarse_ns helper", what: "ktime_get_coarse_ns", ids: [160] },
  { since: [5, 13], commit: "bpf: Add bpf_for_each_map_elem() helper; bpf: Add a bpf_snprintf helper", what: "for_each_map_elem, snprintf", ids: [164, 165] },
  { since: [5, 15], commit: "bpf: Introduce bpf timers.", what: "timer_init/set_callback/start/cancel", ids: [169, 170, 171, 172] },
  {
    // Daniel Xu's series moved both into bpf_base_func_proto's perfmon section "for non-tracing progs"; task_pt_regs
    // (175) is 5.15's highest helper id, and the 5.16 trace_vprintk patch already has both in its diff context.
    since: [5, 15],
    commit: "bpf: Extend bpf_base_func_proto helpers with bpf_get_current_task_btf(); bpf: Add bpf_task_pt_regs() helper",
    what: "get_current_task_btf, task_pt_regs",
    ids: [158, 175],
  },
  { since: [5, 16], commit: "bpf: Add bpf_trace_vprintk helper; bpf: Add bpf_skc_to_unix_sock() helper", what: "trace_vprintk, skc_to_unix_sock", ids: [177, 178] },
  { since: [5, 17], commit: "bpf: Add bpf_loop helper; bpf: Add bpf_strncmp helper", what: "loop, strncmp", ids: [181, 182] },
  {
    since: [5, 19],
    commit:
      "bpf: Allow storing referenced kptr in map; bpf: add bpf_map_lookup_percpu_elem for percpu map; bpf: add bpf_skc_to_mptcp_sock_proto; bpf: Add bpf_dynptr_from_mem for local dynptrs; bpf: Dynptr support for ring buffers; bpf: Add bpf_dynptr_read and bpf_dynptr_write; bpf: Add dynptr data slices",
    what: "kptr_xchg, map_lookup_percpu_elem, skc_to_mptcp_sock, dynptr_*",
    ids: [194, 195, 196, 197, 198, 199, 200, 201, 202, 203],
  },
  { since: [6, 1], commit: "bpf: Add BPF-helper for accessing CLOCK_TAI; bpf: Add bpf_user_ringbuf_drain() helper", what: "ktime_get_tai_ns, user_ringbuf_drain", ids: [208, 209] },
  {
    since: [6, 10],
    commit: "bpf: Allow helper bpf_get_[ns_]current_pid_tgid() for all prog types",
    what: "get_current_pid_tgid, get_ns_current_pid_tgid",
    ids: [14, 120],
  },
  {
    since: [6, 16],
    commit: "bpf: Allow some trace helpers for all prog types",
    what: "get_current_uid_gid, get_current_comm, get_cgroup_classid, current_task_under_cgroup, get_current_cgroup_id, get_current_ancestor_cgroup_id (moved from cgroup_current_func_proto into bpf_base_func_proto)",
    ids: [15, 16, 17, 37, 80, 123],
  },
  {
    // Measured on 6.18.44 (kernel-facts.md: 85 helper ids); when each arrived for sk_lookup is not modelled, so older
    // targets conservatively lack them. tsbpf's verifier does not model any of these helpers either.
    since: [6, 18],
    commit: "measured on 6.18.44 (first release not modelled)",
    what: "other helpers the 6.18 kernel lets sk_lookup call",
    ids: [22, 55, 105, 106, 109, 117, 141, 148, 156, 157, 176, 180, 191, 210, 211],
  },
];

/**
 * The highest helper id each release knows (`__BPF_FUNC_MAX_ID - 1`): a call to a higher id is `invalid func
 * unknown#N` rather than "program of this type cannot use helper". From include/uapi/linux/bpf.h's helper list.
 */
export const MAX_HELPER_ID_ROWS: readonly { since: KernelVersion; maxId: number; commit: string }[] = [
  { since: [5, 10], maxId: 155, commit: "bpf: Add redirect_peer helper" },
  { since: [5, 11], maxId: 162, commit: "bpf: Expose bpf_sock_from_file to BTF" },
  { since: [5, 12], maxId: 163, commit: "bpf: Add bpf_check_mtu helper" },
  { since: [5, 13], maxId: 165, commit: "bpf: Add a bpf_snprintf helper" },
  { since: [5, 14], maxId: 168, commit: "bpf: Introduce bpf_sys_bpf() helper and program type" },
  { since: [5, 15], maxId: 175, commit: "bpf: Add bpf_task_pt_regs() helper" },
  { since: [5, 16], maxId: 179, commit: "bpf: Add bpf_kallsyms_lookup_name helper" },
  { since: [5, 17], maxId: 185, commit: "bpf: Add get_func_[arg|ret|arg_cnt] helpers" }, // 186 (get_retval) came with bpf-next 2022-01-24, i.e. 5.18
  { since: [5, 18], maxId: 193, commit: "bpf: Add bpf_ima_file_hash() helper" },
  { since: [5, 19], maxId: 207, commit: "bpf: Add helpers to issue and check SYN cookies in XDP" },
  { since: [6, 1], maxId: 209, commit: "bpf: Add bpf_user_ringbuf_drain() helper" },
  { since: [6, 2], maxId: 211, commit: "bpf: Implement cgroup storage available to non-cgroup-attached bpf progs" },
];

/** Compares two versions (negative when a < b). */
export function compareVersions(a: KernelVersion, b: KernelVersion): number {
  return a[0] - b[0] || a[1] - b[1];
}

/** True when `v` is at least `since`. */
export const atLeast = (v: KernelVersion, since: KernelVersion): boolean => compareVersions(v, since) >= 0;

/** "5.10". */
export const formatVersion = (v: KernelVersion): string => `${v[0]}.${v[1]}`;

/** A --target-kernel value tsbpf cannot use; the message says what it accepts. */
export class TargetError extends Error {
  override name = "TargetError";
}

/** Parses "6.1", "6.1.55" or "6.18.44-fc-v1272" into [major, minor]; undefined when it is not a version. */
export function parseVersion(text: string): KernelVersion | undefined {
  const m = /^(\d+)\.(\d+)(?:\.\d+)?(?:[-+~_][\w.+~-]*)?$/.exec(text.trim());
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}
