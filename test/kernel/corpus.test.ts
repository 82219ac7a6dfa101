/** The clang corpus (test/fixtures/c) and the elf fixtures loaded through readObject + our loader. */
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeKernel } from "../support/kernel.ts";
import { loadObject, type LoadedObject } from "../../runtime/kernel/index.ts";
import { createServer, type Server } from "node:net";
import { once } from "node:events";

const C = join(import.meta.dirname, "../fixtures/c");

describeKernel("kernel loader: clang corpus", () => {
  const loaded = new Map<string, LoadedObject>();
  let server: Server;

  beforeAll(async () => {
    server = createServer().listen(0, "127.0.0.1");
    await once(server, "listening");
  });
  afterAll(() => {
    for (const o of loaded.values()) o.close();
    server?.close();
  });

  for (const file of readdirSync(C).filter((f) => f.endsWith(".o"))) {
    it(`loads every program of ${file} with its maps`, () => {
      const obj = loadObject(new Uint8Array(readFileSync(join(C, file))));
      loaded.set(file, obj);
      expect(obj.programs.size).toBeGreaterThan(0);
      for (const p of obj.programs.values()) {
        const info = p.info();
        expect(info.name).toBe(p.name.slice(0, 15));
        expect(info.verifiedInsns).toBeGreaterThan(0);
      }
    });
  }

  it("runs basic.o redir_port with a listener and sees its cookie (kernel-facts: redir_port)", () => {
    const obj = loaded.get("basic.o")!;
    const cookie = obj.map("sockets").setSocket(0, server);
    const ctx = { family: "inet", protocol: "tcp", remoteIp: "127.0.0.2", remotePort: 8008, localIp: "127.0.0.1", localPort: 7007 } as const;
    expect(obj.program("redir_port").testRun(ctx)).toMatchObject({ verdict: "SK_PASS", cookie });
    expect(obj.program("redir_port").testRun({ ...ctx, localPort: 7008 })).toMatchObject({ verdict: "SK_PASS", cookie: 0n });
  });

  it("reports the same program info as bpftool for every loaded program", () => {
    for (const obj of loaded.values()) {
      for (const p of obj.programs.values()) {
        const info = p.info();
        const tool = JSON.parse(execFileSync("bpftool", ["-j", "prog", "show", "id", String(info.id)], { encoding: "utf8" }));
        expect(tool).toMatchObject({ id: info.id, type: "sk_lookup", name: info.name, bytes_xlated: info.xlatedInsns * 8, bytes_jited: info.jitedBytes });
        if ("verified_insns" in tool) expect(tool.verified_insns).toBe(info.verifiedInsns);
        expect([...(tool.map_ids ?? [])].sort()).toEqual([...info.mapIds].sort());
      }
    }
  });

  it("fails clearly for an object the reader cannot link", () => {
    // CO-RE relocations are not supported (global data in rodata.o now is: it loads above).
    expect(() => loadObject(new Uint8Array(readFileSync(join(C, "../elf/core.o"))))).toThrow(/CO-RE/);
  });
});
