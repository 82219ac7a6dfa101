/**
 * `tsbpf` command line: dispatch to the subcommands (main.ts runs it; so does the start-up snapshot). Each subcommand lives in its own file and exports `run(args): Promise<number>` returning the
 * exit code: 0 success, 1 bad input (diagnostics, a rejected program, a missing, unreadable or malformed input file),
 * 2 usage error, 70 internal error. A user mistake never shows a stack trace.
 */
import { type CliIO, InputFileError, UsageError, processIO } from "./usage.ts";

/**
 * A subcommand: its one-line summary and its module, loaded on demand. Its run() writes to `io` where it takes one
 * (build and check: the ones the compile server runs); the others write to the process streams.
 */
export type Command = { summary: string; load: () => Promise<{ run(args: string[], io?: CliIO): Promise<number> }> };

const COMMANDS: Record<string, Command> = {
  build: { summary: "compile, verify and write an ELF object", load: () => import("./build.ts") },
  check: { summary: "compile and verify, write nothing", load: () => import("./check.ts") },
  objdump: { summary: "disassemble every program of a BPF ELF object", load: () => import("./objdump.ts") },
  verify: { summary: "run tsbpf's verifier on any sk_lookup ELF object", load: () => import("./verify.ts") },
  run: { summary: "run one program in the embedded VM", load: () => import("./run.ts") },
};

const HELP = `usage: tsbpf <command> [options]

commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(9)}${c.summary}`)
  .join("\n")}

Run \`tsbpf <command> --help\` for a command's options.
`;

/** Runs the command line `argv` (without node and the script), writing to `io`; resolves to the exit code. */
export async function main(argv: string[], io: CliIO = processIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    (name === undefined ? io.stderr : io.stdout)(HELP);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.stderr(`tsbpf: unknown command '${name}'\n\n${HELP}`);
    return 2;
  }
  try {
    return await (await command.load()).run(rest, io);
  } catch (err) {
    if (err instanceof InputFileError) {
      io.stderr(`tsbpf ${name}: ${err.message}\n`);
      return 1;
    }
    if (err instanceof UsageError) {
      io.stderr(`tsbpf ${name}: ${err.message}\n`);
      return 2;
    }
    // Anything else is a bug in tsbpf, not a user mistake: say so, with the trace.
    io.stderr(`tsbpf ${name}: internal error (please report): ${(err as Error)?.stack ?? String(err)}\n`);
    return 70;
  }
}

