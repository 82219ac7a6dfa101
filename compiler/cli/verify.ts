/**
 * `tsbpf verify FILE.o` — runs tsbpf's own verifier on every sk_lookup program of a BPF ELF object (compiled by tsbpf
 * or clang) and prints a readable report per program: accepted with the processed-instruction count, or the failing
 * instruction, the reason (kernel wording plus what it means), the register/stack state and the source line from BTF
 * line info. Exit code 0 when every program is accepted, 1 when any is rejected (or the object is missing or malformed), 2 on
 * usage errors.
 */
import { mapCreateError } from "../abi/map-limits.ts";
import { MAX_OBJECT_BYTES, printableName, printableText, readBoundedFile } from "../bounded-input.ts";
import { ObjectError, readObject } from "../elf/index.ts";
import { type VerifyResult, verifyObject } from "../verifier/index.ts";
import { TARGET_HELP, TARGET_OPTION, targetOption } from "./build.ts";
import { InputFileError, UsageError, parseArgs } from "./usage.ts";

const HELP = `usage: tsbpf verify FILE.o [--target-kernel VERSION|host] [--prog NAME] [--json]

Checks every program of a BPF ELF object with tsbpf's verifier, which follows the Linux verifier's rules for
sk_lookup programs (as a privileged loader) on the target kernel. For a rejected program it prints the instruction,
the reason, the register and stack state there, the source line when the object has BTF line info, and the oldest
release that would accept the program, if one would.

options:
  --target-kernel VERSION   the kernel to answer for: ${TARGET_HELP}
  --prog NAME               verify only this program
  --json                    print the results as JSON
  --help                    show this help

exit status: 0 all accepted, 1 a program was rejected or the object is missing or malformed, 2 usage error
`;

/** The report of one program, as `tsbpf verify` prints it. */
export function formatResult(rawName: string, r: VerifyResult): string {
  // The name comes from the object: escaped, so that it cannot print a fake "accepted" line.
  const name = printableName(rawName);
  if (r.ok) return `${name}: accepted for ${r.target} (${r.insnsProcessed} instructions processed)\n`;
  const e = r.error!;
  // Messages may quote map names, and source lines come from the object's BTF: no control characters get through.
  const t = printableText;
  const [headline, ...more] = e.message.split("\n");
  const out = [`${name}: rejected for ${r.target} at insn ${e.pc}: ${t(e.insn)}`, `  error: ${t(headline ?? "")}`];
  for (const m of more) out.push(`         ${t(m)}`);
  if (e.line) out.push(`  source: ${t(e.line.file)}:${e.line.line}:${e.line.column}: ${t(e.line.text.trim())}`);
  if (e.explain) out.push(`  note: ${t(e.explain)}`);
  if (e.state) out.push(`  state: ${t(e.state)}`);
  if (r.loadsFrom) out.push(`  loads from: Linux ${r.loadsFrom} (build with --target-kernel ${r.loadsFrom} if every host runs it)`);
  out.push(`  (${r.insnsProcessed} instructions processed)`);
  return `${out.join("\n")}\n`;
}

/** Entry point of `tsbpf verify`. */
export async function run(args: string[]): Promise<number> {
  const { positionals, options } = parseArgs(args, ["--prog", TARGET_OPTION], ["--json", "--help"]);
  if (options.has("--help")) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(`expected one object file\n\n${HELP}`);
  const file = positionals[0]!;
  let bytes: Uint8Array;
  try {
    bytes = readBoundedFile(file, MAX_OBJECT_BYTES);
  } catch (err) {
    throw new InputFileError(file, err);
  }
  const target = targetOption(options);
  let results: Map<string, VerifyResult>;
  try {
    const obj = readObject(bytes);
    const wanted = options.get("--prog");
    if (typeof wanted === "string") {
      if (!obj.programs.some((p) => p.name === wanted)) {
        throw new UsageError(`no program ${wanted} in ${file} (programs: ${obj.programs.map((p) => p.name).join(", ") || "none"})`);
      }
      obj.programs = obj.programs.filter((p) => p.name === wanted);
    }
    // The kernel refuses the whole object when it cannot create one of its maps (BPF_MAP_CREATE runs first).
    const refused = obj.maps.map((m) => mapCreateError(m)).filter((e) => e !== undefined);
    if (refused.length > 0) {
      for (const e of refused) process.stderr.write(`tsbpf verify: ${file}: ${printableText(e.message)} (the kernel refuses to create it: ${e.errno})\n`);
      return 1;
    }
    results = verifyObject(obj, { target });
  } catch (err) {
    if (err instanceof ObjectError) {
      process.stderr.write(`tsbpf verify: ${file}: ${printableText(err.message)}\n`);
      return 1;
    }
    throw err;
  }
  if (options.has("--json")) {
    process.stdout.write(`${JSON.stringify(Object.fromEntries(results), null, 2)}\n`);
  } else {
    for (const [name, r] of results) process.stdout.write(formatResult(name, r));
    if (results.size === 0) process.stdout.write(`${file}: no programs\n`);
  }
  return [...results.values()].every((r) => r.ok) ? 0 : 1;
}
