/**
 * Helper calls: which helper ids an sk_lookup program may call on the target kernel (measured: 85 ids), the
 * prototypes tsbpf models (argument types, memory sizes, return types), reference acquisition by SOCKMAP/SOCKHASH
 * lookups and release by bpf_sk_release.
 */
import { Helper, helperLabel } from "../asm/index.ts";
import { MapType } from "../abi/maps.ts";
import { HELPER_WORDING_ROW, atLeast, newestTarget, type KernelVersion } from "../target/index.ts";
import { Env, clobberArgs, forEachReg, reject, top, use } from "./env.ts";
import { helperMem } from "./memory.ts";
import { markPrecise, markSlotPrecise } from "./precision.ts";
import { sconstValue } from "./scalar.ts";
import { Byte, type Reg, type VState, STACK_SIZE, UNKNOWN, ptrReg } from "./state.ts";

/**
 * Helper ids the kernel lets sk_lookup programs call on the newest release tsbpf knows (everything else: "program of
 * this type cannot use helper"). Per release, and for `host`, see the target's `helpers` (compiler/target).
 */
export const SK_LOOKUP_HELPERS: ReadonlySet<number> = newestTarget().helpers;

/**
 * Helpers without arguments that return an integer: ktime_get_ns, get_current_pid_tgid, get_current_uid_gid,
 * get_prandom_u32, get_smp_processor_id, get_numa_node_id, get_current_cgroup_id, jiffies64, ktime_get_boot_ns,
 * ktime_get_coarse_ns, ktime_get_tai_ns.
 */
const PLAIN: ReadonlySet<number> = new Set([5, 14, 15, 7, 8, 42, 80, 118, 125, 160, 208]);

/** Helpers tsbpf's verifier models (the others among SK_LOOKUP_HELPERS are refused as unsupported). */
export const MODELLED_HELPERS: ReadonlySet<number> = new Set([...PLAIN, 1, 2, 3, 6, 86, 124]);

const SOCK_TYPES = "sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_";
const MEM_TYPES = "fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_";

const isSockMap = (t: number): boolean => t === MapType.SOCKMAP || t === MapType.SOCKHASH;

function mapArg(st: VState, regno: number): number {
  const r = use(st, regno);
  if (r.kind !== "map_ptr") reject(`R${regno} type=${r.kind} expected=map_ptr`);
  return r.map;
}

/** The kernel's check_map_func_compatibility, made after the arguments (as the kernel orders it). */
function mapCompatible(env: Env, m: number, helper: number): void {
  const map = env.maps[m]!;
  if (map.type === MapType.RINGBUF || map.type === MapType.PERF_EVENT_ARRAY) {
    reject(`cannot pass map_type ${map.type} into func ${helperLabel(helper)}`);
  }
}

function memArg(env: Env, st: VState, regno: number, size: number): void {
  use(st, regno);
  if (size === 0) reject("invalid zero-sized read");
  helperMem(env, st, regno, size, MEM_TYPES);
}

/**
 * The kernel elides the NULL check of an ARRAY/PERCPU_ARRAY lookup whose key is a known in-range constant on the
 * stack (a zero-initialised run of bytes, or a scalar spill of exactly the key's size). Same rule here.
 */
function constKey(env: Env, st: VState, key: Reg, keySize: number): bigint | undefined {
  if (key.kind !== "fp") return undefined;
  const c = sconstValue(key.s);
  if (c === undefined) return undefined;
  const abs = key.off + Number(BigInt.asIntN(64, c));
  const f = st.frames[key.frame]!;
  const slot = (-abs - 1) >> 3;
  const slotEnd = STACK_SIZE - 8 * slot;
  let zeros = 0;
  for (let i = STACK_SIZE + abs; i < slotEnd && f.bytes[i] === Byte.ZERO; i++) zeros++;
  if (zeros >= keySize) return 0n;
  const base = STACK_SIZE - 8 * (slot + 1);
  const spill = f.spills[slot];
  if (f.bytes[base] !== Byte.SPILL || !spill || spill.kind !== "scalar") return undefined;
  let spilled = 0;
  for (let i = STACK_SIZE + abs; i < slotEnd && f.bytes[i] === Byte.SPILL; i++) spilled++;
  if (spilled !== keySize) return undefined;
  const value = sconstValue(spill.s);
  // The lookup's result type depends on this exact key: keep it precise (the kernel's get_constant_map_key).
  if (value !== undefined) markSlotPrecise(env.insns, st, key.frame, slot);
  return value;
}

/** Releases reference `ref`: every register holding it becomes an unknown scalar (privileged mode). */
export function releaseRef(st: VState, ref: number): void {
  st.refs = st.refs.filter((r) => r.id !== ref);
  forEachReg(st, (r) => (r.ref === ref ? UNKNOWN : r));
}

const GPL_COMPATIBLE = new Set(["GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL", "Dual MIT/GPL", "Dual MPL/GPL"]);

/** The target's wording for a known helper its sk_lookup programs may not call (HELPER_WORDING_ROW). */
export function helperUnavailableMessage(version: KernelVersion, id: number): string {
  const w = HELPER_WORDING_ROW;
  return `${atLeast(version, w.since) ? w.after : w.before} ${helperLabel(id)}`;
}

/** Checks a helper call at `pc` and applies its effect on the state (R0 set, R1-R5 clobbered). */
export function callHelper(env: Env, st: VState, id: number, pc: number): void {
  const target = env.target;
  if (id <= 0 || id > target.maxHelperId) {
    env.targetLimited = true;
    reject(`invalid func unknown#${id}`);
  }
  if (!target.helpers.has(id)) {
    env.targetLimited = true;
    reject(helperUnavailableMessage(target.version, id));
  }
  if (!MODELLED_HELPERS.has(id)) reject(`tsbpf does not model helper ${helperLabel(id)} (the kernel allows it)`);
  const regs = top(st).regs;
  let r0: Reg = UNKNOWN;
  switch (id) {
    case Helper.map_lookup_elem: {
      const m = mapArg(st, 1);
      const map = env.maps[m]!;
      memArg(env, st, 2, map.keySize);
      mapCompatible(env, m, id);
      const isArray = map.type === MapType.ARRAY || map.type === MapType.PERCPU_ARRAY;
      const key = isArray ? constKey(env, st, regs[2]!, map.keySize) : undefined;
      const elidable = isArray && key !== undefined && key < BigInt(map.maxEntries);
      if (elidable && !env.target.arrayLookupConstKeyNonNull) env.targetLimited = true;
      const elide = elidable && env.target.arrayLookupConstKeyNonNull;
      if (elide) {
        r0 = ptrReg("map_value", { map: m });
      } else {
        let nid = env.nextId();
        let ref = 0;
        if (isSockMap(map.type)) {
          ref = nid = env.nextId();
          st.refs = [...st.refs, { id: ref, insn: pc }];
        }
        // Upstream types a socket map's result map_value_or_null (a socket once checked); some 6.18 builds type it
        // sock_or_null, which bpf_sk_assign accepts unchecked (compiler/target: sockmapLookupType).
        const kind = ref && env.target.sockmapLookupType === "sock_or_null" ? "sock_or_null" : "map_value_or_null";
        r0 = ptrReg(kind, { map: m, id: nid, ref });
      }
      break;
    }
    case Helper.map_update_elem: {
      const m = mapArg(st, 1);
      const map = env.maps[m]!;
      memArg(env, st, 2, map.keySize);
      if (isSockMap(map.type)) {
        const v = use(st, 3);
        if (v.kind !== "sock") reject(`R3 type=${v.kind} expected=${SOCK_TYPES}`);
      } else {
        memArg(env, st, 3, map.valueSize);
      }
      use(st, 4);
      mapCompatible(env, m, id);
      break;
    }
    case Helper.map_delete_elem: {
      const m = mapArg(st, 1);
      memArg(env, st, 2, env.maps[m]!.keySize);
      mapCompatible(env, m, id);
      break;
    }
    case Helper.trace_printk: {
      const license = env.opts.license ?? "GPL";
      if (!GPL_COMPATIBLE.has(license)) reject("cannot call GPL-restricted function from non-GPL compatible program");
      use(st, 1);
      const size = use(st, 2);
      if (size.kind !== "scalar") reject(`R2 type=${size.kind} expected=scalar`);
      markPrecise(env.insns, st, 1 << 2);
      if (size.s.smin < 0n) reject("R2 min value is negative, either use unsigned or 'var &= const'");
      if (size.s.umin === 0n) reject(`R2 invalid zero-sized read: u64=[${size.s.umin},${size.s.umax}]`);
      if (size.s.umax >= 1n << 29n) reject("R2 unbounded memory access, use 'var &= const' or 'if (var < const)'");
      memArg(env, st, 1, Number(size.s.umax));
      break;
    }
    case Helper.sk_release: {
      const s = use(st, 1);
      if (s.kind !== "sock") reject(`R1 type=${s.kind} expected=${SOCK_TYPES}`);
      if (!s.ref) reject("R1 must be referenced when passed to release function");
      releaseRef(st, s.ref);
      break;
    }
    case Helper.sk_assign: {
      const c = use(st, 1);
      if (c.kind !== "ctx") reject(`R1 type=${c.kind} expected=ctx`);
      if (c.off !== 0 || sconstValue(c.s) !== 0n) reject(`dereference of modified ctx ptr R1 off=${c.off} disallowed`);
      const s = use(st, 2);
      const isNull = s.kind === "scalar" && sconstValue(s.s) === 0n;
      if (s.kind === "scalar") markPrecise(env.insns, st, 1 << 2);
      if (!isNull && s.kind !== "sock" && s.kind !== "sock_or_null") reject(`R2 type=${s.kind} expected=sock`);
      use(st, 3);
      break;
    }
    default:
      // PLAIN helpers: no arguments.
      break;
  }
  clobberArgs(st);
  regs[0] = r0;
}
