/** The raw addon guards itself: argument types, buffer sizes against the map's real sizes, errno naming. */
import { expect, it } from "vitest";
import { describeKernel } from "../support/kernel.ts";
import { nativeBpf } from "../../runtime/kernel/native.ts";
import { possibleCpuCount } from "../../runtime/kernel/map.ts";

describeKernel("native addon", () => {
  it("rejects arguments of the wrong type with TypeErrors naming them", () => {
    const b = nativeBpf();
    expect(() => b.mapCreate("2" as never, 4, 4, 1, 0, "x")).toThrow(TypeError);
    expect(() => b.mapCreate("2" as never, 4, 4, 1, 0, "x")).toThrow(/^type must be a number$/);
    expect(() => b.mapLookup(0, [1, 2] as never, new Uint8Array(4))).toThrow(/key must be a Uint8Array/);
    expect(() => b.mapLookup(0, new Uint16Array(2) as never, new Uint8Array(4))).toThrow(/key must be a Uint8Array/);
    expect(() => b.progLoad(30, 36, new Uint8Array(12), "GPL", "p", 0)).toThrow(/multiple of 8/);
    expect(() => (b.close as (...a: unknown[]) => void)()).toThrow(/too few arguments/);
  });

  it("refuses key and value buffers smaller than the map's, before the kernel can overrun them", () => {
    const b = nativeBpf();
    const hash = b.mapCreate(1, 8, 16, 4, 0, "sizes");
    const percpu = b.mapCreate(6, 4, 4, 1, 0, "sizes_pc");
    try {
      expect(() => b.mapUpdate(hash, new Uint8Array(4), new Uint8Array(16), 0)).toThrow(RangeError);
      expect(() => b.mapUpdate(hash, new Uint8Array(4), new Uint8Array(16), 0)).toThrow(/^key buffer has 4 bytes, the map's keys have 8$/);
      expect(() => b.mapUpdate(hash, new Uint8Array(8), new Uint8Array(8), 0)).toThrow(/value buffer has 8 bytes, the map needs 16/);
      expect(() => b.mapLookup(hash, new Uint8Array(8), new Uint8Array(15))).toThrow(RangeError);
      expect(() => b.mapGetNextKey(hash, null, new Uint8Array(7))).toThrow(RangeError);
      expect(() => b.mapDelete(hash, new Uint8Array(2))).toThrow(RangeError);
      // Per-CPU values: 8-byte aligned, one per possible CPU.
      const need = 8 * possibleCpuCount();
      expect(() => b.mapLookup(percpu, new Uint8Array(4), new Uint8Array(4))).toThrow(`value buffer has 4 bytes, the map needs ${need}`);
      expect(b.mapLookup(percpu, new Uint8Array(4), new Uint8Array(need))).toBe(true);
      // Correct sizes work; absent keys are false rather than errors.
      b.mapUpdate(hash, new Uint8Array(8), new Uint8Array(16).fill(7), 0);
      const out = new Uint8Array(16);
      expect(b.mapLookup(hash, new Uint8Array(8), out)).toBe(true);
      expect(out[15]).toBe(7);
      expect(b.mapLookup(hash, new Uint8Array(8).fill(1), out)).toBe(false);
    } finally {
      b.close(hash);
      b.close(percpu);
    }
  });

  it("names errnos and the syscall", () => {
    const b = nativeBpf();
    let err: (Error & { code?: string; errno?: number; syscall?: string }) | undefined;
    try {
      b.mapCreate(0x7fff, 4, 4, 1, 0, "bad");
    } catch (e) {
      err = e as typeof err;
    }
    expect(err).toMatchObject({ code: "EINVAL", errno: 22, syscall: "bpf(BPF_MAP_CREATE)" });
    expect(err!.message).toBe("bpf(BPF_MAP_CREATE) failed: EINVAL (Invalid argument)");
    expect(() => b.close(-1)).toThrow(/^close failed: EBADF/);
    expect(() => b.mapLookup(-1, new Uint8Array(4), new Uint8Array(4))).toThrow(/EBADF/);
  });
});
