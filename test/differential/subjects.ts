/**
 * Every program compared: the clang corpus (test/fixtures/c, read by compiler/elf/reader.ts), the examples compiled by
 * our compiler once it builds them, and map fills that make each program's interesting paths reachable.
 */
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import { readObject } from "../../compiler/elf/reader.ts";
import type { ObjectFile } from "../../compiler/elf/object.ts";
import { type DataFill, type Subject, be16, cat, smallGrid, u32, u64 } from "./cases.ts";
import { parseIp4 } from "../../runtime/kernel/ctx.ts";
import { compileTs } from "../e2e/handlers.ts";

const ROOT = join(import.meta.dirname, "../..");
const C = join(ROOT, "test/fixtures/c");

/** dispatch.c: (protocol, port) → slot; slot 2 is left empty so its hits drop. */
const DISPATCH_PORTS: DataFill = {
  ports: [
    [cat(u32(6), u32(7007)), u32(0)],
    [cat(u32(17), u32(53)), u32(1)],
    [cat(u32(6), u32(80)), u32(2)],
  ],
};

/** dispatch.c's LPM key: prefixlen, then protocol, port and address in network order. */
const lpmKey = (prefixLen: number, protocol: number, port: number, addr: string) =>
  cat(u32(prefixLen), be16(protocol), be16(port), parseIp4(addr));
const DISPATCH_PREFIXES: DataFill = {
  prefixes: [
    [lpmKey(64, 6, 7007, "127.0.0.1"), u32(1)],
    [lpmKey(56, 6, 0, "127.0.2.0"), u32(2)],
    [lpmKey(64, 17, 53, "192.0.2.1"), u32(3)],
    [lpmKey(48, 17, 0, "0.0.0.0"), u32(4)],
  ],
};

/** assign_probe's knobs [flags, select sockets[1] first]: every flag class, with and without a prior selection. */
const PROBE_CFG: DataFill[] = [
  [0, 0],
  [1, 0],
  [2, 0],
  [4, 0],
  [0, 1],
  [1, 1],
  [3, 1],
].map(([flags, first]) => ({ probe_cfg: [[u32(0), u32(flags!)], [u32(1), u32(first!)]] }));

const PER_PROGRAM: Record<string, Partial<Subject>> = {
  assign_eexist: { fill: "pairs", ctxs: smallGrid() },
  assign_replace: { fill: "pairs", ctxs: smallGrid() },
  assign_null: { fill: "pairs", ctxs: smallGrid() },
  access_ctx_sk: { fill: "pairs", ctxs: smallGrid() },
  assign_probe: { fill: "pairs", ctxs: smallGrid(), data: PROBE_CFG },
  dispatch: { data: [DISPATCH_PORTS], socketKeys: { sockets: [u32(0), u32(1), u32(2)] } },
  dispatch_lpm: { data: [DISPATCH_PREFIXES], socketKeys: { destinations: [u32(1), u32(2), u32(3)] } },
  loop_ports: { data: [{ allowed_ports: [[u32(0), u32(22)], [u32(3), u32(7007)], [u32(7), u32(65535)]] }] },
  sockhash_select: { socketKeys: { by_port: [u32(7007), u32(53), u32(80)] } },
  lru_track: { data: [{ peers: [[cat(parseIp4("127.0.0.2"), u32(40000)), u64(41n)]] }] },
};

/** The dispatcher example's LPM bindings (same key layout as dispatch.c's) and label → socket slots. */
const EXAMPLE_FILLS: Record<string, Partial<Subject>> = {
  "dispatcher.ts:dispatch": {
    data: [
      {
        bindings: [
          [lpmKey(64, 6, 7007, "127.0.0.1"), u32(1)],
          [lpmKey(56, 6, 0, "127.0.2.0"), u32(2)],
          [lpmKey(64, 17, 53, "192.0.2.1"), u32(3)],
          [lpmKey(48, 17, 0, "0.0.0.0"), u32(4)],
        ],
      },
    ],
    socketKeys: { destinations: [u32(1), u32(2), u32(3)] },
  },
  // port-rules.ts routes: { prefixLen, host-order address } → socket index; /0 points at slot 3, left empty.
  "port-rules.ts:prefix_walk": {
    data: [{ routes: [[cat(u32(32), u32(0x7f000001)), u32(0)], [cat(u32(24), u32(0xc0000200)), u32(1)], [cat(u32(0), u32(0)), u32(3)]] }],
  },
};

/** Objects the reader cannot link yet (none since global data is supported). */
export const SKIPPED_OBJECTS = new Set<string>();

/** The corpus subjects, one per program. */
export function corpusSubjects(): Subject[] {
  const out: Subject[] = [];
  for (const file of readdirSync(C).filter((f) => f.endsWith(".o") && !SKIPPED_OBJECTS.has(f)).sort()) {
    const object = readObject(new Uint8Array(readFileSync(join(C, file))));
    for (const p of object.programs) out.push({ name: `${file}:${p.name}`, object, program: p.name, ...PER_PROGRAM[p.name] });
  }
  return out;
}

/** The examples compiled by our compiler, when it can build them (empty until then). */
export async function exampleSubjects(): Promise<{ subjects: Subject[]; missing: string[] }> {
  const dir = join(ROOT, "examples");
  const subjects: Subject[] = [];
  const missing: string[] = [];
  if (!existsSync(dir)) return { subjects, missing };
  for (const f of readdirSync(dir).filter((x) => x.endsWith(".ts")).sort()) {
    let object: ObjectFile | null = null;
    try {
      object = await compileTs(join(dir, f));
    } catch {
      object = null;
    }
    if (!object) {
      missing.push(f);
      continue;
    }
    for (const p of object.programs) {
      subjects.push({ name: `examples/${f}:${p.name}`, object, program: p.name, ...EXAMPLE_FILLS[`${f}:${p.name}`] });
    }
  }
  return { subjects, missing };
}
