// esbuild plugin shared by scripts/build.mjs and the bench: `import { ts } from "@ts-morph/common"` becomes a
// `require()` of the package at run time. Node's ESM loader would otherwise scan the package's 12 MB of CommonJS for
// its export names before running it (about 60 ms of every cold `tsbpf build`); require() skips that scan.
const NAMES = ["ts", "getLibFiles", "libFolderInMemoryPath"];

/** The plugin (the package stays external: it is loaded from node_modules, not bundled). */
export const requireTypeScript = {
  name: "tsbpf-require-typescript",
  setup(build) {
    build.onResolve({ filter: /^@ts-morph\/common$/ }, () => ({ path: "@ts-morph/common", namespace: "tsbpf-require" }));
    build.onLoad({ filter: /.*/, namespace: "tsbpf-require" }, () => ({
      contents: `import { createRequire } from "node:module";
const common = createRequire(import.meta.url)("@ts-morph/common");
export const { ${NAMES.join(", ")} } = common;
`,
      loader: "js",
    }));
  },
};
