/**
 * esbuild plugin: `import obj from "./handler.bpf.ts"` compiles the handler with tsbpf at build time and yields the
 * ELF object's bytes as a `Uint8Array`. tsbpf diagnostics become esbuild errors with the
 * handler's file, line and column, so a bad handler fails the bundle like any other type error.
 *
 * ```js
 * import tsbpf from "tsbpf/esbuild";
 * await esbuild.build({ entryPoints: ["app.ts"], bundle: true, plugins: [tsbpf()] });
 * ```
 */
import { readFileSync } from "node:fs";
import { compile } from "./index.ts";
import type { Diagnostic } from "./diagnostics/index.ts";

/** Options of the tsbpf esbuild plugin. */
export interface TsbpfPluginOptions {
  /** Which imports are BPF handlers (default: files ending in `.bpf.ts`). */
  filter?: RegExp;
}

/** The subset of esbuild's plugin interface this plugin uses (so esbuild stays an optional peer). */
interface PluginBuild {
  onLoad(
    options: { filter: RegExp },
    callback: (args: { path: string }) => { contents?: string; loader?: "js"; errors?: EsbuildMessage[]; watchFiles?: string[] },
  ): void;
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

/** Creates the plugin. */
export default function tsbpf(options: TsbpfPluginOptions = {}): { name: string; setup(build: PluginBuild): void } {
  const filter = options.filter ?? /\.bpf\.ts$/;
  return {
    name: "tsbpf",
    setup(build) {
      build.onLoad({ filter }, ({ path }) => {
        const result = compile({ fileName: path });
        const errors = result.diagnostics.map(toMessage);
        if (errors.length > 0 || !result.object) {
          return { errors: errors.length ? errors : [{ text: `tsbpf produced no object for ${path}` }], watchFiles: [path] };
        }
        return { contents: bytesModule(result.object), loader: "js", watchFiles: [path] };
      });
    },
  };
}
