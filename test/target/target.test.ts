/**
 * The kernel model (compiler/target): version strings resolve to the table's feature sets, unsupported ones fail with
 * a message saying what is accepted, every feature row flips exactly at its release, and `host` measures the running
 * kernel (cached in-process and on disk) in agreement with the table wherever the table makes a claim.
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import {
  DEFAULT_TARGET,
  FEATURE_ROWS,
  HELPER_ROWS,
  KNOWN_VERSIONS,
  TargetError,
  atLeast,
  describeTarget,
  formatVersion,
  newestTarget,
  parseVersion,
  probeHost,
  resolveTarget,
  targetForVersion,
  type Feature,
  type KernelTarget,
  type KernelVersion,
} from "../../compiler/target/index.ts";
import { describeKernel } from "../support/kernel.ts";

/** The target's value of a table feature. */
function featureOf(t: KernelTarget, f: Feature): boolean {
  switch (f) {
    case "btfFloat":
      return t.btfKinds.float;
    case "btfDeclTag":
      return t.btfKinds.declTag;
    case "btfTypeTag":
      return t.btfKinds.typeTag;
    case "btfEnum64":
      return t.btfKinds.enum64;
    default:
      return t[f];
  }
}

/** The release before `v` (6.0 → 5.19). */
const previous = (v: KernelVersion): KernelVersion => (v[1] > 0 ? [v[0], v[1] - 1] : [v[0] - 1, 19]);

describe("resolveTarget", () => {
  test("the default is 5.10, and 5.10 has none of the newer features", () => {
    expect(DEFAULT_TARGET).toBe("5.10");
    const t = resolveTarget(undefined);
    expect(t.name).toBe("5.10");
    expect(t.version).toEqual([5, 10]);
    expect(t.probed).toBe(false);
    for (const f of Object.keys(FEATURE_ROWS) as Feature[]) expect(featureOf(t, f), f).toBe(false);
    expect(t.sockmapLookupType).toBe("map_value_or_null");
    expect(t.skAssignAcceptsUncheckedLookup).toBe(false);
    expect(describeTarget(t)).toBe("Linux 5.10");
  });

  test("versions with a patch level or a build suffix name their release", () => {
    expect(parseVersion("6.1.55")).toEqual([6, 1]);
    expect(parseVersion("6.18.44-fc-v1272")).toEqual([6, 18]);
    expect(parseVersion("six")).toBeUndefined();
    expect(resolveTarget("6.1.55").version).toEqual([6, 1]);
  });

  test.each([
    ["4.19", "kernel target 4.19 cannot run sk_lookup programs: sk_lookup needs Linux 5.9+; tsbpf supports 5.10 (the oldest LTS with sk_lookup) to 6.18"],
    ["5.9", "kernel target 5.9 is not supported: tsbpf supports 5.10 (the oldest LTS with sk_lookup) to 6.18; use --target-kernel 5.10"],
    ["6.19", "kernel target 6.19 is newer than tsbpf's kernel table (which ends at 6.18): use --target-kernel 6.18, or \"host\" to probe the running kernel"],
    ["latest", "unknown kernel target 'latest': expected a Linux version from 5.10 to 6.18 (e.g. 5.10, 6.1, 6.6), or \"host\" (probe the running kernel)"],
  ])("%s is refused with a message saying what is accepted", (spec, message) => {
    expect(() => resolveTarget(spec)).toThrow(TargetError);
    expect(() => resolveTarget(spec)).toThrow(message);
  });

  test("an already resolved target passes through", () => {
    const t = resolveTarget("6.6");
    expect(resolveTarget(t)).toBe(t);
  });
});

describe("the version table", () => {
  test.each(Object.entries(FEATURE_ROWS))("%s flips exactly at its release", (feature, row) => {
    expect(row.commit.length).toBeGreaterThan(10);
    expect(featureOf(targetForVersion(row.since), feature as Feature)).toBe(true);
    expect(featureOf(targetForVersion(previous(row.since)), feature as Feature)).toBe(false);
  });

  test("features only grow with the version", () => {
    const targets = KNOWN_VERSIONS.map((v) => targetForVersion(v));
    for (let i = 1; i < targets.length; i++) {
      for (const f of Object.keys(FEATURE_ROWS) as Feature[]) {
        if (featureOf(targets[i - 1]!, f)) expect(featureOf(targets[i]!, f), `${f} at ${targets[i]!.name}`).toBe(true);
      }
      for (const id of targets[i - 1]!.helpers) expect(targets[i]!.helpers.has(id)).toBe(true);
      expect(targets[i]!.maxHelperId).toBeGreaterThanOrEqual(targets[i - 1]!.maxHelperId);
    }
  });

  test("each helper row adds its helpers at its release and not before", () => {
    for (const row of HELPER_ROWS) {
      const at = targetForVersion(row.since);
      for (const id of row.ids) {
        expect(at.helpers.has(id), `${id} at ${formatVersion(row.since)}`).toBe(true);
        expect(id, `${id} must be a known helper id at ${formatVersion(row.since)}`).toBeLessThanOrEqual(at.maxHelperId);
        if (atLeast(row.since, [5, 11])) expect(targetForVersion(previous(row.since)).helpers.has(id), `${id} before ${formatVersion(row.since)}`).toBe(false);
      }
    }
    // No helper id is listed twice.
    const all = HELPER_ROWS.flatMap((r) => r.ids);
    expect(new Set(all).size).toBe(all.length);
  });

  test("5.10 lets sk_lookup call what tsbpf's programs need, and nothing from later helper rows", () => {
    const t = resolveTarget("5.10");
    for (const id of [1, 2, 3, 5, 6, 7, 8, 86, 124, 125]) expect(t.helpers.has(id), String(id)).toBe(true);
    for (const id of [14, 15, 80, 160, 208]) expect(t.helpers.has(id), String(id)).toBe(false);
  });
});

describeKernel("host target (probed on the running kernel)", () => {
  test("the probe is cached on disk under a key of the kernel build, and reloads equal", () => {
    const dir = mkdtempSync(join(tmpdir(), "tsbpf-target-"));
    try {
      const probed = probeHost({ fresh: true, cacheDir: dir });
      const files = readdirSync(dir);
      expect(files).toHaveLength(1);
      expect(files[0]).toMatch(/^host-[0-9a-f]{32}\.json$/);
      const reloaded = probeHost({ cacheDir: dir });
      expect({ ...reloaded, helpers: [...reloaded.helpers].sort() }).toEqual({ ...probed, helpers: [...probed.helpers].sort() });
      expect(probed.probed).toBe(true);
      expect(probed.name).toBe("host");
      expect(resolveTarget("host")).toEqual(probeHost({ cacheDir: null }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the running kernel has every feature the table gives its release", () => {
    const host = probeHost({ cacheDir: null });
    const table = targetForVersion(host.version);
    for (const f of Object.keys(FEATURE_ROWS) as Feature[]) {
      if (featureOf(table, f)) expect(featureOf(host, f), `${f} (table: since ${formatVersion(FEATURE_ROWS[f].since)})`).toBe(true);
    }
    for (const id of table.helpers) expect(host.helpers.has(id), `helper ${id}`).toBe(true);
    expect(host.maxHelperId).toBeGreaterThanOrEqual(table.maxHelperId);
  });

  test("on 6.18 the table's helper set is exactly what the kernel lets sk_lookup call", () => {
    const host = probeHost({ cacheDir: null });
    if (host.version[0] !== 6 || host.version[1] !== 18) return; // the measured row describes 6.18 only
    expect([...newestTarget().helpers].sort((a, b) => a - b)).toEqual([...host.helpers].sort((a, b) => a - b));
  });

  test("the SOCKMAP lookup typing and the sk_assign leniency are probed together", () => {
    const host = probeHost({ cacheDir: null });
    expect(host.skAssignAcceptsUncheckedLookup).toBe(host.sockmapLookupType === "sock_or_null");
    expect(describeTarget(host)).toBe(`the running kernel (Linux ${host.release})`);
  });
});
