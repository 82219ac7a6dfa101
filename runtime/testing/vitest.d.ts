/**
 * Types for the matchers `installMatchers(expect)` registers, for vitest. Reference them once in a test project
 * (`/// <reference types="tsbpf/testing/vitest" />`, or `"types": ["tsbpf/testing/vitest"]` in tsconfig.json) so
 * that `expect(report).toSelect("A")` type-checks.
 */
import type { HandlerMatchers } from "./assert.ts";

declare module "vitest" {
  interface Matchers<T = any> extends HandlerMatchers<T> {}
}
