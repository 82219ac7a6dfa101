/**
 * Expectations on reports, usable from any test runner: plain assertion functions that throw a
 * `HandlerAssertionError` (node:test, mocha, ...), and vitest/jest matchers (`toSelect`, `toPass`, `toDrop`)
 * registered through `installMatchers(expect)`, so this module never imports a test framework itself.
 */
import { Socket } from "../index.ts";
import { describeReport, isReport, type Report } from "./report.ts";

/** What `toSelect` / `assertSelects` accept: a socket name, the Socket object, or null for "no socket". */
export type SocketRef = string | Socket | null;

/** A failed handler expectation; `message` tells the whole story of the lookup. */
export class HandlerAssertionError extends Error {
  override name = "HandlerAssertionError";
  constructor(
    message: string,
    /** What was found (socket name or verdict). */
    readonly actual: unknown,
    /** What the test expected. */
    readonly expected: unknown,
  ) {
    super(message);
  }
}

/** The outcome of checking one expectation: whether it held, and the message for either polarity. */
export interface Check {
  /** The expectation held. */
  pass: boolean;
  /** Explains a failure of the positive expectation. */
  failure: string;
  /** Explains a failure of the negated expectation (`.not`). */
  negatedFailure: string;
  /** What was found (socket name or verdict), for a runner's diff. */
  actual: unknown;
  /** What was expected. */
  expected: unknown;
}

function refName(s: SocketRef): string | null {
  return s instanceof Socket ? s.name : s;
}

function notAReport(x: unknown, what: string): Check {
  const shown = typeof x === "object" ? Object.prototype.toString.call(x) : JSON.stringify(x);
  const msg = `${what} needs the result of handler.run() or .lookup(), got ${shown}`;
  return { pass: false, failure: msg, negatedFailure: msg, actual: x, expected: what };
}

/** Checks that `r`'s receiving socket is `expected` (by name or identity; null = no socket). */
export function checkSelects(r: unknown, expected: SocketRef): Check {
  if (!isReport(r)) return notAReport(r, "toSelect");
  const want = refName(expected);
  const pass = expected instanceof Socket ? r.socket === expected : r.selected === want;
  const wantText = want === null ? "no socket" : `socket ${want}`;
  const gotText = r.selected === null ? "no socket was selected" : `${r.socket ? String(r.socket) : r.selected} was selected`;
  const story = describeReport(r);
  return {
    pass,
    failure: `expected ${r.packet} to go to ${wantText}, but ${gotText}\n${story}`,
    negatedFailure: `expected ${r.packet} not to go to ${wantText}, but it did\n${story}`,
    actual: r.selected,
    expected: want,
  };
}

/** Checks the verdict: `SK_PASS` for a run; for a lookup, that it was not refused. */
export function checkVerdict(r: unknown, expected: "SK_PASS" | "SK_DROP"): Check {
  if (!isReport(r)) return notAReport(r, expected === "SK_PASS" ? "toPass" : "toDrop");
  const pass = r.verdict === expected;
  const story = describeReport(r);
  const subject = r.kind === "run" ? `${r.program} on ${r.packet}` : `the lookup of ${r.packet}`;
  return {
    pass,
    failure: `expected ${subject} to return ${expected}, but it returned ${r.verdict}\n${story}`,
    negatedFailure: `expected ${subject} not to return ${expected}, but it did\n${story}`,
    actual: r.verdict,
    expected,
  };
}

function enforce(c: Check): void {
  if (!c.pass) throw new HandlerAssertionError(c.failure, c.actual, c.expected);
}

/** Throws HandlerAssertionError unless the packet went to `socket` (a name, the Socket, or null for none). */
export function assertSelects(r: Report, socket: SocketRef): void {
  enforce(checkSelects(r, socket));
}
/** Throws HandlerAssertionError unless the verdict is SK_PASS (a lookup: not refused). */
export function assertPasses(r: Report): void {
  enforce(checkVerdict(r, "SK_PASS"));
}
/** Throws HandlerAssertionError unless the verdict is SK_DROP (a lookup: refused). */
export function assertDrops(r: Report): void {
  enforce(checkVerdict(r, "SK_DROP"));
}

/** The part of vitest's / jest's `expect` that `installMatchers` needs. */
export interface ExtensibleExpect {
  // `any` on purpose: vitest and jest type the matcher context and arguments each their own way.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  extend(matchers: Record<string, (this: any, received: any, ...args: any[]) => any>): void;
}

/** A matcher's answer, in the shape vitest and jest expect. */
export interface MatcherResult {
  /** The expectation held. */
  pass: boolean;
  /** The failure message (for `.not`, the negated one). */
  message: () => string;
  /** Shown as "Received" in a diff. */
  actual?: unknown;
  /** Shown as "Expected" in a diff. */
  expected?: unknown;
}

function result(this: { isNot?: boolean }, c: Check): MatcherResult {
  const isNot = this.isNot === true;
  return { pass: c.pass, message: () => (isNot ? c.negatedFailure : c.failure), actual: c.actual, expected: c.expected };
}

/**
 * Registers `toSelect(socket)`, `toPass()` and `toDrop()` on a vitest or jest `expect`:
 * `installMatchers(expect)` once (e.g. in a setup file). For TypeScript, see `runtime/testing/vitest.d.ts`.
 */
export function installMatchers(expect: ExtensibleExpect): void {
  expect.extend({
    toSelect(this: { isNot?: boolean }, received: unknown, socket: SocketRef) {
      return result.call(this, checkSelects(received, socket));
    },
    toPass(this: { isNot?: boolean }, received: unknown) {
      return result.call(this, checkVerdict(received, "SK_PASS"));
    },
    toDrop(this: { isNot?: boolean }, received: unknown) {
      return result.call(this, checkVerdict(received, "SK_DROP"));
    },
  });
}

/** The matchers `installMatchers` adds, for augmenting a test framework's assertion type. */
export interface HandlerMatchers<R = unknown> {
  /** The packet goes to this socket (name, Socket, or null for "no socket"). */
  toSelect(socket: SocketRef): R;
  /** The verdict is SK_PASS (for a lookup: it was not refused). */
  toPass(): R;
  /** The verdict is SK_DROP (for a lookup: it was refused). */
  toDrop(): R;
}
