/**
 * Readable text dump of the IR, used by golden tests and `--dump-ir`.
 *
 * The format is line oriented and stable (golden snapshots depend on it):
 *
 *   fn redir_port(v0) program
 *     slot s0: 4 bytes align 4 (key)
 *   b0:
 *     v1 = ctx_load.4 [60]
 *     cbr.32 ne v1, 7007 -> b3, b1
 *
 * Vregs print as `vN`, immediates in decimal (negative numbers as such), pointer kinds as a `: kind` suffix on the
 * instruction that defines the vreg, when the function records one. Source locations are omitted: they would make the
 * dump depend on the input's formatting, and line info is checked elsewhere.
 */
import type { Block, Function, Inst, Module, Terminator, Value } from "./ir.ts";

/** Formats an operand: `v3` or an immediate in decimal. */
export function printValue(v: Value): string {
  return v.kind === "vreg" ? `v${v.id}` : v.value.toString();
}

const vr = (id: number): string => `v${id}`;

/** Formats one instruction (without indentation). `kinds` adds the pointer kind of the defined vreg, if known. */
export function printInst(inst: Inst, kinds?: ReadonlyMap<number, string>): string {
  const kindOf = (dst: number | undefined): string => {
    const k = dst === undefined ? undefined : kinds?.get(dst);
    return k ? ` : ${k}` : "";
  };
  switch (inst.op) {
    case "mov":
      return `${vr(inst.dst)} = ${printValue(inst.src)}${kindOf(inst.dst)}`;
    case "bin":
      return `${vr(inst.dst)} = ${inst.kind}.${inst.width} ${printValue(inst.a)}, ${printValue(inst.b)}${kindOf(inst.dst)}`;
    case "neg":
      return `${vr(inst.dst)} = neg.${inst.width} ${printValue(inst.src)}`;
    case "ext":
      return `${vr(inst.dst)} = ${inst.signed ? "sext" : "zext"}.${inst.bits} ${printValue(inst.src)}`;
    case "bswap":
      return `${vr(inst.dst)} = bswap.${inst.bits} ${printValue(inst.src)}`;
    case "setcc":
      return `${vr(inst.dst)} = setcc.${inst.width} ${inst.cmp} ${printValue(inst.a)}, ${printValue(inst.b)}`;
    case "ctx_load":
      return `${vr(inst.dst)} = ctx_load.${inst.size} [${inst.offset}]${kindOf(inst.dst)}`;
    case "slot_addr":
      return `${vr(inst.dst)} = slot_addr s${inst.slot}+${inst.offset}${kindOf(inst.dst)}`;
    case "slot_load":
      return `${vr(inst.dst)} = slot_load.${inst.size}${inst.signed ? "s" : ""} s${inst.slot}+${inst.offset}${kindOf(inst.dst)}`;
    case "slot_store":
      return `slot_store.${inst.size} s${inst.slot}+${inst.offset}, ${printValue(inst.value)}`;
    case "load":
      return `${vr(inst.dst)} = load.${inst.size}${inst.signed ? "s" : ""} [${vr(inst.ptr)}+${inst.offset}]${kindOf(inst.dst)}`;
    case "store":
      return `store.${inst.size} [${vr(inst.ptr)}+${inst.offset}], ${printValue(inst.value)}`;
    case "atomic_add":
      return `atomic_add.${inst.size} [${vr(inst.ptr)}+${inst.offset}], ${printValue(inst.value)}`;
    case "map_ref":
      return `${vr(inst.dst)} = map_ref ${inst.map}${kindOf(inst.dst)}`;
    case "call": {
      const args = inst.args.map(printValue).join(", ");
      const kind = inst.resultKind ? ` : ${inst.resultKind}` : inst.dst !== undefined ? kindOf(inst.dst) : "";
      return `${inst.dst !== undefined ? `${vr(inst.dst)} = ` : ""}call helper#${inst.helper}(${args})${kind}`;
    }
    case "call_local": {
      const args = inst.args.map(printValue).join(", ");
      return `${inst.dst !== undefined ? `${vr(inst.dst)} = ` : ""}call_local ${inst.callee}(${args})`;
    }
  }
}

/** Formats a terminator (without indentation). */
export function printTerminator(term: Terminator): string {
  switch (term.op) {
    case "br":
      return `br b${term.target}`;
    case "cbr":
      return `cbr.${term.width} ${term.cmp} ${printValue(term.a)}, ${printValue(term.b)} -> b${term.then}, b${term.else}`;
    case "ret":
      return `ret${term.abort ? ".abort" : ""} ${printValue(term.value)}`;
  }
}

/** Formats one block: its label line, then its instructions and terminator indented by two spaces. */
export function printBlock(block: Block, kinds?: ReadonlyMap<number, string>): string {
  const lines = [`b${block.id}:`];
  for (const inst of block.insts) lines.push(`  ${printInst(inst, kinds)}`);
  lines.push(`  ${printTerminator(block.term)}`);
  return lines.join("\n");
}

/** Formats a whole function: header, stack slots, then every block in order. */
export function printFunction(fn: Function): string {
  const lines = [`fn ${fn.name}(${fn.params.map(vr).join(", ")})${fn.isProgram ? " program" : ""}`];
  for (const s of fn.slots) lines.push(`  slot s${s.id}: ${s.size} bytes align ${s.align}${s.name ? ` (${s.name})` : ""}`);
  for (const b of fn.blocks) lines.push(printBlock(b, fn.ptrKinds));
  return lines.join("\n") + "\n";
}

/** Formats a module: license, maps (one line each), then every function separated by blank lines. */
export function printModule(m: Module): string {
  const lines = [`; module ${m.fileName}`, `; license ${JSON.stringify(m.license)}`];
  for (const map of m.maps) {
    lines.push(
      `map ${map.name}: type ${map.type} key ${map.keySize} value ${map.valueSize} max ${map.maxEntries}` +
        `${map.flags ? ` flags ${map.flags}` : ""}${map.pinning ? ` pinning ${map.pinning}` : ""}`,
    );
  }
  const out = lines.join("\n") + "\n";
  return [out, ...m.functions.map(printFunction)].join("\n");
}
