/** Map factory: a VmMap for a MapDef (from an object's .maps), or a MapError for types the VM does not model. */
import { MAP_TYPE_NAMES, MapType, type MapDef } from "../../compiler/abi/maps.ts";
import { ArrayMap } from "./array.ts";
import { HashMap } from "./hash.ts";
import { LpmTrieMap } from "./lpm.ts";
import { MapError, type VmMap } from "./map.ts";
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
      throw new MapError(`map ${def.name}: type ${MAP_TYPE_NAMES.get(def.type) ?? def.type} is not supported by the VM`);
  }
}
