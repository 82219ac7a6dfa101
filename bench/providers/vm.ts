/**
 * Bench provider: the embedded VM. The measurement itself lives with the VM (runtime/vm/bench.ts): it fills the maps
 * as the bench table says, checks one run against the expected behaviour (verdict, selection, no leaked socket
 * reference), then times the tier warm (20k warm-up runs, median of 7 batches) on pre-built ctx bytes.
 */
export { measureVm } from "../../runtime/vm/bench.ts";
