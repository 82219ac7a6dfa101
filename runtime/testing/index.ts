/**
 * `tsbpf/testing`: helpers for testing your own sk_lookup handlers with vitest, jest or node:test — no kernel, no
 * root. A handler is compiled, loaded into the embedded VM (the `tsbpf/runtime` API), and given its own simulated
 * network namespace; a test then reads like the question it asks:
 *
 * ```ts
 * import { expect, test } from "vitest";
 * import { handler, installMatchers } from "tsbpf/testing";
 * installMatchers(expect);
 *
 * test("port 7007 goes to A", async () => {
 *   const h = await handler("examples/redirect-port.ts");
 *   const a = h.socket({ name: "A", ip: "127.0.0.1", port: 1234 });       // tcp listener by default
 *   h.map("sockets").set(0, a);
 *   expect(h.lookup("tcp 127.0.0.2:40000 -> 127.0.0.1:7007")).toSelect("A");
 *   expect(h.lookup({ protocol: "udp", localIp: "127.0.0.1", localPort: 7007 })).toDrop(); // a TCP socket for UDP
 * });
 * ```
 *
 * - `h.run(packet)`: one program, once (BPF_PROG_TEST_RUN semantics) → `{ verdict, selected, trace, ... }`.
 * - `h.lookup(packet)`: the handler's programs attached to its namespace, then the kernel's rules and the regular
 *   listener lookup → `{ outcome, verdict, selected, runs, trace }`.
 * - `handlerFromSource(text)`: a small handler written inline in the test.
 * - `testNetns()`: one namespace shared by several handlers, attached in order, to test how programs combine.
 * - `assertSelects` / `assertPasses` / `assertDrops` throw readable errors for runners without matchers.
 */
export { handler, handlerFromObject, handlerFromSource, Handler, HandlerError, TestNetns } from "./handler.ts";
export type { HandlerOptions, CallOptions, RunCallOptions, TestSocketSpec, FileUrl } from "./handler.ts";
export { parsePacket, describePacket, type Packet, type PacketFields } from "./packet.ts";
export { describeReport, type Report, type RunReport, type LookupReport, type VerdictName } from "./report.ts";
export {
  installMatchers,
  assertSelects,
  assertPasses,
  assertDrops,
  checkSelects,
  checkVerdict,
  HandlerAssertionError,
  type SocketRef,
  type Check,
  type HandlerMatchers,
  type ExtensibleExpect,
  type MatcherResult,
} from "./assert.ts";
export { CompileError, Socket, type MapView, type MapData, type MapScalarValue } from "../index.ts";

import { TestNetns } from "./handler.ts";
import type { Tier } from "../index.ts";

/** A fresh simulated namespace to attach several handlers' programs to (`net.attach(h1).attach(h2, "prog")`). */
export function testNetns(opts: { tier?: Tier } = {}): TestNetns {
  return new TestNetns(opts);
}
