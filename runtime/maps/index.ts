/** Map factory: a VmMap for a MapDef (from an object's .maps), or a MapError for types the VM does not model. */
import { MAP_TYPE_NAMES, MapType, type MapDef } from "../../compiler/abi/maps.ts";
import { ArrayMap } from "./array.ts";
import { HashMap } from "./hash.ts";
import { LpmTrieMap } from "./lpm.ts";
import { MapError, type VmMap, newHandle } from "./map.ts";
import { SockMap } from "./sockmap.ts";

export * from "./map.ts";
export { ArrayMap, HashMap, LpmTrieMap, SockMap };

/** Creates the VM model of a map definition. */
export function createMap(def: MapDef): VmMap {
  switch (def.type) {
    case MapType.ARRAY:
    case MapType.PERCPU_ARRAY:
      return new ArrayMap(def);
    case MapType.HASH:
    case MapType.LRU_HASH:
    case MapType.PERCPU_HASH:
      return new HashMap(def);
    case MapType.LPM_TRIE:
      return new LpmTrieMap(def);
    case MapType.SOCKMAP:
    case MapType.SOCKHASH:
      return new SockMap(def);
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
