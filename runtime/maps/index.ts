/** Map factory: a VmMap for a MapDef (from an object's .maps), or a MapError for types the VM does not model. */
import { MAP_TYPE_NAMES, MapType, type MapDef } from "../../compiler/abi/maps.ts";
import { mapCreateError, preallocatedBytes } from "../../compiler/abi/map-limits.ts";
import { ArrayMap } from "./array.ts";
import { HashMap } from "./hash.ts";
import { LpmTrieMap } from "./lpm.ts";
import { MapError, MapMemory, type VmMap, newHandle } from "./map.ts";
import { SockMap } from "./sockmap.ts";

export * from "./map.ts";
export { ArrayMap, HashMap, LpmTrieMap, SockMap };

/**
 * Creates the VM model of a map definition, as BPF_MAP_CREATE would: a definition the kernel refuses throws a MapError
 * with the kernel's errno (compiler/abi/map-limits.ts), and one whose preallocated size does not fit `memory` (the
 * loading object's map memory) throws a MapError with ENOMEM.
 */
export function createMap(def: MapDef, memory: MapMemory = new MapMemory()): VmMap {
  const refused = mapCreateError(def);
  if (refused) throw new MapError(`${refused.message} (the kernel refuses to create it: ${refused.errno})`, refused.errno);
  const bytes = preallocatedBytes(def);
  if (!memory.charge(bytes)) {
    const mib = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MiB`;
    throw new MapError(`map ${def.name}: its ${mib(bytes)} do not fit the ${mib(memory.limit - memory.used)} of map memory left (ENOMEM)`, "ENOMEM");
  }
  switch (def.type) {
    case MapType.ARRAY:
    case MapType.PERCPU_ARRAY:
      return new ArrayMap(def);
    case MapType.HASH:
    case MapType.LRU_HASH:
    case MapType.PERCPU_HASH:
      return new HashMap(def, memory);
    case MapType.LPM_TRIE:
      return new LpmTrieMap(def, memory);
    case MapType.SOCKMAP:
    case MapType.SOCKHASH:
      return new SockMap(def, memory);
    default:
      return new UnsupportedMap(def);
  }
}

/**
 * A map of a type the VM does not model (ring buffers, perf event arrays...). The object still loads; a program
 * that loads the map's address faults with a clear message, and user-side access fails with MapError.
 */
export class UnsupportedMap implements VmMap {
  readonly handle;
  readonly holdsSockets = false;
  readonly reason: string;
  constructor(readonly def: MapDef) {
    this.handle = newHandle(def, this);
    this.reason = `map ${def.name} of type ${MAP_TYPE_NAMES.get(def.type) ?? def.type} is not supported by the VM`;
  }
  lookup(): never {
    throw new MapError(this.reason);
  }
  lookupAt(): never {
    throw new MapError(this.reason);
  }
  update(): never {
    throw new MapError(this.reason);
  }
  delete(): never {
    throw new MapError(this.reason);
  }
  entries(): never {
    throw new MapError(this.reason);
  }
}
