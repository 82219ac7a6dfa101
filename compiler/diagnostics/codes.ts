/**
 * The catalogue of tsbpf diagnostic codes: one code per kind of problem, each with a title and a suggestion telling
 * the user what to write instead. Codes are stable: tests and users grep for them.
 *
 * Ranges: 0xxx input and TypeScript, 1xxx constructs outside the DSL subset, 2xxx maps/types/layout, 3xxx back end
 * and verifier, 9xxx internal errors.
 */

/** One catalogue entry. */
export interface CodeInfo {
  /** `TSBPFnnnn`. */
  code: string;
  /** A short name for the problem kind. */
  title: string;
  /** What to do about it. */
  suggestion: string;
}

function entry(code: string, title: string, suggestion: string): CodeInfo {
  return { code, title, suggestion };
}

/** Every diagnostic code, by a symbolic key. */
export const Codes = {
  TypeScript: entry("TSBPF0001", "TypeScript error", "Fix the type error; tsbpf compiles only well-typed programs."),
  FileNotFound: entry("TSBPF0002", "cannot read the input file", "Check the path."),
  BadImport: entry("TSBPF0003", "unsupported import", "Import only from \"tsbpf\"; put helpers in the same file."),
  NoPrograms: entry("TSBPF0004", "no programs", "Export a function `(ctx: SkLookup): Verdict`."),
  BadTarget: entry("TSBPF0005", "unknown kernel target", "Give a Linux version from 5.10 to 6.18 (e.g. 5.10, 6.6), or \"host\" to probe the running kernel."),
  TooDeep: entry("TSBPF0006", "input nested too deeply", "Split the expression or statement with local variables or functions (tsbpf accepts 400 levels of nesting)."),
  NumberLiteral: entry("TSBPF0007", "numeric literal is not a 64-bit integer", "Write an integer from -2^63 to 2^64-1; above 2^53 use a bigint literal (123n) so that no digit is lost."),
  String: entry("TSBPF1001", "strings are not supported", "Strings exist only as `trace` formats and ip4/ip6/cidr4/cidr6 literals; use integers."),
  Float: entry("TSBPF1002", "floating point is not supported", "BPF has integers only: use integer literals; `/` is integer division."),
  Closure: entry("TSBPF1003", "closures and function values are not supported", "Declare a top-level `function` and call it directly."),
  Class: entry("TSBPF1004", "classes are not supported", "Use interfaces for structs and top-level functions for behaviour."),
  Exception: entry("TSBPF1005", "exceptions are not supported", "Return SK_DROP (or an error code) instead of throwing."),
  Async: entry("TSBPF1006", "async functions, await and generators are not supported", "BPF programs run to completion: write synchronous code."),
  Recursion: entry("TSBPF1007", "recursion is not supported", "BPF has no recursion: rewrite it as a bounded loop."),
  UnboundedLoop: entry("TSBPF1008", "loop without a provable bound", "Use `for (let i = A; i < N; i++)` with a constant N, or `for (const x of CONST_TUPLE)`."),
  DynamicAccess: entry("TSBPF1009", "dynamic property access is not supported", "Use a field name, or a constant index into a tuple."),
  AnyUnknown: entry("TSBPF1010", "`any` and `unknown` are not supported", "Give the value an integer, boolean, struct or DSL type."),
  IndexOutOfRange: entry("TSBPF1011", "constant index out of range", "Use an index below the tuple length / the map's maxEntries."),
  ContextWrite: entry("TSBPF1012", "the context is read-only", "Copy the field into a local variable and change that."),
  BadAddress: entry("TSBPF1013", "malformed address literal", "Write ip4(\"a.b.c.d\"), ip6(\"x::y\"), cidr4(\"a.b.c.d/n\") or cidr6(\"x::/n\") with a literal string and zero host bits."),
  TraceArgs: entry("TSBPF1014", "too many trace arguments", "bpf_trace_printk takes at most 3 values: split the message into several trace calls."),
  StackOverflow: entry("TSBPF1015", "stack use over 512 bytes", "BPF programs have a 512-byte stack: use smaller keys/values, or keep data in a map."),
  BadCall: entry("TSBPF1016", "call to something that is not a DSL helper or a local function", "Only tsbpf helpers, map methods and functions declared in this file can be called."),
  BadReturn: entry("TSBPF1017", "a program must return SK_PASS or SK_DROP", "Return SK_PASS or SK_DROP (or a `cond ? SK_PASS : SK_DROP`)."),
  Unsupported: entry("TSBPF1018", "construct outside the tsbpf subset", "Rewrite it with integers, structs, if/for and local functions."),
  SocketVar: entry("TSBPF1019", "a socket variable mixes a lookup result with another socket", "Keep lookup results (references the compiler releases) and `ctx.sk` or socket parameters (never released) in separate variables."),
  BadType: entry("TSBPF2001", "type without a BPF layout", "Use u8..u64/i8..i64, boolean, Ip6, fixed tuples of them, or interfaces of those."),
  BadMap: entry("TSBPF2002", "malformed map declaration", "Declare maps as `export const name = new SockMap({ maxEntries: 32 })` with constant options."),
  BadConst: entry("TSBPF2003", "not a compile-time constant", "Module-level consts must be integers, ip4/ip6/cidr4/cidr6 literals or tuples of constants."),
  BadProgram: entry("TSBPF2004", "malformed program signature", "A program is `export function name(ctx: SkLookup): Verdict`."),
  GplOnly: entry("TSBPF2005", "helper needs a GPL-compatible license", "Remove the LICENSE export (the default is \"GPL\") or use a GPL-compatible one such as \"Dual BSD/GPL\"."),
  Backend: entry("TSBPF3001", "code generation failed", "This is probably a tsbpf limitation; simplify the expression or report it."),
  Verifier: entry("TSBPF3002", "the program would be rejected by the kernel verifier", "See the notes for the verifier's reasoning."),
  NewerKernel: entry(
    "TSBPF3003",
    "the program loads only on kernels newer than the target",
    "Rewrite it so that the target's verifier accepts it (see the notes), or raise --target-kernel if every host runs the release named.",
  ),
  Internal: entry("TSBPF9001", "internal compiler error", "Please report this with the input file."),
} as const satisfies Record<string, CodeInfo>;

/** A key of the catalogue. */
export type CodeKey = keyof typeof Codes;

/** The entry for a `TSBPFnnnn` string, or undefined. */
export function lookupCode(code: string): CodeInfo | undefined {
  return Object.values(Codes).find((c) => c.code === code);
}
