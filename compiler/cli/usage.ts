/**
 * Where a command writes: the process streams by default; tests capture them, and the compile server
 * (compiler/server/) sends them back to the client that asked for the command.
 */
export interface CliIO {
  stdout(text: string): void;
  stderr(text: string): void;
  /**
   * Asked before a command writes its output files: false when whoever asked for the command is gone (the compile
   * server's client was interrupted), so nothing is written, as when an interrupted local run dies first.
   */
  stillWanted?(): Promise<boolean>;
}

/** The process's stdout/stderr. */
export const processIO: CliIO = {
  stdout: (t) => void process.stdout.write(t),
  stderr: (t) => void process.stderr.write(t),
};

/** A mistake in the command line (exit code 2). */
export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * An input file named on the command line (a source, an object, a `--ctx @file`) is missing or unreadable: exit
 * code 1 in every subcommand, like any other bad input (diagnostics, a malformed object). README's exit-code table.
 */
export class InputFileError extends Error {
  override name = "InputFileError";
  constructor(file: string, err: unknown) {
    // compiler/bounded-input.ts's InputError already says why in words (not a regular file, over the size cap...).
    const why = (err as Error)?.name === "InputError" ? (err as Error).message : ((err as NodeJS.ErrnoException).code ?? (err as Error).message);
    super(`cannot read ${file}: ${why}`);
  }
}

/** Parsed command-line: positional arguments and `--name value` / `--flag` options. */
export interface ParsedArgs {
  positionals: string[];
  options: Map<string, string | true>;
}

/**
 * Parses `args` against the option names a command accepts. `valued` options take the next argument
 * (`-o out.o`, `--ctx '{...}'`, or `--ctx={...}`); `flags` take none. Unknown options are a UsageError.
 */
export function parseArgs(args: string[], valued: string[], flags: string[] = []): ParsedArgs {
  const positionals: string[] = [];
  const options = new Map<string, string | true>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (flags.includes(name)) {
      options.set(name, true);
    } else if (valued.includes(name)) {
      const value = eq > 0 ? arg.slice(eq + 1) : args[++i];
      if (value === undefined) throw new UsageError(`option ${name} needs a value`);
      options.set(name, value);
    } else {
      throw new UsageError(`unknown option '${name}'`);
    }
  }
  return { positionals, options };
}
