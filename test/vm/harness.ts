/** Test helpers: build a VmObject from asm-builder instructions (no ELF needed) and run it on both tiers. */
import { AluOp, Helper, JmpOp, Size, alu64, call, decode, encode, exit, jmp64, ldMap, ldx, mov64, reg, st, stx, withLabel, type Instruction } from "../../compiler/asm/index.ts";
import type { MapDef } from "../../compiler/abi/maps.ts";
import type { ObjectFile } from "../../compiler/elf/object.ts";
import { VmObject, type Tier, type VmObjectOptions, type VmProgram } from "../../runtime/vm/object.ts";
import type { SkLookupInput } from "../../runtime/vm/ctx.ts";

/** Both execution tiers. */
export const TIERS: readonly Tier[] = ["interp", "jit"];

/** An ObjectFile with one program per entry of `programs` (emitted instructions, labels allowed). */
export function objectOf(programs: Record<string, Instruction[]>, maps: MapDef[] = []): ObjectFile {
  return {
    license: "GPL",
    maps,
    programs: Object.entries(programs).map(([name, insns]) => {
      const enc = encode(insns);
      return {
        name,
        section: "sk_lookup",
        insns: decode(enc.bytes),
        bytes: enc.bytes,
        mapRelocs: enc.relocations.filter((r) => r.kind === "map").map((r) => ({ slot: r.slot, map: r.symbol })),
        lineInfo: [],
        funcInfo: [],
      };
    }),
  };
}

/** A VmObject holding the single program `prog`. */
export function vmOf(insns: Instruction[], maps: MapDef[] = [], opts: VmObjectOptions = {}): VmObject {
  return new VmObject(objectOf({ prog: insns }, maps), opts);
}

/** A plain TCP/IPv4 lookup to 127.0.0.1:7007 from 127.0.0.2:8008. */
export const TCP4: SkLookupInput = { family: "inet", protocol: "tcp", remoteIp: "127.0.0.2", remotePort: 8008, localIp: "127.0.0.1", localPort: 7007 };
export const UDP4: SkLookupInput = { ...TCP4, protocol: "udp" };
export const TCP6: SkLookupInput = { family: "inet6", protocol: "tcp", remoteIp: "fd00::2", remotePort: 8008, localIp: "fd00::1", localPort: 7007 };
export const UDP6: SkLookupInput = { ...TCP6, protocol: "udp" };

/** Outcome of exec on one tier: r0 and instruction count, or the fault's class and message. */
export type Outcome = { r0: bigint; n: number } | { fault: string; message: string };

/** Runs `p` with exec on `tier`, capturing faults. */
export function outcome(p: VmProgram, tier: Tier, ctx: SkLookupInput = TCP4): Outcome {
  try {
    const r0 = p.exec(ctx, { tier });
    return { r0, n: p.object.machine.n };
  } catch (e) {
    return { fault: (e as Error).name, message: (e as Error).message };
  }
}

let hideCount = 0;
/**
 * `r = value` in a way the JIT's facts cannot know: a branch on a ctx field (local_port, 7007 in the harness's
 * contexts, never 1) skips `r += 1`, so at the join the facts see two different values and keep neither. Uses r5
 * and reads ctx through r1, so it belongs before r1 is overwritten.
 */
export function hidden(r: number, value: number): Instruction[] {
  const label = `__hidden${hideCount++}`;
  return [mov64(r, value), ldx(Size.W, 5, 1, 60), jmp64(JmpOp.JNE, 5, 1, label), alu64(AluOp.ADD, r, 1), withLabel(mov64(5, 0), label)];
}

/** Map definition shorthand. */
export function mapDef(name: string, type: number, keySize: number, valueSize: number, maxEntries: number, flags = 0): MapDef {
  return { name, type, keySize, valueSize, maxEntries, flags, pinning: 0 };
}

/** Rewrites the main function's exits into a jump to an epilogue that stores r0 in out[0] and returns SK_PASS. */
export function wrap(insns: Instruction[]): Instruction[] {
  const sub = insns.findIndex((i) => i.labels?.includes("f"));
  const body = insns.map((insn, i) =>
    (sub < 0 || i < sub) && insn.opcode === 0x95 ? { opcode: 0x05, dst: 0, src: 0, off: 0, imm: 0, target: "__epilogue", labels: insn.labels } : insn,
  );
  const epilogue = [
    withLabel(mov64(6, reg(0)), "__epilogue"),
    st(Size.W, 10, -64, 0),
    ldMap(1, "out"),
    mov64(2, reg(10)),
    alu64(AluOp.ADD, 2, -64),
    call(Helper.map_lookup_elem),
    jmp64(JmpOp.JEQ, 0, 0, "__end"),
    stx(Size.DW, 0, 0, 6),
    withLabel(mov64(0, 1), "__end"),
    exit(),
  ];
  return sub < 0 ? [...body, ...epilogue] : [...body.slice(0, sub), ...epilogue, ...body.slice(sub)];
}


/** `r0 = map_lookup_elem(map, &key)` with the key stored at fp-4: an immediate, or the register `{ reg }`. */
export function lookupAt(map: string, key: number | { reg: number }): Instruction[] {
  const store = typeof key === "number" ? st(Size.W, 10, -4, key) : stx(Size.W, 10, -4, key.reg);
  return [store, mov64(2, reg(10)), alu64(AluOp.ADD, 2, -4), ldMap(1, map), call(Helper.map_lookup_elem)];
}

/** `r0 = map_update_elem(map, fp+keyAt, fp+valueAt, flags)`, with the key and the value already on the stack. */
export function updateAt(map: string, keyAt: number, valueAt: number, flags = 0): Instruction[] {
  return [ldMap(1, map), mov64(2, reg(10)), alu64(AluOp.ADD, 2, keyAt), mov64(3, reg(10)), alu64(AluOp.ADD, 3, valueAt), mov64(4, flags), call(Helper.map_update_elem)];
}
