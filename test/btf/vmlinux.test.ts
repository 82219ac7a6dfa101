import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { type Btf, BtfBuilder, BtfKind, addSkLookupCtx, btfType, decodeBtf, encodeBtf, findType, formatBtf, resolveSize, skipModifiers } from "../../compiler/btf/index.ts";

const VMLINUX = "/sys/kernel/btf/vmlinux";

/** A type as a comparable string: names and kinds through typedefs, sizes, members with bit offsets. */
function shape(btf: Btf, id: number, depth = 0): string {
  const t = btfType(btf, id);
  if (!t) return "void";
  if (depth > 4) return t.name;
  switch (t.kind) {
    case BtfKind.TYPEDEF:
      return `${t.name}=${shape(btf, t.type, depth + 1)}`;
    case BtfKind.PTR:
      return `*${shape(btf, t.type, depth + 1)}`;
    case BtfKind.ARRAY:
      return `${shape(btf, t.type, depth + 1)}[${t.nelems}]`;
    case BtfKind.STRUCT:
    case BtfKind.UNION:
      if (depth > 0 && t.name) return `${t.kind === BtfKind.STRUCT ? "struct" : "union"} ${t.name}`;
      return `${t.kind === BtfKind.STRUCT ? "struct" : "union"} ${t.name}(${t.size}){${t.members.map((m) => `${m.name}@${m.bitOffset}:${shape(btf, m.type, depth + 1)}`).join(", ")}}`;
    case BtfKind.FWD:
      return `struct ${t.name}`;
    case BtfKind.INT:
      // gcc/pahole say "long long unsigned int" where clang says "unsigned long long": compare encoding and size.
      return `${t.encoding & 1 ? "s" : "u"}${t.bits}`;
    default:
      return `${t.name}/${resolveSize(btf, id)}`;
  }
}

describe.runIf(existsSync(VMLINUX))("against the running kernel's BTF", () => {
  const vmlinux = decodeBtf(new Uint8Array(readFileSync(VMLINUX)));

  it("decodes vmlinux BTF (every kind the kernel uses, >100k types)", () => {
    expect(vmlinux.types.length).toBeGreaterThan(100_000);
    const kinds = new Set<number | undefined>(vmlinux.types.map((t) => t?.kind));
    for (const k of [BtfKind.INT, BtfKind.PTR, BtfKind.ARRAY, BtfKind.STRUCT, BtfKind.UNION, BtfKind.ENUM, BtfKind.FUNC, BtfKind.FUNC_PROTO]) expect(kinds.has(k)).toBe(true);
  });

  it("prints all of it exactly as bpftool btf dump does", () => {
    const theirs = execFileSync("bpftool", ["btf", "dump", "file", VMLINUX], { encoding: "utf8", maxBuffer: 1 << 30 });
    expect(formatBtf(vmlinux) === theirs).toBe(true);
  });

  it("our struct bpf_sk_lookup has the kernel's members, offsets and types", () => {
    const b = new BtfBuilder();
    const ptr = addSkLookupCtx(b);
    const ours = decodeBtf(encodeBtf(b.types));
    const oursCtx = skipModifiers(ours, (ours.types[ptr] as { type: number }).type);
    const theirs = findType(vmlinux, BtfKind.STRUCT, "bpf_sk_lookup")!;
    // vmlinux knows struct bpf_sock fully where our object only forward-declares it; compare up to the pointer.
    expect(shape(ours, oursCtx)).toBe(shape(vmlinux, theirs));
    expect(shape(ours, oursCtx)).toContain("remote_port@288:__be16=__u16=u16");
  });
});
