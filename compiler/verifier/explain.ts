/**
 * TypeScript-terms explanations of verifier messages, for `tsbpf build` diagnostics and `tsbpf verify` reports. The
 * kernel-style message stays the searchable headline; this says what in a tsbpf program usually causes it.
 */

const RULES: ReadonlyArray<readonly [RegExp, string]> = [
  [/type=map_value_or_null expected=sock/, "the result of sockets.lookup() is passed to ctx.assign() before checking it for null; test it first (`const s = sockets.lookup(k); if (s) ...`)"],
  [/invalid mem access 'map_value_or_null'/, "the result of a map lookup is used before checking it for null; test it first (`if (v !== null) ...`)"],
  [/invalid mem access 'sock_or_null'/, "ctx.sk is read before checking it for null; the context may carry no selected socket"],
  [/pointer arithmetic on (sock|map_value)_or_null/, "arithmetic on a lookup result that may be null; check it for null first"],
  [/pointer arithmetic on sock/, "a socket reference is a handle, not a number: no arithmetic on it"],
  [/must be referenced when passed to release function/, "only sockets returned by a SockMap/SockHash lookup may be released; ctx.sk is owned by the kernel"],
  [/Unreleased reference/, "a socket from sockets.lookup() is not released on every path; tsbpf releases it for you unless it escapes (e.g. returned or stored)"],
  [/expected=sock_common/, "a socket handle is used after it was released, or a non-socket value is released"],
  [/At program exit the register R0 has smin/, "a program must return SK_PASS (1) or SK_DROP (0); the returned value may be outside {0, 1}"],
  [/At program exit the register R0 is not a known value/, "a program must return SK_PASS or SK_DROP, not a pointer"],
  [/R0 !read_ok/, "a path reaches the end of the program without a return value"],
  [/!read_ok/, "a value is used before it was assigned on some path"],
  [/invalid bpf_context access/, "this context field cannot be accessed this way: ctx is read-only, and each field allows only some load widths (no 8-byte ip6 loads; local_port and addresses are 32-bit)"],
  [/dereference of modified ctx ptr/, "a context field is read through an offset pointer; read ctx fields directly"],
  [/invalid access to map value/, "a map value is read or written beyond its declared size"],
  [/min value is negative|max value is outside|unbounded memory access/, "an index into a map value is not bounded; compare it against the value's length before use"],
  [/invalid (read from|write to|indirect access to) stack|invalid unbounded variable-offset/, "a local variable lies outside the 512-byte stack frame"],
  [/misaligned stack access/, "a stack slot is accessed at an offset not aligned to its size"],
  [/infinite loop detected/, "a loop has no bound the verifier can see; use a constant bound (`for (let i = 0; i < N; i++)`) and keep its counter in a local variable"],
  // Usually replaced by the exploration's own diagnosis (complexity.ts), which names the cause.
  [/BPF program is too large|jumps is too complex/, "the verifier ran out of budget walking the program's paths: a loop without a bound it can see, too many iterations, or branches whose outcomes keep paths apart"],
  [/cannot use helper|^unknown func /, "this kernel function is not available to sk_lookup programs"],
  [/cannot write into sock/, "socket fields are read-only"],
  [/invalid sock access/, "this socket field cannot be read with this width or offset"],
  [/div by zero/, "division by a constant zero"],
  [/unreachable insn/, "the object contains code no path reaches (not produced by tsbpf)"],
  [/GPL-restricted/, "trace_printk needs a GPL-compatible license"],
];

/** A TS-terms explanation of a verifier message, or undefined when none applies. */
export function explain(message: string): string | undefined {
  for (const [re, text] of RULES) if (re.test(message)) return text;
  return undefined;
}
