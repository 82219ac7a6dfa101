/** Entry point of the `tsbpf` command line (dist/cli.js): see dispatch.ts. */
import { main } from "./dispatch.ts";

process.exitCode = await main(process.argv.slice(2));
