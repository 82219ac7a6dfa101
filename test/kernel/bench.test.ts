import { once } from "node:events";
import { createServer } from "node:net";
import { expect, it } from "vitest";
import { describeKernel } from "../support/kernel.ts";
import { benchTestRun, median, openKernel } from "../../runtime/kernel/index.ts";
import { constProgram, selectObject, selectProgram } from "./asm-objects.ts";

it("median of odd and even lists", () => {
  expect(median([5, 1, 3])).toBe(3);
  expect(median([4, 1, 3, 2])).toBe(2.5);
});

describeKernel("kernel bench: test_run ns/run", () => {
  it("times programs in the kernel; a lookup + assign costs more than an empty program", async () => {
    const server = createServer().listen(0, "127.0.0.1");
    await once(server, "listening");
    const obj = openKernel().load(selectObject(constProgram("pass", 1), selectProgram("sel", 7007)));
    try {
      const cookie = obj.map("sockets").setSocket(0, server);
      const ctx = { family: "inet", protocol: "tcp", localIp: "127.0.0.1", localPort: 7007 } as const;
      const pass = benchTestRun(obj.program("pass"), ctx, { repeat: 200_000, trials: 3 });
      const sel = benchTestRun(obj.program("sel"), ctx, { repeat: 200_000, trials: 3 });
      expect(pass.trialsNs).toHaveLength(3);
      expect(pass.verdict).toBe("SK_PASS");
      expect(sel.cookie).toBe(cookie);
      // kernel-facts: the empty program costs ~29 ns (the test_run loop), lookup + assign + release ~55-62 ns.
      expect(pass.nsPerRun).toBeGreaterThan(0);
      expect(pass.nsPerRun).toBeLessThan(1000);
      expect(sel.nsPerRun).toBeGreaterThan(pass.nsPerRun);
      console.log(`bench: pass ${pass.nsPerRun} ns/run, sel(match) ${sel.nsPerRun} ns/run`);
    } finally {
      obj.close();
      server.close();
    }
  });
});
