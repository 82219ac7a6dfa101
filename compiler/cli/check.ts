/**
 * `tsbpf check FILE.ts` — compile and verify with tsbpf's verifier, without writing anything.
 * Exit 0 when the file is fine, 1 on diagnostics, 2 on usage errors.
 */
import { DUMP_FLAGS, TARGET_HELP, TARGET_OPTION, compileForCli, oneSource, processIO, type CliIO } from "./build.ts";
import { parseArgs } from "./usage.ts";

const HELP = `usage: tsbpf check FILE.ts [--target-kernel VERSION|host] [--dump-ir] [--dump-asm] [--no-verify]

Type-checks and compiles FILE.ts, reporting every problem as FILE:LINE:COL - error TSBPFnnnn: message.
Writes nothing.

options:
  --target-kernel VERSION   the oldest kernel the programs must load on: ${TARGET_HELP}
  --dump-ir                 print the IR to stdout
  --dump-asm                print each program's BPF assembly to stdout
  --no-verify               skip tsbpf's verifier
  --help                    show this help

exit status: 0 ok, 1 diagnostics (on stderr), 2 usage error
`;

/** Entry point of `tsbpf check`. */
export async function run(args: string[], io: CliIO = processIO): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    io.stdout(HELP);
    return 0;
  }
  const { positionals, options } = parseArgs(args, [TARGET_OPTION], DUMP_FLAGS);
  const file = oneSource(positionals, "check");
  const result = await compileForCli(file, options, io);
  if (!result.object) return 1;
  io.stdout(`${file}: ok (${result.programs.map((p) => `${p.name}: ${p.insnCount} insns`).join(", ")})\n`);
  return 0;
}
