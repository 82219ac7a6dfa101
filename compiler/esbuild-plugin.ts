/**
 * esbuild plugin: compiles BPF handlers with tsbpf at bundle time; the import's default export is the ELF object's
 * bytes as a `Uint8Array`. tsbpf diagnostics become esbuild errors with the handler's file, line and column, so a bad
 * handler fails the bundle like any other type error.
 *
 * ```ts
 * // build.mjs
 * import tsbpf from "tsbpf/esbuild";
 * await esbuild.build({ entryPoints: ["app.ts"], bundle: true, platform: "node", plugins: [tsbpf()] });
 *
 * // app.ts — typed by `/// <reference types="tsbpf/object" />` (or "types": ["tsbpf/object"] in tsconfig.json)
 * import handler from "./handler.bpf.ts?object";
 * ```
 *
 * Two import forms compile a handler: `"./x.ts?object"` (any file name; the form TypeScript can type, see
 * compiler/object.d.ts) and, for plain JavaScript callers, `"./x.bpf.ts"` (files matching `filter`).
 */
import { readFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { compile } from "./index.ts";
import type { Diagnostic } from "./diagnostics/index.ts";

/** Options of the tsbpf esbuild plugin. */
export interface TsbpfPluginOptions {
  /** Which imports are BPF handlers (default: files ending in `.bpf.ts`). */
  filter?: RegExp;
}

/** The import suffix that asks for a compiled object (typed by compiler/object.d.ts as `*?object`). */
export const OBJECT_SUFFIX = "?object";

/** esbuild's import kinds (what caused a resolution). */
type ImportKind = "entry-point" | "import-statement" | "require-call" | "dynamic-import" | "require-resolve" | "import-rule" | "composes-from" | "url-token";

/** The subset of esbuild's plugin interface this plugin uses (so esbuild stays an optional peer). */
interface PluginBuild {
  onResolve(
    options: { filter: RegExp },
    callback: (args: { path: string; importer: string; resolveDir: string; kind: ImportKind }) => Promise<{ path?: string; namespace?: string; errors?: { text: string }[] }>,
  ): void;
  onLoad(
    options: { filter: RegExp; namespace?: string },
    callback: (args: { path: string }) => { contents?: string; loader?: "js"; errors?: EsbuildMessage[]; watchFiles?: string[] },
  ): void;
  /** esbuild's own resolution (node_modules, tsconfig paths), for `pkg/handler.ts?object`. */
  resolve(path: string, options: { importer?: string; resolveDir?: string; kind?: ImportKind }): Promise<{ path: string; errors: { text: string }[] }>;
}
interface EsbuildMessage {
  text: string;
  location?: { file: string; line: number; column: number; lineText?: string };
  notes?: { text: string }[];
}

function toMessage(d: Diagnostic): EsbuildMessage {
  let lineText: string | undefined;
  try {
    lineText = readFileSync(d.file, "utf8").split("\n")[d.line - 1];
  } catch {
    lineText = undefined;
  }
  const notes = [...(d.notes ?? []), ...(d.suggestion ? [`help: ${d.suggestion}`] : [])].map((text) => ({ text }));
  // esbuild columns are 0-based; ours are 1-based.
  return { text: `${d.code}: ${d.message}`, location: { file: d.file, line: d.line, column: d.column - 1, lineText }, notes };
}

/**
 * A module whose default export is the object's bytes. Decoded with `atob`, which every Node and browser target has
 * (esbuild's own binary loader emits `Uint8Array.fromBase64` for new targets, which Node 20 lacks).
 */
function bytesModule(bytes: Uint8Array): string {
  const b64 = Buffer.from(bytes).toString("base64");
  return `const s = atob(${JSON.stringify(b64)});
const bytes = new Uint8Array(s.length);
for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
export default bytes;
`;
}

/** Compiles the handler at `path` into an esbuild load result: the bytes module, or the diagnostics as errors. */
function loadHandler(path: string): { contents?: string; loader?: "js"; errors?: EsbuildMessage[]; watchFiles: string[] } {
  const result = compile({ fileName: path });
  const errors = result.diagnostics.map(toMessage);
  if (errors.length > 0 || !result.object) {
    return { errors: errors.length ? errors : [{ text: `tsbpf produced no object for ${path}` }], watchFiles: [path] };
  }
  return { contents: bytesModule(result.object), loader: "js", watchFiles: [path] };
}

/** Creates the plugin. */
export default function tsbpf(options: TsbpfPluginOptions = {}): { name: string; setup(build: PluginBuild): void } {
  const filter = options.filter ?? /\.bpf\.ts$/;
  return {
    name: "tsbpf",
    setup(build) {
      // `x.ts?object`: resolve the file as esbuild would, then load it in our namespace (the suffix is not a file).
      build.onResolve({ filter: /\?object$/ }, async ({ path, importer, resolveDir, kind }) => {
        const file = path.slice(0, -OBJECT_SUFFIX.length);
        if (file.startsWith(".") || isAbsolute(file)) return { path: resolve(resolveDir, file), namespace: "tsbpf-object" };
        const r = await build.resolve(file, { importer, resolveDir, kind });
        return r.errors.length ? { errors: r.errors } : { path: r.path, namespace: "tsbpf-object" };
      });
      build.onLoad({ filter: /.*/, namespace: "tsbpf-object" }, ({ path }) => loadHandler(path));
      build.onLoad({ filter }, ({ path }) => loadHandler(path));
    },
  };
}
