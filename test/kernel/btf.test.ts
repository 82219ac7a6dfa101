/** BTF func/line info reaches the kernel for our objects: verifier logs and xlated dumps show the TypeScript lines. */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { describeKernel } from "../support/kernel.ts";
import { openKernel } from "../../runtime/kernel/index.ts";
import { btfStringOffsets, encodeLineInfo } from "../../runtime/kernel/btf.ts";
import { readObject } from "../../compiler/elf/reader.ts";
import { compileTs } from "../e2e/handlers.ts";

const ROOT = join(import.meta.dirname, "../..");

describeKernel("kernel loader: BTF func/line info", () => {
  it("loads a compiled example with its BTF; the kernel shows its TypeScript lines", async () => {
    const object = await compileTs(join(ROOT, "examples/redirect-port.ts"));
    if (!object) return expect.unreachable("the compiler is in the tree");
    const obj = openKernel().load(object, { logLevel: 2 });
    try {
      expect(obj.btf).toBe("loaded");
      const prog = obj.program("redir_port");
      expect(prog.hasBtf).toBe(true);
      // The verifier log interleaves source lines (from line_info) with the instructions it checks.
      expect(prog.log).toContain("; if (ctx.localPort !== 7007) return SK_PASS;");
      const dump = execFileSync("bpftool", ["prog", "dump", "xlated", "id", String(prog.info().id), "linum"], { encoding: "utf8" });
      expect(dump).toContain("export function redir_port(ctx: SkLookup): Verdict {");
      expect(dump).toMatch(/; if \(ctx\.localPort !== 7007\) return SK_PASS; \[file:\S*examples\/redirect-port\.ts line_num:12 line_col:7\]/);
    } finally {
      obj.close();
    }
  });

  it("reports a verifier rejection with the TypeScript line it happened on", async () => {
    const object = await compileTs(join(ROOT, "examples/redirect-port.ts"));
    if (!object) return expect.unreachable("the compiler is in the tree");
    const prog = object.programs[0]!;
    // Turn every `r0 = 1` into `r0 = 2`: the program now returns a value outside [SK_DROP, SK_PASS].
    const bytes = prog.bytes.slice();
    let patched = 0;
    for (let at = 0; at < bytes.length; at += 8) {
      if (bytes[at] === 0xb7 && (bytes[at + 1]! & 0x0f) === 0 && bytes[at + 4] === 1) (bytes[at + 4] = 2), patched++;
    }
    expect(patched).toBeGreaterThan(0);
    const err = (() => {
      try {
        openKernel().load({ ...object, programs: [{ ...prog, bytes }] });
      } catch (e) {
        return e as Error & { code?: string; log?: string };
      }
    })();
    expect(err?.code).toBe("EINVAL");
    expect(err?.log).toMatch(/At program exit the register R0 has (smin=2 smax=2|.*) should have been in \[0, 1\]/);
    expect(err?.log).toMatch(/^; .*SK_PASS.*$/m);
  });

  it("loads clang objects without BTF and says why (clang's .maps DATASEC needs libbpf's fix-ups)", () => {
    const obj = openKernel().load(new Uint8Array(readFileSync(join(ROOT, "test/fixtures/c/basic.o"))));
    try {
      expect(obj.btf).toMatch(/^the kernel refused the object's BTF: bpf\(BPF_BTF_LOAD\) failed: EINVAL.*DATASEC \.maps size=0/);
      expect(obj.programs.size).toBe(6);
      expect([...obj.programs.values()].some((p) => p.hasBtf)).toBe(false);
    } finally {
      obj.close();
    }
    const noBtf = openKernel().load(new Uint8Array(readFileSync(join(ROOT, "test/fixtures/c/basic.o"))), { btf: false });
    expect(noBtf.btf).toBe("not requested");
    noBtf.close();
  });

  it("finds line strings in the BTF string section and gives up on unknown ones", () => {
    const object = readObject(new Uint8Array(readFileSync(join(ROOT, "test/fixtures/c/basic.o"))));
    const strings = btfStringOffsets(object.btf!)!;
    const prog = object.programs.find((p) => p.name === "redir_port")!;
    const info = encodeLineInfo(prog, strings)!;
    expect(info.length).toBe(prog.lineInfo.length * 16);
    const v = new DataView(info.buffer);
    const line0 = prog.lineInfo[0]!;
    expect(v.getUint32(12, true) >>> 10).toBe(line0.line);
    expect(encodeLineInfo({ ...prog, lineInfo: [{ ...line0, text: "not in the object" }] }, strings)).toBeNull();
    expect(btfStringOffsets(new Uint8Array(8))).toBeNull();
  });
});
