/**
 * Entry of dist/server/client.cjs (scripts/build.mjs bundles it as CommonJS): the package root is two directories up
 * from the bundle. See client.ts.
 */
import { resolve } from "node:path";
import { runClient } from "./client.ts";

void runClient(resolve(__dirname, "..", ".."), process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
