/**
 * Memory accesses through a pointer register: context, stack (with spill tracking), map values and sockets. Each
 * check uses the kernel's wording. Reads return the loaded register's abstract value.
 */
import { ctxLoadField, SOCK_SIZE } from "../abi/sk-lookup.ts";
import { Env, reject, top } from "./env.ts";
import { type Scalar, S64MIN, sconst, sconstValue, srangeU } from "./scalar.ts";
import { stackRef } from "./precision.ts";
import { Byte, type Frame, type Reg, type VState, STACK_SIZE, UNKNOWN, ownStack, ptrReg, scalarReg, withId } from "./state.ts";
import { tformat } from "./tnum.ts";

/** Largest variable offset the kernel tracks on a pointer (BPF_MAX_VAR_OFF). */
export const MAX_VAR_OFF = 1 << 29;
/** BPF_F_RDONLY_PROG: the program may only read the map's values. */
const F_RDONLY_PROG = 1 << 7;

/** An unknown value zero-extended from `size` bytes, as a narrow load leaves it. */
export function loaded(size: number): Reg {
  return size >= 8 ? UNKNOWN : LOADED[size]!;
}
/** Registers are immutable, so the zero-extended unknowns of 1, 2 and 4 bytes are shared. */
const LOADED: Reg[] = [1, 2, 3, 4].map((n) => scalarReg(srangeU(0n, (1n << BigInt(n * 8)) - 1n)!));
LOADED.unshift(UNKNOWN);

/** Kind name used in `R1 invalid mem access 'scalar'`. */
const kindName = (r: Reg): string => r.kind;

/** The constant variable offset of a pointer, or undefined. */
const constVar = (r: Reg): number | undefined => {
  const c = sconstValue(r.s);
  return c === undefined ? undefined : Number(BigInt.asIntN(64, c));
};

/** Frame a stack pointer refers to. */
function stackFrame(st: VState, ptr: Reg): Frame {
  return st.frames[ptr.frame]!;
}

function touch(env: Env, f: Frame, lowest: number): void {
  f.depth = Math.max(f.depth, -lowest);
  env.depthOf.set(f.entry, Math.max(env.depthOf.get(f.entry) ?? 0, f.depth));
}

/** Bytes [lo, hi) of the stack become plain data; a spill they touch is destroyed (its bytes become MISC). */
function scrub(f: Frame, lo: number, hi: number, kind: Byte): void {
  ownStack(f);
  for (let off = lo; off < hi; off++) {
    const slot = (-off - 1) >> 3;
    const base = STACK_SIZE - 8 * (slot + 1);
    if (f.bytes[base] === Byte.SPILL) {
      for (let i = base; i < base + 8; i++) if (f.bytes[i] !== Byte.INVALID) f.bytes[i] = Byte.MISC;
    }
    f.spills[slot] = undefined;
    f.bytes[STACK_SIZE + off] = kind;
  }
}

/** Checks that [off, off+size) lies in the stack and is aligned (the kernel is strict about stack alignment). */
function stackBounds(ptr: Reg, regno: number, off: number, size: number, what: string): void {
  const c = constVar(ptr);
  if (c !== undefined) {
    const abs = ptr.off + off + c;
    if ((abs % size + size) % size !== 0) reject(`misaligned stack access off ${c}+${ptr.off}+${off} size ${size}`);
    if (abs < -STACK_SIZE || abs + size > 0) reject(`invalid ${what} stack R${regno} off=${abs} size=${size}`);
    return;
  }
  const lowBits = ptr.s.t.mask & BigInt(size - 1);
  if (lowBits !== 0n || (((ptr.off + off + Number(ptr.s.t.value & 7n)) % size) + size) % size !== 0) {
    reject(`misaligned stack access off ${tformat(ptr.s.t)}+${ptr.off}+${off} size ${size}`);
  }
  if (ptr.s.smin < -BigInt(STACK_SIZE) || ptr.s.smax > BigInt(STACK_SIZE)) {
    reject(`invalid unbounded variable-offset ${what} stack R${regno}`);
  }
  const lo = ptr.off + off + Number(ptr.s.smin);
  const hi = ptr.off + off + Number(ptr.s.smax) + size;
  if (lo < -STACK_SIZE || hi > 0) reject(`invalid variable-offset ${what} stack R${regno} var_off=${tformat(ptr.s.t)} off=${off} size=${size}`);
}

/** A stack read of `size` bytes at fp+abs (constant offset) of frame number `fi`. */
function stackRead(env: Env, f: Frame, fi: number, abs: number, size: number): Reg {
  const slot = (-abs - 1) >> 3;
  const base = STACK_SIZE - 8 * (slot + 1);
  const spill = f.spills[slot];
  if (f.bytes[base] === Byte.SPILL && spill) {
    // The value read depends on the spilled register: precision follows it through this slot.
    env.stackRef = stackRef(fi, slot);
    let spillSize = 0;
    while (spillSize < 8 && f.bytes[base + spillSize] === Byte.SPILL) spillSize++;
    if (size === 8 && spillSize === 8) return spill;
    if (spill.kind !== "scalar") reject("invalid size of register fill");
    const start = STACK_SIZE + abs;
    if (start === base && size <= spillSize) {
      // A narrow fill from the start of a scalar spill keeps the value when it fits (little endian).
      if (spill.s.umax < 1n << BigInt(8 * size)) return withId(spill, 0);
      return loaded(size);
    }
    let spills = 0;
    let zeros = 0;
    for (let i = start; i < start + size; i++) {
      if (f.bytes[i] === Byte.SPILL) spills++;
      else if (f.bytes[i] === Byte.ZERO) zeros++;
    }
    if ((spills === size && sconstValue(spill.s) === 0n) || zeros === size) return scalarReg(sconst(0n));
    return loaded(size);
  }
  let zeros = 0;
  for (let i = STACK_SIZE + abs; i < STACK_SIZE + abs + size; i++) if (f.bytes[i] === Byte.ZERO) zeros++;
  return zeros === size ? scalarReg(sconst(0n)) : loaded(size);
}

/** A stack write to frame number `fi`; `value` is the stored register (undefined for an immediate store of `imm`). */
function stackWrite(env: Env, f: Frame, fi: number, abs: number, size: number, value: Reg | undefined, imm: number): void {
  ownStack(f);
  const slot = (-abs - 1) >> 3;
  const base = STACK_SIZE - 8 * (slot + 1);
  const aligned = STACK_SIZE + abs === base;
  if (value && value.kind !== "scalar" && size !== 8) reject("invalid size of register spill");
  const spillValue = value ?? (aligned ? scalarReg(sconst(BigInt.asUintN(size * 8, BigInt(imm)))) : undefined);
  if (aligned && spillValue && (size === 8 || spillValue.kind === "scalar")) {
    if (f.bytes[base] === Byte.SPILL) for (let i = base; i < base + 8; i++) if (f.bytes[i] === Byte.SPILL) f.bytes[i] = Byte.MISC;
    for (let i = base; i < base + size; i++) f.bytes[i] = Byte.SPILL;
    // The rest of a narrow spill's slot: zero and never-written bytes stay as they were.
    for (let i = base + size; i < base + 8; i++) if (f.bytes[i] === Byte.SPILL) f.bytes[i] = Byte.MISC;
    f.spills[slot] = spillValue.kind === "scalar" ? withId(spillValue, 0) : spillValue;
    env.stackRef = stackRef(fi, slot);
    return;
  }
  const isZero = value ? value.kind === "scalar" && sconstValue(value.s) === 0n : imm === 0;
  // Known-zero bytes read back as the constant 0: the stored register's value decides that (kernel: mark it precise).
  if (isZero && value) env.zeroStore = true;
  scrub(f, abs, abs + size, isZero ? Byte.ZERO : Byte.MISC);
}

/** `struct bpf_sock` loads the kernel allows (bpf_sock_is_valid_access), at offset `off` of `size` bytes. */
export function sockLoadOk(off: number, size: number): boolean {
  if (off < 0 || off >= SOCK_SIZE || off % size !== 0) return false;
  const narrow = size <= 4;
  if ([72, 4, 8, 12, 44, 76].includes(off)) return narrow;
  if ((off >= 24 && off < 28) || (off >= 28 && off < 44) || (off >= 52 && off < 56) || (off >= 56 && off < 72)) return narrow;
  if (off >= 48 && off < 50) return size === 4 || size <= 2;
  // The padding after dst_port (50..51) cannot be loaded at all (measured on the target kernel).
  if (off >= 50 && off < 52) return false;
  return size === 4;
}

/**
 * A load or store of `size` bytes at `ptr + off` (ptr held in register `regno`). For stores `value` is the stored
 * register or undefined with `imm`. Returns the loaded value for reads.
 */
export function access(
  env: Env,
  st: VState,
  ptr: Reg,
  regno: number,
  off: number,
  size: number,
  write: boolean,
  value?: Reg,
  imm = 0,
): Reg {
  switch (ptr.kind) {
    case "ctx": {
      if (ptr.off !== 0) reject(`dereference of modified ctx ptr R${regno} off=${ptr.off} disallowed`);
      if (constVar(ptr) !== 0) reject(`variable ctx access var_off=${tformat(ptr.s.t)} disallowed`);
      const field = write ? undefined : ctxLoadField(off, size);
      if (!field) reject(`invalid bpf_context access off=${off} size=${size}`);
      if (field.name === "ingress_ifindex" && !env.target.ctxIngressIfindex) {
        // Before 5.17 struct bpf_sk_lookup ends at 64: the same message as any load past the context.
        env.targetLimited = true;
        reject(`invalid bpf_context access off=${off} size=${size}`);
      }
      if (field.name === "sk") return ptrReg("sock_or_null", { id: env.nextId() });
      return loaded(size);
    }
    case "fp": {
      stackBounds(ptr, regno, off, size, write ? "write to" : "read from");
      const f = stackFrame(st, ptr);
      const c = constVar(ptr);
      if (c === undefined) {
        const lo = ptr.off + off + Number(ptr.s.smin);
        const hi = ptr.off + off + Number(ptr.s.smax) + size;
        touch(env, f, lo);
        if (write) scrub(f, lo, hi, Byte.MISC);
        else env.noteStackRead(ptr.frame, lo, hi);
        return loaded(size);
      }
      const abs = ptr.off + off + c;
      touch(env, f, abs);
      if (write) {
        stackWrite(env, f, ptr.frame, abs, size, value, imm);
        return UNKNOWN;
      }
      env.noteStackRead(ptr.frame, abs, abs + size);
      return stackRead(env, f, ptr.frame, abs, size);
    }
    case "map_value": {
      const map = env.maps[ptr.map]!;
      if (write && map.flags & F_RDONLY_PROG) reject(`write into map forbidden, value_size=${map.valueSize} off=${ptr.off + off} size=${size}`);
      mapRange(ptr, regno, off, size, map.valueSize, "map value");
      if (write) return UNKNOWN;
      return frozenRead(map, ptr, off, size) ?? loaded(size);
    }
    case "sock": {
      if (write) reject(`R${regno} cannot write into sock`);
      if (ptr.off !== 0 || constVar(ptr) !== 0) reject(`R${regno} invalid sock access off=${ptr.off + off} size=${size}`);
      if (!sockLoadOk(off, size)) reject(`R${regno} invalid sock access off=${off} size=${size}`);
      return loaded(size);
    }
    default:
      return reject(`R${regno} invalid mem access '${kindName(ptr)}'`);
  }
}

/**
 * A read at a constant offset of a frozen BPF_F_RDONLY_PROG map (libbpf's `.rodata`): the kernel reads the bytes at
 * verification time (check_mem_access → bpf_map_direct_read) and marks the register known, so branches on
 * configuration constants are pruned. The loader freezes after writing `initialValue`, so those are the bytes.
 */
function frozenRead(map: { flags: number; frozen?: boolean; initialValue?: Uint8Array }, ptr: Reg, off: number, size: number): Reg | undefined {
  const c = constVar(ptr);
  if (!(map.flags & F_RDONLY_PROG) || !map.frozen || !map.initialValue || c === undefined) return undefined;
  if (size !== 1 && size !== 2 && size !== 4 && size !== 8) return undefined;
  const at = ptr.off + off + c;
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(map.initialValue[at + i] ?? 0);
  return scalarReg(sconst(v));
}

/** Bounds of an access to a region of `limit` bytes through a pointer with a possibly variable offset. */
function mapRange(ptr: Reg, regno: number, off: number, size: number, limit: number, what: string): void {
  const s: Scalar = ptr.s;
  const base = ptr.off + off;
  const c = constVar(ptr);
  if (c !== undefined) {
    if (base + c < 0 || base + c + size > limit) {
      reject(`invalid access to ${what}, value_size=${limit} off=${base + c} size=${size}\nR${regno} min value is outside of the allowed memory range`);
    }
    return;
  }
  if (s.smin < 0n && (s.smin === S64MIN || BigInt(base) + s.smin < 0n)) {
    reject(`R${regno} min value is negative, either use unsigned index or do a if (index >=0) check.`);
  }
  const lo = BigInt(base) + s.smin;
  if (lo < 0n || lo + BigInt(size) > BigInt(limit)) {
    reject(`invalid access to ${what}, value_size=${limit} off=${lo} size=${size}\nR${regno} min value is outside of the allowed memory range`);
  }
  if (s.umax >= BigInt(MAX_VAR_OFF)) reject(`R${regno} unbounded memory access, make sure to bounds check any such access`);
  const hi = BigInt(base) + s.umax;
  if (hi + BigInt(size) > BigInt(limit)) {
    reject(`invalid access to ${what}, value_size=${limit} off=${hi} size=${size}\nR${regno} max value is outside of the allowed memory range`);
  }
}

/**
 * Memory passed to a helper (a map key or value, a format string): `size` bytes from the pointer in `regno` must be
 * readable (privileged: uninitialised stack bytes are allowed). Returns nothing; rejects with the kernel's wording.
 */
export function helperMem(env: Env, st: VState, regno: number, size: number, expected: string): void {
  const ptr = top(st).regs[regno]!;
  switch (ptr.kind) {
    case "fp": {
      stackBounds(ptr, regno, 0, 1, "indirect access to");
      const c = constVar(ptr);
      const lo = ptr.off + (c ?? Number(ptr.s.smin));
      const hi = ptr.off + (c ?? Number(ptr.s.smax)) + size;
      if (lo < -STACK_SIZE || hi > 0) reject(`invalid read from stack R${regno} off=${lo} size=${size}`);
      touch(env, stackFrame(st, ptr), lo);
      env.noteStackRead(ptr.frame, lo, hi);
      return;
    }
    case "map_value":
      mapRange(ptr, regno, 0, size, env.maps[ptr.map]!.valueSize, "map value");
      return;
    default:
      reject(`R${regno} type=${ptr.kind} expected=${expected}`);
  }
}

/** Zero-extended unknown value for `size` bytes (what an atomic fetch leaves in its register). */
export const fetched = loaded;
