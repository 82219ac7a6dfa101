/**
 * Failed expectations read like a diagnosis: the packet, what happened in the lookup (each program's verdict and
 * selection, the regular lookup) and the trace. Checked through vitest's matchers, `.not`, and the plain assert
 * functions for other runners.
 */
import { beforeAll, describe, expect, test } from "vitest";
import {
  HandlerAssertionError,
  assertDrops,
  assertPasses,
  assertSelects,
  checkSelects,
  handler,
  installMatchers,
  type Handler,
} from "../../runtime/testing/index.ts";

installMatchers(expect);

/** The message of the error `fn` throws. */
function messageOf(fn: () => void): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error("expected a failure");
}

describe("messages", () => {
  let h: Handler;
  beforeAll(async () => {
    h = await handler("examples/redirect-port.ts");
    h.map("sockets").set(0, h.socket({ name: "A", ip: "127.0.0.1", port: 1234 }));
    h.socket({ name: "C", ip: "0.0.0.0", port: 80 });
  });

  test("toSelect on the wrong socket names both and tells the story", () => {
    const msg = messageOf(() => expect(h.lookup("tcp 127.0.0.2:40000 -> 127.0.0.1:7007")).toSelect("B"));
    expect(msg).toMatchInlineSnapshot(`
      "expected tcp 127.0.0.2:40000 -> 127.0.0.1:7007 to go to socket B, but A tcp 127.0.0.1:1234 was selected
      tcp 127.0.0.2:40000 -> 127.0.0.1:7007: selected by a program: A tcp 127.0.0.1:1234
        1. redir_port returned SK_PASS, selected A tcp 127.0.0.1:1234"
    `);
  });

  test("a refused lookup and the regular lookup are explained", () => {
    expect(messageOf(() => expect(h.lookup("udp 127.0.0.1:7007")).toSelect("A"))).toMatchInlineSnapshot(`
      "expected udp 127.0.0.1:7007 to go to socket A, but no socket was selected
      udp 127.0.0.1:7007: refused (a program returned SK_DROP and no program selected a socket)
        1. redir_port returned SK_DROP, selected nothing"
    `);
    expect(messageOf(() => expect(h.lookup("tcp 127.0.0.1:80")).toDrop())).toMatchInlineSnapshot(`
      "expected the lookup of tcp 127.0.0.1:80 to return SK_DROP, but it returned SK_PASS
      tcp 127.0.0.1:80: no program selected a socket; the regular lookup found C tcp 0.0.0.0:80
        1. redir_port returned SK_PASS, selected nothing"
    `);
    expect(messageOf(() => expect(h.lookup("tcp 127.0.0.1:81")).toSelect("C"))).toContain(
      "no program selected a socket and no socket listens there",
    );
  });

  test(".not reports the negated expectation", () => {
    const msg = messageOf(() => expect(h.run("tcp 127.0.0.1:7007")).not.toSelect("A"));
    expect(msg.split("\n")[0]).toBe("expected tcp 127.0.0.1:7007 not to go to socket A, but it did");
    expect(messageOf(() => expect(h.run("tcp 127.0.0.1:7007")).not.toPass()).split("\n")[0]).toBe(
      "expected redir_port on tcp 127.0.0.1:7007 not to return SK_PASS, but it did",
    );
  });

  test("a matcher on something that is not a report says so", () => {
    expect(messageOf(() => expect({ verdict: "SK_PASS" }).toPass())).toBe("toPass needs the result of handler.run() or .lookup(), got [object Object]");
    expect(checkSelects(undefined, "A").pass).toBe(false);
  });

  test("plain assertions throw HandlerAssertionError with actual and expected", () => {
    const r = h.lookup("udp 127.0.0.1:7007");
    assertDrops(r);
    assertSelects(r, null);
    let err: unknown;
    try {
      assertPasses(r);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HandlerAssertionError);
    expect(err).toMatchObject({ actual: "SK_DROP", expected: "SK_PASS" });
    expect(() => assertSelects(h.lookup("tcp 127.0.0.1:7007"), "B")).toThrow(/to go to socket B, but A tcp 127.0.0.1:1234 was selected/);
  });
});
