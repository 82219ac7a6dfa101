/**
 * Types for the matchers `installMatchers(expect)` registers, for vitest. Reference this file once in a test
 * project (`/// <reference path="node_modules/tsbpf/runtime/testing/vitest.d.ts" />`, or copy these lines) so that
 * `expect(report).toSelect("A")` type-checks.
 */
import type { HandlerMatchers } from "./assert.ts";

declare module "vitest" {
  interface Matchers<T = any> extends HandlerMatchers<T> {}
}
