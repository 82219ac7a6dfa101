/**
 * The whole repository (compiler, runtime, tests, benches) type-checks under tsconfig.json's strict flags. Vitest
 * strips types without checking them, so without this a type error merged from one branch only shows up at the next
 * `npm run build`, where the declaration emit of shipped files fails.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect, test } from "vitest";

test("tsc --noEmit -p . reports no errors", () => {
  // The repo's own typescript (7, the native tsc); its package exports no bin path, so name the file.
  const tsc = fileURLToPath(new URL("../../node_modules/typescript/bin/tsc", import.meta.url));
  let output = "";
  try {
    execFileSync(process.execPath, [tsc, "--noEmit", "-p", "."], { encoding: "utf8", stdio: "pipe" });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    output = `${e.stdout ?? ""}${e.stderr ?? ""}`;
  }
  expect(output).toBe("");
});
