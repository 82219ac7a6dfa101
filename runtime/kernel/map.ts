/** A BPF map living in the kernel, addressed by fd, with typed keys/values and Node-socket insertion. */
import type { MapDef } from "../../compiler/abi/maps.ts";
import { MAP_TYPE_NAMES } from "../../compiler/abi/maps.ts";
import { type MapScalar, decodeUnsigned, encodeScalar } from "./codec.ts";
import { type NativeBpf, type NativeMapInfo, sys } from "./native.ts";
import { type SocketLike, socketFd } from "./sockets.ts";
import { readFileSync, unlinkSync } from "node:fs";
import { MapType } from "../../compiler/abi/maps.ts";

let possibleCpus: number | undefined;

/** Number of possible CPUs (/sys/devices/system/cpu/possible, e.g. "0-1"): per-CPU maps hold one value for each. */
export function possibleCpuCount(): number {
  if (possibleCpus !== undefined) return possibleCpus;
  let n = 0;
  for (const part of readFileSync("/sys/devices/system/cpu/possible", "utf8").trim().split(",")) {
    const [a, b] = part.split("-").map(Number);
    n += b === undefined ? 1 : b! - a! + 1;
  }
  possibleCpus = n;
  return n;
}

/** True for map types whose user-space values are one value per possible CPU. */
const isPerCpu = (type: number): boolean => type === MapType.PERCPU_ARRAY || type === MapType.PERCPU_HASH;

/** Update flags of bpf_map_update_elem: ANY 0, NOEXIST 1, EXIST 2. */
export type UpdateFlags = 0 | 1 | 2;

/** A kernel map. Methods throw {@link KernelError} (with `code` such as `E2BIG`, `EOPNOTSUPP`) on syscall failures. */
export class KernelMap {
  private closed = false;

  /** @internal Created by the loader; `def` is the map's definition (from the object or from the kernel). */
  constructor(
    private readonly bpf: NativeBpf,
    /** The map's fd (owned by this object until `close()`). */
    readonly fd: number,
    readonly def: MapDef,
  ) {}

  /** The map's name as in the object (`sockets`). */
  get name(): string {
    return this.def.name;
  }

  private key(key: MapScalar): Uint8Array {
    return encodeScalar(key, this.def.keySize, `key of map ${this.name}`);
  }

  /**
   * Bytes of one user-space value: valueSize, except for per-CPU maps where the kernel copies
   * round_up(valueSize, 8) bytes for every possible CPU (a smaller buffer would be overrun).
   */
  get userValueSize(): number {
    return isPerCpu(this.def.type) ? Math.ceil(this.def.valueSize / 8) * 8 * possibleCpuCount() : this.def.valueSize;
  }

  /**
   * The value stored under `key` as raw bytes, or null when absent. For SOCKMAP/SOCKHASH, the socket's cookie bytes;
   * for per-CPU maps, every CPU's value (see {@link lookupPerCpu}).
   */
  lookup(key: MapScalar): Uint8Array | null {
    const out = new Uint8Array(this.userValueSize);
    const found = sys(`lookup in map ${this.name}`, () => this.bpf.mapLookup(this.fd, this.key(key), out));
    return found ? out : null;
  }

  /** The value under `key` as an unsigned little-endian integer (counters, labels, socket cookies; per-CPU: the sum), or null. */
  lookupInt(key: MapScalar): bigint | null {
    // Per-CPU counters are read the way tools report them: summed over CPUs.
    const v = this.lookupPerCpu(key);
    return v === null ? null : v.reduce((sum, b) => sum + decodeUnsigned(b), 0n);
  }

  /** A per-CPU map's value split by CPU (each `valueSize` bytes), or null when absent. */
  lookupPerCpu(key: MapScalar): Uint8Array[] | null {
    const all = this.lookup(key);
    if (all === null) return null;
    if (!isPerCpu(this.def.type)) return [all];
    const stride = Math.ceil(this.def.valueSize / 8) * 8;
    return Array.from({ length: possibleCpuCount() }, (_, i) => all.slice(i * stride, i * stride + this.def.valueSize));
  }

  /** Stores `value` under `key`; a per-CPU map gets the same value on every CPU unless given all CPUs' bytes. */
  update(key: MapScalar, value: MapScalar, flags: UpdateFlags = 0): void {
    let v: Uint8Array;
    if (isPerCpu(this.def.type) && !(value instanceof Uint8Array && value.length === this.userValueSize)) {
      const one = encodeScalar(value, this.def.valueSize, `value of map ${this.name}`);
      const stride = Math.ceil(this.def.valueSize / 8) * 8;
      v = new Uint8Array(this.userValueSize);
      for (let i = 0; i < possibleCpuCount(); i++) v.set(one, i * stride);
    } else v = encodeScalar(value, this.def.valueSize, `value of map ${this.name}`);
    sys(`update of map ${this.name}`, () => this.bpf.mapUpdate(this.fd, this.key(key), v, flags));
  }

  /**
   * Puts a Node socket (listening `net.Server`, `net.Socket`, bound `dgram.Socket`, or a raw fd) into a SOCKMAP or
   * SOCKHASH. The kernel reads the fd from a value of the map's value size (u32 or u64); it rejects unbound UDP and
   * unbound or non-listening TCP sockets with EOPNOTSUPP.
   * Returns the socket's cookie, which test runs report for the selected socket.
   */
  setSocket(key: MapScalar, socket: SocketLike, flags: UpdateFlags = 0): bigint {
    const fd = socketFd(socket);
    const value = encodeScalar(fd, this.def.valueSize, "socket fd");
    const k = this.key(key);
    sys(`socket insert into map ${this.name}`, () => this.bpf.mapUpdate(this.fd, k, value, flags));
    return sys("SO_COOKIE", () => this.bpf.socketCookie(fd));
  }

  /**
   * Removes `key`; returns false when it was absent (ENOENT). Kernel quirk: deleting an empty SOCKMAP slot is EINVAL,
   * which throws like any other error.
   */
  delete(key: MapScalar): boolean {
    return sys(`delete from map ${this.name}`, () => this.bpf.mapDelete(this.fd, this.key(key)));
  }

  /** Every key, in the kernel's iteration order. */
  keys(): Uint8Array[] {
    const out: Uint8Array[] = [];
    let prev: Uint8Array | null = null;
    for (;;) {
      const next = new Uint8Array(this.def.keySize);
      const more = sys(`iteration of map ${this.name}`, () => this.bpf.mapGetNextKey(this.fd, prev, next));
      if (!more) return out;
      out.push(next);
      prev = next;
      if (out.length > this.def.maxEntries) return out; // array maps never end early; guard anyway
    }
  }

  /** Every [key, value] pair (values read right after the keys; entries deleted meanwhile are skipped). */
  entries(): Array<[Uint8Array, Uint8Array]> {
    const out: Array<[Uint8Array, Uint8Array]> = [];
    for (const k of this.keys()) {
      const v = this.lookup(k);
      if (v) out.push([k, v]);
    }
    return out;
  }

  /** The kernel's view of the map (id, type, sizes). */
  info(): NativeMapInfo {
    return sys(`info of map ${this.name}`, () => this.bpf.mapInfo(this.fd));
  }

  /** Pins the map at `path` on a bpffs mount. */
  pin(path: string): void {
    sys(`pin of map ${this.name} at ${path}`, () => this.bpf.objPin(this.fd, path));
  }

  /** Removes a pin (the map lives on while fds or programs hold it). */
  unpin(path: string): void {
    unlinkSync(path);
  }

  /** Closes the fd. Programs that use the map keep it alive. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.bpf.close(this.fd);
  }

  /** `sockmap(sockets)` style label for messages. */
  toString(): string {
    return `${MAP_TYPE_NAMES.get(this.def.type) ?? `type ${this.def.type}`}(${this.name})`;
  }
}
