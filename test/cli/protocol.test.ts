/**
 * The compile server's answer frames (compiler/server/protocol.ts; native/client.c reads the same bytes): each frame
 * survives any split into chunks, output bytes come back as they went in (not re-encoded), and bytes that are not the
 * protocol are refused rather than misread.
 */
import { describe, expect, test } from "vitest";
import { FrameReader, encodeFrame, type ServerFrame } from "../../compiler/server/protocol.ts";

const frames: ServerFrame[] = [
  { t: "hello", pid: 4242 },
  { t: "out", d: "wrote x.o: redirect (22 insns)\n" },
  { t: "err", d: Buffer.from([0xe2, 0x94, 0x82, 0x20, 0xff]) },
  { t: "out", d: "" },
  { t: "exit", code: 1 },
];

/** What a reader gives for `bytes` fed in pieces of `size` bytes. */
function readInPieces(bytes: Buffer, size: number): ServerFrame[] {
  const reader = new FrameReader();
  const out: ServerFrame[] = [];
  for (let at = 0; at < bytes.length; at += size) out.push(...reader.push(bytes.subarray(at, at + size)));
  return out;
}

describe("answer frames", () => {
  const wire = Buffer.concat(frames.map(encodeFrame));

  test("the layout: a type byte, a little-endian u32 length, the payload", () => {
    expect([...encodeFrame({ t: "exit", code: 130 })]).toEqual([0x78, 3, 0, 0, 0, 0x31, 0x33, 0x30]);
    expect(encodeFrame({ t: "out", d: "é" }).toString("hex")).toBe("6f02000000c3a9");
  });

  test.each([1, 2, 3, 5, 7, 64, 4096])("read back in pieces of %i bytes", (size) => {
    const back = readInPieces(wire, size);
    expect(back.map((f) => ("d" in f ? { ...f, d: Buffer.from(f.d).toString("hex") } : f))).toEqual(
      frames.map((f) => ("d" in f ? { ...f, d: Buffer.from(f.d).toString("hex") } : f)),
    );
  });

  test.each([
    ["an HTTP answer", Buffer.from("HTTP/1.1 400 Bad Request\n")],
    ["an unknown type byte", Buffer.from([0x7a, 0, 0, 0, 0])],
    ["a length over 1 GiB", Buffer.from([0x6f, 1, 0, 0, 0x40])],
    ["an exit code that is not a number", Buffer.concat([Buffer.from([0x78, 2, 0, 0, 0]), Buffer.from("-1")])],
  ])("refused: %s", (_what, bytes) => {
    expect(() => new FrameReader().push(bytes)).toThrow(SyntaxError);
  });
});
