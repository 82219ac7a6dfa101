/**
 * Several handlers on one test namespace: attach order and the kernel's combination rules (first selection wins
 * unless a later program uses ASSIGN_REPLACE; a selection beats SK_DROP; SK_DROP without a selection refuses even
 * when a listener exists), as measured on the kernel (shared kernel-facts, "Several programs on one netns").
 */
import { beforeEach, describe, expect, test } from "vitest";
import { handler, installMatchers, testNetns, HandlerError, type Handler, type TestNetns } from "../../runtime/testing/index.ts";

installMatchers(expect);

describe("combining programs on one namespace", () => {
  let redirect: Handler;
  let chain: Handler;
  let net: TestNetns;
  beforeEach(async () => {
    redirect = await handler("examples/redirect-port.ts");
    chain = await handler("test/testing/handlers/chain.ts");
    net = testNetns();
    redirect.map("sockets").set(0, net.socket({ name: "A", ip: "127.0.0.1", port: 1234 }));
    chain.map("socks").set(1, net.socket({ name: "B", ip: "127.0.0.1", port: 4321 }));
  });

  test("the first selection wins without REPLACE, in either order", () => {
    net.attach(redirect).attach(chain, "take_b");
    const r = net.lookup("tcp 127.0.0.1:7007");
    expect(r).toSelect("A");
    expect(r.trace).toEqual(["take_b: assign returned -17"]); // -EEXIST
    const other = testNetns().attach(chain, "take_b").attach(redirect);
    other.ns.add(r.socket!);
    expect(other.lookup("tcp 127.0.0.1:7007")).toSelect("B");
  });

  test("REPLACE overrides an earlier selection", () => {
    net.attach(redirect).attach(chain, "take_b");
    // redir_port only serves 7007; on 7008 take_b replaces whatever was chosen (nothing here) with B.
    expect(net.lookup("tcp 127.0.0.1:7008")).toSelect("B");
    expect(net.attached).toEqual(["redir_port", "take_b"]);
  });

  test("a selection beats SK_DROP from another program; SK_DROP alone refuses even with a listener", () => {
    net.socket({ name: "C", ip: "0.0.0.0", port: 9000 });
    net.attach(chain, "drop_all");
    const refused = net.lookup("tcp 127.0.0.1:9000");
    expect(refused).toDrop();
    expect(refused).toMatchObject({ outcome: "refused", selected: null });
    net.detach(chain, "drop_all");
    expect(net.lookup("tcp 127.0.0.1:9000")).toSelect("C");
    net.attach(redirect).attach(chain, "drop_all");
    expect(net.lookup("tcp 127.0.0.1:7007")).toSelect("A"); // drop_all passes on 7007
    expect(net.lookup("tcp 127.0.0.1:9000")).toDrop();
  });

  test("a handler's own lookup attaches the programs named in options.attach, in that order", async () => {
    const h = await handler("test/testing/handlers/chain.ts", { attach: ["drop_all", "take_b", "take_b"] });
    h.map("socks").set(1, h.socket({ name: "B", ip: "127.0.0.1", port: 4321 }));
    const r = h.lookup("tcp 127.0.0.1:7007");
    expect(r.runs.map((x) => x.program)).toEqual(["drop_all", "take_b", "take_b"]);
    expect(r).toSelect("B");
    expect(r.trace).toEqual(["take_b: assign returned 0", "take_b: assign returned -17"]);
  });

  test("attach/detach misuse is a HandlerError", () => {
    expect(() => net.detach(chain, "take_b")).toThrow(/take_b is not attached/);
    expect(() => net.attach(chain, "nope")).toThrow(HandlerError);
    for (let i = 0; i < 64; i++) net.attach(chain, "drop_all");
    expect(() => net.attach(chain, "drop_all")).toThrow(/at most 64/);
  });
});
