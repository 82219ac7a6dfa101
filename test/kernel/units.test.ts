/** Parts of the loader that need no kernel: value encoding, fd discovery errors, relocation, object names. */
import { Socket } from "node:net";
import { createSocket } from "node:dgram";
import { describe, expect, it } from "vitest";
import { MapValueError, decodeUnsigned, encodeScalar } from "../../runtime/kernel/codec.ts";
import { SocketFdError, socketFd } from "../../runtime/kernel/sockets.ts";
import { kernelObjectName, relocate } from "../../runtime/kernel/load.ts";
import { ObjectError } from "../../compiler/elf/object.ts";
import { ctxCookie } from "../../runtime/kernel/ctx.ts";
import { constProgram, selectProgram } from "./asm-objects.ts";

describe("codec", () => {
  it("encodes numbers and bigints little-endian at the map's size", () => {
    expect(encodeScalar(0x1234, 2, "k")).toEqual(Uint8Array.of(0x34, 0x12));
    expect(encodeScalar(-1, 4, "k")).toEqual(Uint8Array.of(0xff, 0xff, 0xff, 0xff));
    expect(encodeScalar(1n << 63n, 8, "v")).toEqual(Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0x80));
    expect(decodeUnsigned(Uint8Array.of(0x5f, 0x1b, 0, 0))).toBe(7007n);
  });
  it("rejects values that do not fit, with the map's words", () => {
    expect(() => encodeScalar(256, 1, "key of map m")).toThrow(new MapValueError("key of map m 256 does not fit in 1 bytes"));
    expect(() => encodeScalar(1, 12, "key of map m")).toThrow(/needs 12 bytes: pass a Uint8Array/);
    expect(() => encodeScalar(new Uint8Array(3), 4, "value")).toThrow(/has 3 bytes, the map needs 4/);
    expect(() => encodeScalar("7" as never, 4, "value")).toThrow(/must be a number, bigint or Uint8Array \(got string\)/);
  });
});

describe("socket fds", () => {
  it("refuses sockets that have no fd yet", () => {
    expect(() => socketFd(new Socket())).toThrow(SocketFdError);
    const udp = createSocket("udp4");
    try {
      expect(() => socketFd(udp)).toThrow(/bind\(\) it/);
    } finally {
      udp.close();
    }
    expect(() => socketFd(-1)).toThrow(/invalid fd -1/);
    expect(() => socketFd({} as never)).toThrow(SocketFdError);
    expect(socketFd(7)).toBe(7);
  });
});

describe("relocation", () => {
  it("writes the map fd into each referencing lddw with src = BPF_PSEUDO_MAP_FD", () => {
    const prog = selectProgram("sel", 7007);
    const fds = new Map([
      ["sockets", 41],
      ["hits", 42],
    ]);
    const out = relocate(prog, fds);
    const view = new DataView(out.buffer);
    expect(prog.mapRelocs).toHaveLength(2);
    for (const { slot, map } of prog.mapRelocs) {
      expect(out[slot * 8]).toBe(0x18);
      expect(out[slot * 8 + 1]! >> 4).toBe(1);
      expect(view.getInt32(slot * 8 + 4, true)).toBe(fds.get(map));
      expect(view.getInt32(slot * 8 + 12, true)).toBe(0);
    }
    // The object's own bytes are untouched.
    expect(prog.bytes[prog.mapRelocs[0]!.slot * 8 + 4]).toBe(0);
  });
  it("reports relocations that do not land on an lddw or name an unknown map", () => {
    const bad = { ...constProgram("p", 1), mapRelocs: [{ slot: 0, map: "m" }] };
    expect(() => relocate(bad, new Map([["m", 3]]))).toThrow(new ObjectError("program p: map relocation for m at slot 0 is not on an lddw instruction"));
    expect(() => relocate(bad, new Map())).toThrow(/references map m, which the object does not define/);
  });
  it("shortens names as the kernel stores them", () => {
    expect(kernelObjectName("sk_assign_eexist_long")).toBe("sk_assign_eexis");
    expect(kernelObjectName("a-b")).toBe("a_b");
  });
  it("reads the cookie from ctx_out", () => {
    const out = new Uint8Array(72);
    new DataView(out.buffer).setBigUint64(0, 0x1234n, true);
    expect(ctxCookie(out)).toBe(0x1234n);
  });
});
