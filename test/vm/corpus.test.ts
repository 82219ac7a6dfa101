/**
 * Every case of the clang corpus (test/fixtures/c/corpus.json, whose expectations were checked on the live kernel
 * with BPF_PROG_TEST_RUN) runs in the VM on both tiers and must give the kernel's verdict, selection and map contents.
 * The multi-program chains of the same manifest run through Netns.
 */
import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { VmObject, type Tier } from "../../runtime/vm/object.ts";
import { Netns } from "../../runtime/net/netns.ts";
import { Socket } from "../../runtime/net/socket.ts";

const DIR = new URL("../fixtures/c/", import.meta.url);
const corpus = JSON.parse(readFileSync(new URL("corpus.json", DIR), "utf8"));
/** Objects the ELF reader cannot load yet (none: global data sections are supported now). */
const UNSUPPORTED = new Set<string>();

function load(file: string): VmObject {
  return VmObject.fromBytes(readFileSync(new URL(file, DIR)), { seed: 7, clock: () => 1_000_000n });
}

function fill(obj: VmObject, maps: Record<string, Record<string, unknown>> | undefined, sockets: Map<string, Socket>): void {
  for (const [name, entries] of Object.entries(maps ?? {})) {
    const view = obj.map(name);
    for (const [k, v] of Object.entries(entries)) {
      let value = v;
      if (view.raw.holdsSockets) {
        const spec = v as { name: string };
        value = sockets.get(spec.name) ?? new Socket(spec as never);
        sockets.set(spec.name, value as Socket);
      }
      view.set(k, value);
    }
  }
}

const TIERS: Tier[] = ["interp", "jit"];

describe("clang corpus: every case on both tiers", () => {
  for (const prog of corpus.programs) {
    if (UNSUPPORTED.has(prog.object)) continue;
    for (const c of prog.cases) {
      for (const tier of TIERS) {
        test(`${prog.name}/${c.name} [${tier}]`, () => {
          const obj = load(prog.object);
          const sockets = new Map<string, Socket>();
          fill(obj, c.maps, sockets);
          const r = obj.run(prog.name, c.ctx, { tier });
          expect(r.leakedRefs).toEqual([]);
          if (c.expect.testRunErrno) {
            // test_run refuses a reuseport selection made without NO_REUSEPORT (the kernel would need the group).
            expect(c.expect.testRunErrno).toBe("EOPNOTSUPP");
            expect(r.selected?.reuseport).toBeTruthy();
            expect(r.noReuseport).toBe(false);
            return;
          }
          expect(r.verdict).toBe(c.expect.verdict);
          expect(r.selected?.name ?? null).toBe(c.expect.selected);
          for (const [mapName, want] of Object.entries(c.expect.maps ?? {})) {
            const view = obj.map(mapName);
            const wantEntries = Object.entries(want as Record<string, unknown>);
            if (wantEntries.length === 0) expect(view.entries()).toEqual([]);
            for (const [k, w] of wantEntries) {
              let expected = w as unknown;
              if (w && typeof w === "object" && "portOf" in w) expected = sockets.get((w as { portOf: string }).portOf)!.port;
              if (w && typeof w === "object" && "percpuSum" in w) expected = (w as { percpuSum: number }).percpuSum;
              const got = view.get(k);
              // The fixtures are JSON (numbers or decimal strings); 64-bit values read back as bigint.
              expect(got, `${mapName}[${k}]`).toEqual(typeof got === "bigint" ? BigInt(expected as number | string) : expected);
            }
          }
        });
      }
    }
  }
});

describe("clang corpus: multi-program chains through Netns", () => {
  const chains = corpus.chains;
  for (const c of chains.cases) {
    for (const tier of TIERS) {
      test(`${c.programs.join(",")} → ${c.result} [${tier}]`, () => {
        const ns = new Netns();
        const sockets = new Map<string, Socket>();
        const objects = new Map<string, VmObject>();
        for (const name of c.programs) {
          const file = corpus.programs.find((p: { name: string }) => p.name === name).object as string;
          let obj = objects.get(file);
          if (!obj) {
            obj = load(file);
            fill(obj, chains.maps[file], sockets);
            for (const s of sockets.values()) ns.add(s);
            objects.set(file, obj);
          }
          ns.attach(obj.program(name));
        }
        const r = ns.lookup(chains.ctx, { tier });
        if (c.result === "refused") expect(r.outcome).toBe("refused");
        else if (c.result === "regular") expect(r.outcome).toBe("regular");
        else {
          expect(r.outcome).toBe("selected");
          expect(r.socket?.name).toBe(c.result);
        }
      });
    }
  }
});
