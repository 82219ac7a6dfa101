/** Entry point of the `tsbpf` command line (dist/cli.js): see dispatch.ts; `__tsbpf_serve` makes it the compile server. */
import { SERVE_FLAG } from "../server/protocol.ts";
import { main } from "./dispatch.ts";
import { tuneOneShot } from "./one-shot.ts";

const argv = process.argv.slice(2);
if (argv[0] === SERVE_FLAG) {
  const { serve } = await import("../server/server.ts");
  await serve({ socket: argv[1]!, key: argv[2]!, root: argv[3]!, run: main });
} else {
  tuneOneShot(argv);
  process.exitCode = await main(argv);
}
