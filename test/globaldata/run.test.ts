/**
 * Global data at run time: the VM (both tiers), our kernel loader and libbpf (bpftool prog loadall) must agree on
 * rodata.o / globaldata.o — verdicts, bpf_printk's return value and the global variables read back from the
 * internal maps — and all three must refuse a program write into the read-only .rodata map.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { decode } from "../../compiler/asm/index.ts";
import { Errno } from "../../compiler/abi/sk-lookup.ts";
import { internalMapName, objectNameOf } from "../../compiler/elf/global-data.ts";
import { type ObjectFile, readObject } from "../../compiler/elf/index.ts";
import { run as cliRun } from "../../compiler/cli/run.ts";
import { verifyProgram } from "../../compiler/verifier/index.ts";
import { KernelError, type LoadedObject, encodeCtx, loadObject, openKernel } from "../../runtime/kernel/index.ts";
import { VmObject, MapAccessError, type Tier } from "../../runtime/vm/object.ts";
import { VmFault } from "../../runtime/vm/region.ts";
import { describeKernel } from "../support/kernel.ts";

const C = fileURLToPath(new URL("../fixtures/c/", import.meta.url));
const bytes = (f: string): Uint8Array => new Uint8Array(readFileSync(join(C, f)));
const hex = (b: Uint8Array | null | undefined): string => Buffer.from(b ?? []).toString("hex");
const CTX = { family: "inet", protocol: "tcp", localIp: "127.0.0.1", localPort: 7007, remoteIp: "127.0.0.2", remotePort: 8008 } as const;
const BLOCKED = { ...CTX, localPort: 7008 } as const;
const TIERS: Tier[] = ["interp", "jit"];

/** What count_globals leaves in .data and .bss after the runs on `ports`: (calls, runs) and (last_port, printed). */
function expectedGlobals(ports: number[]): { data: string; bss: string } {
  let calls = 100n;
  let runs = 1;
  let data = "";
  let bss = "";
  for (const port of ports) {
    runs += 1;
    calls += BigInt(runs);
    const line = `call ${calls} port ${port}`;
    const d = Buffer.alloc(12);
    d.writeBigUInt64LE(calls, 0);
    d.writeUInt32LE(runs, 8);
    const b = Buffer.alloc(16);
    b.writeUInt32LE(port, 0);
    b.writeBigInt64LE(BigInt(line.length), 8); // bpf_trace_printk returns the bytes written, without the NUL
    data = d.toString("hex");
    bss = b.toString("hex");
  }
  return { data, bss };
}

/**
 * A one-program object that stores a byte at `offset` of the `.rodata` of rodata.o (27 bytes): `r1 = &.rodata[off];
 * *(u8 *)(r1 + 0) = 1; r0 = 1; exit`. With `store` false it only loads the address.
 */
function rodataWriter(offset: number, store = true): ObjectFile {
  return rodataProgram(offset, [store ? [0x72, 0x01, 0, 1] : [0xb7, 0x02, 0, 0], [0xb7, 0x00, 0, 1], [0x95, 0x00, 0, 0]]);
}

/** `r1 = &.rodata[offset]` (rodata.o's map) followed by raw slots [opcode, regs, off, imm]. */
function rodataProgram(offset: number, body: number[][]): ObjectFile {
  const rodata = readObject(bytes("rodata.o")).maps[0]!;
  const slots = [[0x18, 0x21, 0, 0], [0x00, 0x00, 0, offset], ...body];
  const code = new Uint8Array(slots.length * 8);
  const view = new DataView(code.buffer);
  slots.forEach(([op, regs, off, imm], i) => {
    view.setUint8(i * 8, op!);
    view.setUint8(i * 8 + 1, regs!);
    view.setInt16(i * 8 + 2, off!, true);
    view.setInt32(i * 8 + 4, imm!, true);
  });
  const prog = { name: "poke_rodata", section: "sk_lookup", insns: decode(code), bytes: code, mapRelocs: [{ slot: 0, map: ".rodata", kind: "value" as const, offset }], lineInfo: [], funcInfo: [] };
  return { license: "GPL", maps: [rodata], programs: [prog] };
}

describe("global data: VM", () => {
  for (const tier of TIERS) {
    it(`trace_rodata prints through its .rodata format [${tier}]`, () => {
      const r = VmObject.fromBytes(bytes("rodata.o")).run("trace_rodata", CTX, { tier });
      expect(r).toMatchObject({ verdict: "SK_PASS", trace: ["sk_lookup proto 6 port 7007"] });
    });

    it(`count_globals updates .data and .bss and reads .rodata [${tier}]`, () => {
      const obj = VmObject.fromBytes(bytes("globaldata.o"));
      expect(obj.run("count_globals", CTX, { tier })).toMatchObject({ verdict: "SK_PASS", trace: ["call 102 port 7007"] });
      expect({ data: hex(obj.map(".data").bytes(0)), bss: hex(obj.map(".bss").bytes(0)) }).toEqual(expectedGlobals([7007]));
      expect(obj.run("count_globals", BLOCKED, { tier })).toMatchObject({ verdict: "SK_DROP", trace: ["call 105 port 7008"] });
      expect({ data: hex(obj.map(".data").bytes(0)), bss: hex(obj.map(".bss").bytes(0)) }).toEqual(expectedGlobals([7007, 7008]));
    });
  }

  it("map views show global-data values variable by variable, and tsbpf run prints and fills them so", async () => {
    const obj = VmObject.fromBytes(bytes("globaldata.o"));
    obj.run("count_globals", CTX);
    expect(obj.map(".data").get(0)).toEqual({ calls: 102n, runs: 2 }); // calls is a u64: bigint
    expect(obj.map(".bss").get(0)).toEqual({ last_port: 7007, printed: 18n });
    expect(obj.map(".rodata").get(0)).toMatchObject({ blocked_port: 7008 });
    let out = "";
    const spy = vi.spyOn(process.stdout, "write").mockImplementation((s) => ((out += String(s)), true));
    try {
      const args = ["--prog", "count_globals", "--ctx", JSON.stringify(CTX), "--maps", JSON.stringify({ ".data": { 0: { calls: 5, runs: 1 } } })];
      expect(await cliRun([join(C, "globaldata.o"), ...args])).toBe(0);
    } finally {
      spy.mockRestore();
    }
    const result = JSON.parse(out);
    expect(result).toMatchObject({ verdict: "SK_PASS", trace: ["call 7 port 7007"] });
    expect(result.maps[".data"]).toEqual({ 0: { calls: 7, runs: 2 } });
    expect(result.maps[".bss"]).toEqual({ 0: { last_port: 7007, printed: 16 } });
  });

  it("user space may rewrite .data (the program sees it) but not the frozen .rodata (EPERM)", () => {
    const obj = VmObject.fromBytes(bytes("globaldata.o"));
    const data = new Uint8Array(12);
    new DataView(data.buffer).setBigUint64(0, 1000n, true);
    expect(obj.map(".data").update(0, data)).toBe(0);
    expect(obj.run("count_globals", CTX).trace).toEqual(["call 1001 port 7007"]); // runs was reset to 0 -> 1
    const rodata = obj.map(".rodata");
    const before = hex(rodata.bytes(0));
    expect(rodata.update(0, new Uint8Array(22))).toBe(-Errno.EPERM);
    expect(() => rodata.set(0, new Uint8Array(22))).toThrow(MapAccessError);
    expect(hex(rodata.bytes(0))).toBe(before);
  });

  it("a program write into .rodata faults on both tiers, and our verifier refuses it like the kernel", () => {
    const file = rodataWriter(0);
    for (const tier of TIERS) {
      expect(() => new VmObject(file).run("poke_rodata", CTX, { tier })).toThrow(VmFault);
      expect(() => new VmObject(file).run("poke_rodata", CTX, { tier })).toThrow(/pc 2 .*write of 1 bytes into read-only memory \(value of \.rodata\[0\] \(read-only map\)\) at offset 0: read-only/);
    }
    const v = verifyProgram(file.programs[0]!, file.maps);
    expect(v.ok).toBe(false);
    expect(JSON.stringify(v)).toContain("write into map forbidden, value_size=27 off=0 size=1");
  });

  it("our verifier reads a frozen .rodata as constants, as the kernel does: a branch on it is pruned", () => {
    // r0 = *(u8 *)(.rodata + 0) ('s' = 0x73); if r0 == 0x73 goto +2; r0 = 2; exit; r0 = 1; exit
    const body = [[0x71, 0x10, 0, 0], [0x15, 0x00, 2, 0x73], [0xb7, 0x00, 0, 2], [0x95, 0, 0, 0], [0xb7, 0x00, 0, 1], [0x95, 0, 0, 0]];
    const file = rodataProgram(0, body);
    expect(verifyProgram(file.programs[0]!, file.maps)).toMatchObject({ ok: true, insnsProcessed: 5 });
    // Not frozen (or not read-only): the byte is unknown and the r0 = 2 path is explored and refused.
    const unfrozen = { ...file, maps: [{ ...file.maps[0]!, frozen: false }] };
    expect(verifyProgram(unfrozen.programs[0]!, unfrozen.maps)).toMatchObject({ ok: false, error: { message: "At program exit the register R0 has smin=2 smax=2 should have been in [0, 1]" } });
    expect(new VmObject(file).run("poke_rodata", CTX).verdict).toBe("SK_PASS");
  });

  it("an address outside the value faults when the lddw runs (the kernel refuses it at load)", () => {
    const file = rodataWriter(27, false);
    for (const tier of TIERS) {
      expect(() => new VmObject(file).run("poke_rodata", CTX, { tier })).toThrow(/pc 0 .*invalid access to map value pointer, value_size=27 off=27/);
    }
    expect(new VmObject(rodataWriter(26, false)).run("poke_rodata", CTX).verdict).toBe("SK_PASS");
  });
});

/** bpftool's JSON for `args`. */
const bpftool = <T>(...args: string[]): T => JSON.parse(execFileSync("bpftool", ["-j", ...args], { encoding: "utf8" })) as T;

describeKernel("global data: kernel (our loader and libbpf)", () => {
  const PIN = `/sys/fs/bpf/tsbpf_globaldata_${process.pid}`;
  let ours: LoadedObject;
  beforeAll(() => {
    ours = loadObject(bytes("globaldata.o"), { objectName: objectNameOf(join(C, "globaldata.o")) });
  });
  afterAll(() => {
    ours?.close();
    rmSync(PIN, { recursive: true, force: true });
  });

  it("creates the maps as libbpf does: names, flags, frozen .rodata, initial bytes", () => {
    const obj = readObject(bytes("globaldata.o"));
    for (const def of obj.maps) {
      const m = ours.map(def.name);
      const info = m.info();
      expect(info, def.name).toMatchObject({ name: internalMapName("globaldata", def.name), type: 2, keySize: 4, valueSize: def.valueSize, maxEntries: 1, flags: def.flags });
      expect(bpftool<{ frozen: number }>("map", "show", "id", String(info.id)).frozen, def.name).toBe(def.frozen ? 1 : 0);
    }
    expect(hex(ours.map(".rodata").lookup(0))).toBe(hex(obj.maps[0]!.initialValue));
    expect(hex(ours.map(".data").lookup(0))).toBe("640000000000000001000000");
    let err: unknown;
    try {
      ours.map(".rodata").update(0, new Uint8Array(22));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KernelError);
    expect((err as KernelError).code).toBe("EPERM");
  });

  it("count_globals under test_run matches the VM on both tiers: verdicts, bpf_printk's return, .data and .bss", () => {
    const p = ours.program("count_globals");
    expect(p.testRun(CTX).verdict).toBe("SK_PASS");
    const after1 = { data: hex(ours.map(".data").lookup(0)), bss: hex(ours.map(".bss").lookup(0)) };
    expect(p.testRun(BLOCKED).verdict).toBe("SK_DROP");
    const after2 = { data: hex(ours.map(".data").lookup(0)), bss: hex(ours.map(".bss").lookup(0)) };
    expect(after1).toEqual(expectedGlobals([7007]));
    expect(after2).toEqual(expectedGlobals([7007, 7008]));
    for (const tier of TIERS) {
      const vm = VmObject.fromBytes(bytes("globaldata.o"));
      vm.run("count_globals", CTX, { tier });
      expect({ data: hex(vm.map(".data").bytes(0)), bss: hex(vm.map(".bss").bytes(0)) }, tier).toEqual(after1);
      vm.run("count_globals", BLOCKED, { tier });
      expect({ data: hex(vm.map(".data").bytes(0)), bss: hex(vm.map(".bss").bytes(0)) }, tier).toEqual(after2);
    }
  });

  it("libbpf (bpftool prog loadall) loads both objects into the same programs and the same map state", () => {
    const bpf = openKernel().bpf;
    for (const [file, prog, maps] of [
      ["globaldata.o", "count_globals", [".rodata", ".data", ".bss"]],
      ["rodata.o", "trace_rodata", [".rodata"]],
    ] as const) {
      const dir = join(PIN, file.replace(".o", ""));
      mkdirSync(`${dir}-maps`, { recursive: true });
      execFileSync("bpftool", ["prog", "loadall", join(C, file), dir, "pinmaps", `${dir}-maps`]);
      const mine = file === "rodata.o" ? loadObject(bytes(file), { objectName: "rodata" }) : ours;
      try {
        // Same instructions: the tag hashes the program with map fds blanked.
        const theirs = bpftool<{ tag: string; map_ids: number[] }>("prog", "show", "pinned", join(dir, prog));
        const mineInfo = bpftool<{ tag: string; map_ids: number[] }>("prog", "show", "id", String(mine.program(prog).info().id));
        expect(mineInfo.tag, file).toBe(theirs.tag);
        const libbpfNames = theirs.map_ids.map((id) => bpftool<{ name: string }>("map", "show", "id", String(id)).name).sort();
        expect(libbpfNames, file).toEqual(maps.map((s) => internalMapName(objectNameOf(file), s)).sort());
        if (file !== "globaldata.o") continue;
        // Run libbpf's copy twice, as the test above ran ours, and compare the variables.
        const fd = bpf.objGet(join(dir, prog));
        try {
          const out = new Uint8Array(72);
          expect(bpf.progTestRun(fd, encodeCtx(CTX), out, 1).retval).toBe(1);
          expect(bpf.progTestRun(fd, encodeCtx(BLOCKED), out, 1).retval).toBe(0);
        } finally {
          bpf.close(fd);
        }
        for (const s of [".data", ".bss"]) {
          // libbpf pins a map under its name with dots turned into underscores.
          const m = openKernel().openPinnedMap(join(`${dir}-maps`, internalMapName("globaldata", s).replaceAll(".", "_")));
          try {
            expect(hex(m.lookup(0)), s).toBe(hex(ours.map(s).lookup(0)));
          } finally {
            m.close();
          }
        }
      } finally {
        if (mine !== ours) mine.close();
      }
    }
  });

  it("a .rodata constant set before loading (libbpf's skeleton idiom) changes the verdict in the kernel and the VM", () => {
    const file = readObject(bytes("globaldata.o"));
    const rodata = file.maps.find((m) => m.name === ".rodata")!;
    new DataView(rodata.initialValue!.buffer).setUint32(0, 7007, true); // blocked_port = 7007
    const k = loadObject(file);
    try {
      expect(k.program("count_globals").testRun(CTX).verdict).toBe("SK_DROP");
      expect(k.program("count_globals").testRun(BLOCKED).verdict).toBe("SK_PASS");
    } finally {
      k.close();
    }
    for (const tier of TIERS) {
      const vm = new VmObject(file);
      expect(vm.run("count_globals", CTX, { tier }).verdict).toBe("SK_DROP");
      expect(vm.run("count_globals", BLOCKED, { tier }).verdict).toBe("SK_PASS");
    }
  });

  it("trace_rodata loads through our loader (section-named map without objectName) and passes", () => {
    const obj = loadObject(bytes("rodata.o"));
    try {
      expect(obj.map(".rodata").info().name).toBe(".rodata");
      expect(obj.program("trace_rodata").testRun(CTX).verdict).toBe("SK_PASS");
    } finally {
      obj.close();
    }
  });

  it("the kernel also prunes the branch on a frozen .rodata byte (same processed count as our verifier)", () => {
    const body = [[0x71, 0x10, 0, 0], [0x15, 0x00, 2, 0x73], [0xb7, 0x00, 0, 2], [0x95, 0, 0, 0], [0xb7, 0x00, 0, 1], [0x95, 0, 0, 0]];
    const k = loadObject(rodataProgram(0, body));
    try {
      expect(k.program("poke_rodata").info().verifiedInsns).toBe(5);
      expect(k.program("poke_rodata").testRun(CTX).verdict).toBe("SK_PASS");
    } finally {
      k.close();
    }
  });

  it("the kernel refuses a write into .rodata and an out-of-range value address, with the messages our verifier and VM give", () => {
    for (const [file, message] of [
      [rodataWriter(0), "write into map forbidden, value_size=27 off=0 size=1"],
      [rodataWriter(27, false), "invalid access to map value pointer, value_size=27 off=27"],
    ] as const) {
      let err: unknown;
      try {
        loadObject(file).close();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(KernelError);
      expect((err as KernelError).log).toContain(message);
    }
  });
});
