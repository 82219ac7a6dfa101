// esbuild plugin shared by scripts/build.mjs and the bench: `import { ts } from "@ts-morph/common"` becomes a
// `require()` of the package at run time. Node's ESM loader would otherwise scan the package's 12 MB of CommonJS for
// its export names before running it (about 60 ms of every cold `tsbpf build`); require() skips that scan, and goes
// through V8's code cache (compiler/code-cache.ts).
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const NAMES = ["ts", "getLibFiles", "libFolderInMemoryPath"];
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const codeCache = join(root, "compiler", "code-cache.ts");

/** The plugin (the package stays external: it is loaded from node_modules, not bundled). */
export const requireTypeScript = {
  name: "tsbpf-require-typescript",
  setup(build) {
    build.onResolve({ filter: /^@ts-morph\/common$/ }, () => ({ path: "@ts-morph/common", namespace: "tsbpf-require" }));
    build.onLoad({ filter: /.*/, namespace: "tsbpf-require" }, () => ({
      // compiler/code-cache.ts: require() through V8's code cache (Node 20 has no module.enableCompileCache).
      contents: `import { requireWithCodeCache } from ${JSON.stringify(codeCache)};
const common = requireWithCodeCache(import.meta.url, "@ts-morph/common");
export const { ${NAMES.join(", ")} } = common;
`,
      loader: "js",
      resolveDir: root,
    }));
  },
};
