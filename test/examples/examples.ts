/** The example programs and what each must define (docs/ARCHITECTURE.md, "Example programs"). */
import { MapType } from "../../compiler/abi/maps.ts";

/** Example → programs and maps (name: type) it must define. */
export const EXAMPLES: Record<string, { programs: string[]; maps: Record<string, number> }> = {
  "redirect-port": { programs: ["redir_port"], maps: { sockets: MapType.SOCKMAP } },
  "cidr-all-ports": { programs: ["serve_range"], maps: { sockets: MapType.SOCKMAP } },
  "l7-proxy": { programs: ["proxy_all"], maps: { proxy: MapType.SOCKMAP, hits: MapType.ARRAY } },
  dispatcher: { programs: ["dispatch"], maps: { bindings: MapType.LPM_TRIE, destinations: MapType.SOCKHASH, hits: MapType.ARRAY } },
  "redirect-ip6": { programs: ["redir_ip6", "redir_ip6_range"], maps: { sockets: MapType.SOCKMAP } },
  "port-rules": {
    programs: ["redir_ports", "tcp4_only", "spread4", "block_ports", "prefix_walk"],
    maps: { sockets: MapType.SOCKMAP, refused: MapType.ARRAY, routes: MapType.HASH },
  },
};

