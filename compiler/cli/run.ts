/**
 * `tsbpf run FILE.(ts|o) --prog NAME --ctx JSON [--maps JSON] [--tier interp|jit]`: runs one program in the
 * embedded VM and prints one JSON object, e.g. `{"verdict":"SK_PASS","selected":"A","retval":1,...}`.
 *
 * `--ctx` and `--maps` take JSON text, or `@path` to read it from a file. Exit codes: 0 ran (whatever the verdict),
 * 1 the program or object is at fault (compile errors, malformed object, VM fault), 2 a usage mistake (missing or
 * malformed option, JSON or ctx/map contents that do not fit the program). Never a stack trace for user mistakes.
 */
import { MAX_JSON_BYTES, MAX_OBJECT_BYTES, parseBoundedJson, printableText, readBoundedFile, readBoundedText } from "../bounded-input.ts";
import { MapType } from "../abi/maps.ts";
import type { VmMap } from "../../runtime/maps/map.ts";
import type { VmObject } from "../../runtime/vm/object.ts";
import { InputFileError, UsageError, parseArgs } from "./usage.ts";

const HELP = `usage: tsbpf run FILE.(ts|o) --prog NAME --ctx JSON [--maps JSON] [--tier interp|jit]

  --prog NAME    program (function) to run; may be omitted when the object has exactly one
  --ctx JSON     lookup context: {"family":"inet","protocol":"tcp","remoteIp":"127.0.0.2","remotePort":8008,
                 "localIp":"127.0.0.1","localPort":7007}  (or @file.json)
  --maps JSON    map contents before the run: {"<map>":{"<key>":<value>}}; socket maps take socket descriptions
                 {"name":"A","family":"inet","protocol":"tcp","state":"listen","ip":"127.0.0.1","port":1234}
  --tier T       interp (reference interpreter, default) or jit
`;

/** Reads an option holding JSON (or @file). */
function jsonOption(value: string | true | undefined, name: string): unknown {
  if (value === undefined || value === true) return undefined;
  let text = value;
  if (text.startsWith("@")) {
    try {
      text = readBoundedText(text.slice(1), MAX_JSON_BYTES);
    } catch (e) {
      throw new InputFileError(text.slice(1), e);
    }
  }
  try {
    return parseBoundedJson(text);
  } catch (e) {
    throw new UsageError(`${name} is not valid JSON: ${(e as Error).message}`);
  }
}

/** JSON for the CLI's output: map reads give 64-bit integers as bigint; print them as numbers (decimal strings past 2^53). */
function bigintAsJson(_key: string, v: unknown): unknown {
  if (typeof v !== "bigint") return v;
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}

/**
 * Map contents after the run, in the `--maps` format: keys as decimal strings or struct JSON, sockets by name.
 * Array entries that are all zero are left out so that counters stand out.
 */
function mapsAfter(obj: VmObject, isSocket: (v: unknown) => v is { name: string }): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [name, raw] of obj.maps) {
    const view = obj.map(name);
    let decoded: Array<[unknown, unknown]>;
    let rawEntries: ReturnType<VmMap["entries"]>;
    try {
      decoded = view.entries();
      rawEntries = raw.entries();
    } catch {
      continue; // a map type the VM does not model
    }
    const isArray = raw.def.type === MapType.ARRAY || raw.def.type === MapType.PERCPU_ARRAY;
    const entries: Record<string, unknown> = {};
    decoded.forEach(([k, v], i) => {
      const value = rawEntries[i]![1];
      if (isArray && !isSocket(value) && value.bytes.every((b) => b === 0)) return;
      entries[typeof k === "object" ? JSON.stringify(k, bigintAsJson) : String(k)] = isSocket(v) ? v.name : v;
    });
    out[name] = entries;
  }
  return out;
}

/** Entry point called by cli/main.ts. */
export async function run(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(HELP);
    return 0;
  }
  const { positionals, options } = parseArgs(args, ["--prog", "--ctx", "--maps", "--tier"]);
  if (positionals.length !== 1) throw new UsageError(positionals.length ? `expected one FILE, got ${positionals.length}` : "missing FILE (a .ts or .o)");
  const file = positionals[0]!;
  const tier = options.get("--tier") ?? "interp";
  if (tier !== "interp" && tier !== "jit") throw new UsageError(`--tier must be interp or jit (got '${String(tier)}')`);
  const ctx = jsonOption(options.get("--ctx"), "--ctx");
  if (ctx === undefined) throw new UsageError("missing --ctx JSON");
  const maps = jsonOption(options.get("--maps"), "--maps") ?? {};
  if (maps === null || typeof maps !== "object" || Array.isArray(maps)) throw new UsageError('--maps must be a JSON object {"<map>": {"<key>": <value>}}');

  const rt = await import("../../runtime/index.ts");
  let obj: VmObject;
  try {
    if (file.endsWith(".ts")) {
      obj = await rt.fromTs(file);
    } else {
      let bytes: Uint8Array;
      try {
        bytes = readBoundedFile(file, MAX_OBJECT_BYTES);
      } catch (e) {
        throw new InputFileError(file, e); // "tsbpf run: cannot read FILE: why", exit 1, as in every subcommand
      }
      obj = rt.loadObject(bytes);
    }
  } catch (e) {
    if (e instanceof rt.CompileError && e.diagnostics.length) {
      // Compiler diagnostics already name FILE:LINE:COL and carry a code frame.
      process.stderr.write(`${e.message}\n`);
      return 1;
    }
    if (e instanceof rt.CompileError || e instanceof rt.ObjectError || e instanceof rt.MapError) {
      process.stderr.write(`tsbpf run: ${file}: ${printableText((e as Error).message)}\n`);
      return 1;
    }
    throw e;
  }

  let progName = options.get("--prog");
  if (progName === true) throw new UsageError("--prog needs a value");
  if (progName === undefined) {
    if (obj.programNames.length !== 1) throw new UsageError(`missing --prog (programs in ${file}: ${obj.programNames.join(", ") || "none"})`);
    progName = obj.programNames[0]!;
  }
  if (!obj.programNames.includes(progName)) throw new UsageError(`no program '${progName}' in ${file} (programs: ${obj.programNames.join(", ") || "none"})`);

  // Fill maps; a socket described twice by name is the same socket.
  const sockets = new Map<string, InstanceType<typeof rt.Socket>>();
  for (const [mapName, entries] of Object.entries(maps as Record<string, unknown>)) {
    let view;
    try {
      view = obj.map(mapName);
    } catch (e) {
      throw new UsageError(`--maps: ${(e as Error).message}`);
    }
    if (entries === null || typeof entries !== "object" || Array.isArray(entries)) throw new UsageError(`--maps: ${mapName} must be an object of key: value`);
    for (const [k, v] of Object.entries(entries as Record<string, unknown>)) {
      let value = v;
      try {
        if (view.raw.holdsSockets) {
          const spec = v as { name?: string };
          const known = typeof spec?.name === "string" ? sockets.get(spec.name) : undefined;
          value = known ?? new rt.Socket(spec as never);
          sockets.set((value as InstanceType<typeof rt.Socket>).name, value as InstanceType<typeof rt.Socket>);
        }
        view.set(k, value);
      } catch (e) {
        if (e instanceof rt.SocketError || e instanceof rt.MapAccessError || e instanceof rt.CodecError || e instanceof rt.MapError) {
          throw new UsageError(`--maps: ${mapName}[${k}]: ${e.message}`);
        }
        throw e;
      }
    }
  }

  let result;
  try {
    result = obj.run(progName, ctx as never, { tier });
  } catch (e) {
    if (e instanceof rt.CtxError) throw new UsageError(`--ctx: ${e.message}`);
    if (e instanceof rt.VmFault) {
      process.stderr.write(`tsbpf run: ${printableText(progName)}: ${printableText(e.message)}\n`);
      return 1;
    }
    throw e;
  }
  const out: Record<string, unknown> = {
    verdict: result.verdict,
    selected: result.selected?.name ?? null,
    retval: result.retval,
    cookie: result.cookie.toString(),
    insnsExecuted: result.insnsExecuted,
    tier,
    trace: result.trace,
  };
  // A reuseport socket selected without NO_REUSEPORT is swapped for a member of its group in a real lookup (and
  // BPF_PROG_TEST_RUN refuses it with EOPNOTSUPP): say so.
  if (result.selected?.reuseport) out.noReuseport = result.noReuseport;
  if (result.leakedRefs.length) out.leakedRefs = result.leakedRefs;
  out.maps = mapsAfter(obj, (v): v is InstanceType<typeof rt.Socket> => v instanceof rt.Socket);
  process.stdout.write(`${JSON.stringify(out, bigintAsJson)}\n`);
  return 0;
}
