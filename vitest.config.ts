import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ["default", "./test/support/summary-reporter.ts"],
    globalSetup: ["./test/support/global-setup.ts"],
    // `tsbpf build`/`check` run by tests are local processes, as before the compile server, so that no test leaves a
    // server behind; test/cli/server.test.ts turns it on for itself (with its own cache directory) and stops it.
    env: { TSBPF_SERVER: "0" },
  },
});
