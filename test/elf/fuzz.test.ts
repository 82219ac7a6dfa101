import { describe, expect, it } from "vitest";
import { ObjectError, readObject, writeObject } from "../../compiler/elf/index.ts";
import { UNCHECKED_PREFIX } from "../../compiler/elf/reader.ts";
import { fixture } from "./helpers.ts";
import { sampleInput, subprogramInput } from "./programs.ts";
import { rng as prng } from "../support/rng.ts";


/** Reads `bytes`; returns "ok", or the ObjectError message. Any other exception fails the test. */
function attempt(bytes: Uint8Array): string {
  const t0 = performance.now();
  try {
    readObject(bytes);
    return "ok";
  } catch (err) {
    if (!(err instanceof ObjectError)) throw new Error(`readObject threw ${(err as Error)?.name}: ${(err as Error)?.message}`);
    // The reader must have caught the problem with an explicit check, not via the catch-all.
    if (err.message.startsWith(UNCHECKED_PREFIX)) throw new Error(`unchecked failure: ${err.message}\n${(err.cause as Error)?.stack}`);
    return err.message;
  } finally {
    const ms = performance.now() - t0;
    if (ms > 250) throw new Error(`readObject took ${ms.toFixed(0)} ms`);
  }
}

const seeds = [fixture("redir.o"), fixture("subprog.o"), fixture("calls.o"), writeObject(sampleInput()), writeObject(subprogramInput())];
const BOUNDARY = [0, 1, 7, 8, 0x7fffffff, 0xffffffff, 0x10000, 0xfff1];

describe("readObject fuzz: only ObjectError, quickly", () => {
  it("random bytes (some with a valid ELF64 BPF header)", () => {
    const rnd = prng(1);
    const header = seeds[0]!.subarray(0, 64);
    for (let i = 0; i < 300; i++) {
      const len = Math.floor(rnd() * 3000);
      const b = new Uint8Array(len);
      for (let j = 0; j < len; j++) b[j] = Math.floor(rnd() * 256);
      if (i % 2 && len >= 64) b.set(header);
      attempt(b);
    }
  });

  it("mutated valid objects (byte flips, boundary u32/u64 values, truncation)", () => {
    const rnd = prng(Number(process.env.TSBPF_FUZZ_SEED ?? 2));
    const messages = new Set<string>();
    for (let i = 0; i < Number(process.env.TSBPF_FUZZ_ITERATIONS ?? 2000); i++) {
      const seed = seeds[i % seeds.length]!;
      let b = seed.slice();
      const v = new DataView(b.buffer);
      const edits = 1 + Math.floor(rnd() * 4);
      for (let e = 0; e < edits; e++) {
        const mode = rnd();
        if (mode < 0.4) {
          b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
        } else if (mode < 0.8) {
          const at = Math.floor(rnd() * (b.length - 8)) & ~3;
          v.setUint32(at, BOUNDARY[Math.floor(rnd() * BOUNDARY.length)]! >>> 0, true);
        } else if (mode < 0.9) {
          const at = Math.floor(rnd() * (b.length - 8)) & ~7;
          v.setBigUint64(at, BigInt(Math.floor(rnd() * 2 ** 40)), true);
        } else {
          b = b.slice(0, Math.floor(rnd() * b.length));
          break;
        }
      }
      messages.add(attempt(b).replace(/\d+/g, "N"));
    }
    // The mutations reach many different checks, not one early rejection.
    expect(messages.size).toBeGreaterThan(25);
  });

  it("still reads the unmutated seeds", () => {
    for (const s of seeds) expect(attempt(s)).toBe("ok");
  });
});
