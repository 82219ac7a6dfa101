import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Kernel tests create maps, links and network namespaces; keep files from stepping on each other's netns names.
    fileParallelism: true,
  },
});
