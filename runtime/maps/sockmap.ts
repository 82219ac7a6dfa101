/**
 * BPF_MAP_TYPE_SOCKMAP and SOCKHASH holding simulated sockets, with net/core/sock_map.c's checks:
 * flags > BPF_EXIST → EINVAL; SOCKMAP index ≥ max_entries → E2BIG on update, EINVAL on delete; deleting an empty
 * SOCKMAP slot → EINVAL, a missing SOCKHASH key → ENOENT; SOCKHASH full → E2BIG; a TCP socket that is neither
 * listening nor established → EOPNOTSUPP (sock_map_sk_state_allowed).
 */
import { MapType, type MapDef } from "../../compiler/abi/maps.ts";
import { IPPROTO_TCP, TCP_STATES } from "../../compiler/abi/sk-lookup.ts";
import type { Region } from "../vm/region.ts";
import type { Socket } from "../net/socket.ts";
import { elementBytes } from "../../compiler/abi/map-limits.ts";
import { KeyTable, NO_SLOT } from "./key-table.ts";
import { BPF_EXIST, BPF_NOEXIST, MapError, type MapMemory, type VmMap, badFlags, err, fullKey, newHandle } from "./map.ts";

/** Whether a socket may be put into a socket map (TCP: LISTEN or ESTABLISHED; UDP: any). */
export function sockMapStateAllowed(s: Socket): boolean {
  if (s.protocol === IPPROTO_TCP) return s.state === TCP_STATES.listen || s.state === TCP_STATES.established;
  return true;
}

/** SOCKMAP (u32 index keys) or SOCKHASH (any key). */
export class SockMap implements VmMap {
  readonly handle: Region;
  readonly holdsSockets = true;
  readonly isHash: boolean;
  private readonly table: KeyTable<Socket>;
  /** SOCKMAP slots by index (the same sockets as `table`, for the lookup fast path; the JIT reads it directly). */
  readonly slots: (Socket | undefined)[] = [];
  constructor(
    readonly def: MapDef,
    /** Charged per SOCKHASH element (a SOCKMAP's slot array is charged at creation). */
    private readonly memory?: MapMemory,
  ) {
    this.isHash = def.type === MapType.SOCKHASH;
    if (!this.isHash && def.keySize !== 4) throw new MapError(`sockmap ${def.name}: key size must be 4 (got ${def.keySize})`);
    if (def.keySize <= 0) throw new MapError(`sockhash ${def.name}: key size must be positive`);
    if (def.valueSize !== 4 && def.valueSize !== 8) throw new MapError(`socket map ${def.name}: value size must be 4 or 8 (got ${def.valueSize})`);
    if (def.maxEntries <= 0) throw new MapError(`socket map ${def.name}: max_entries must be positive`);
    this.table = new KeyTable<Socket>(def.keySize);
    this.handle = newHandle(def, this);
  }
  private index(key: Uint8Array): number {
    return (key[0]! | (key[1]! << 8) | (key[2]! << 16) | (key[3]! << 24)) >>> 0;
  }
  lookupAt(buf: Uint8Array, off: number): Socket | null {
    if (this.isHash) {
      const slot = this.table.find(buf, off);
      return slot === NO_SLOT ? null : this.table.valueAt(slot);
    }
    const i = (buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16) | (buf[off + 3]! << 24)) >>> 0;
    return i < this.def.maxEntries ? (this.slots[i] ?? null) : null;
  }
  lookup(key: Uint8Array): Socket | null {
    // A key shorter than keySize matches nothing.
    if (key.length < this.def.keySize) return null;
    if (!this.isHash && this.index(key) >= this.def.maxEntries) return null;
    const slot = this.table.find(key, 0);
    return slot === NO_SLOT ? null : this.table.valueAt(slot);
  }
  update(key: Uint8Array, sock: Socket | Uint8Array, flags: number): number {
    if (sock instanceof Uint8Array) return err("EINVAL");
    if (!sockMapStateAllowed(sock)) return err("EOPNOTSUPP");
    if (badFlags(flags)) return err("EINVAL");
    if (!this.isHash && this.index(key) >= this.def.maxEntries) return err("E2BIG");
    key = fullKey(key, this.def.keySize);
    const slot = this.table.find(key, 0);
    const old = slot !== NO_SLOT;
    if (old && flags === BPF_NOEXIST) return err("EEXIST");
    if (!old && flags === BPF_EXIST) return err("ENOENT");
    if (!old && this.isHash && this.table.size >= this.def.maxEntries) return err("E2BIG");
    if (!old && this.isHash && this.memory && !this.memory.charge(elementBytes(this.def))) return err("ENOMEM");
    // A replaced socket keeps its place in the order (as Map#set kept it).
    if (old) this.table.setValueAt(slot, sock);
    else this.table.insert(key, 0, sock);
    if (!this.isHash) this.slots[this.index(key)] = sock;
    return 0;
  }
  delete(key: Uint8Array): number {
    if (!this.isHash && this.index(key) >= this.def.maxEntries) return err("EINVAL");
    const slot = this.table.find(fullKey(key, this.def.keySize), 0);
    const ok = slot !== NO_SLOT;
    if (ok) this.table.removeAt(slot);
    if (ok && !this.isHash) this.slots[this.index(key)] = undefined;
    if (ok && this.isHash) this.memory?.release(elementBytes(this.def));
    return ok ? 0 : this.isHash ? err("ENOENT") : err("EINVAL");
  }
  entries(): Array<[Uint8Array, Socket]> {
    const out: Array<[Uint8Array, Socket]> = [];
    for (let s = this.table.first; s !== NO_SLOT; s = this.table.after(s)) out.push([this.table.keyAt(s), this.table.valueAt(s)]);
    return out;
  }
}
