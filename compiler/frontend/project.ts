/**
 * The TypeScript side of the front end: a ts-morph project over the real file system in which `import ... from
 * "tsbpf"` resolves to our own `stdlib/index.d.ts`, wherever the user's file lives. TypeScript's errors become
 * TSBPF0001 diagnostics at TypeScript's location.
 *
 * Creating a project parses the standard library declarations (the slow part), so one project is kept per process
 * and user files are swapped in and out of it.
 */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Project, ts, type SourceFile } from "ts-morph";
import { diag, spanOf, type Diagnostic } from "../diagnostics/index.ts";

/** Absolute path of `stdlib/index.d.ts`, found by walking up from this module (works from sources and from dist/). */
export function stdlibPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, "stdlib", "index.d.ts");
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error("tsbpf: cannot find stdlib/index.d.ts next to the compiler");
}

/** Compiler options for DSL files: strict, modern, no emit. */
const OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  lib: ["lib.es2022.d.ts"],
  types: [],
  strict: true,
  noEmit: true,
  allowImportingTsExtensions: true,
  skipLibCheck: true,
  noFallthroughCasesInSwitch: true,
};

let shared: Project | undefined;

function project(): Project {
  if (shared) return shared;
  const stdlib = stdlibPath();
  shared = new Project({
    compilerOptions: OPTIONS,
    skipAddingFilesFromTsConfig: true,
    skipFileDependencyResolution: true,
    resolutionHost: (host, getOptions) => ({
      resolveModuleNames: (names, containingFile) =>
        names.map((name) =>
          name === "tsbpf"
            ? { resolvedFileName: stdlib, extension: ts.Extension.Dts, isExternalLibraryImport: false }
            : ts.resolveModuleName(name, containingFile, getOptions(), host).resolvedModule,
        ),
    }),
  });
  return shared;
}

/** A parsed and type-checked user file. */
export interface ParsedFile {
  sourceFile: SourceFile;
  /** The file name as the user gave it (used in diagnostics). */
  displayName: string;
  text: string;
  /** TypeScript's own errors, as TSBPF0001 diagnostics. */
  diagnostics: Diagnostic[];
  /** Removes the file from the shared project; call when done. */
  dispose(): void;
}

/**
 * Adds `fileName` (with `source` as its text, or read from disk) to the shared project and collects TypeScript's
 * errors for it. Throws only for an unreadable file (the caller turns that into a diagnostic).
 */
export function parseFile(fileName: string, source?: string): ParsedFile {
  const p = project();
  const abs = resolve(fileName);
  for (const old of p.getSourceFiles()) if (!old.getFilePath().endsWith("/stdlib/index.d.ts")) p.removeSourceFile(old);
  const sourceFile =
    source === undefined ? p.addSourceFileAtPath(abs) : p.createSourceFile(abs, source, { overwrite: true });
  p.resolveSourceFileDependencies();
  const text = sourceFile.getFullText();
  const diagnostics: Diagnostic[] = [];
  const program = p.getProgram().compilerObject;
  const tsDiags = [...program.getSyntacticDiagnostics(sourceFile.compilerNode), ...program.getSemanticDiagnostics(sourceFile.compilerNode)];
  for (const d of tsDiags) {
    if (d.category !== ts.DiagnosticCategory.Error) continue;
    const message = ts.flattenDiagnosticMessageText(d.messageText, "\n");
    const start = d.start ?? 0;
    const span = d.file && d.file.fileName === sourceFile.getFilePath()
      ? spanOf(fileName, text, start, start + (d.length ?? 0))
      : { file: d.file?.fileName ?? fileName, line: 1, column: 1 };
    // One line in the headline; TypeScript's elaboration chain goes to the notes.
    const [first, ...rest] = message.split("\n");
    diagnostics.push(diag("TypeScript", span, `${first} (TS${d.code})`, { suggestion: "", notes: rest.map((l) => l.trim()).filter(Boolean) }));
  }
  for (const d of diagnostics) if (d.suggestion === "") delete d.suggestion;
  return {
    sourceFile,
    displayName: fileName,
    text,
    diagnostics,
    dispose: () => {
      if (!sourceFile.wasForgotten()) p.removeSourceFile(sourceFile);
    },
  };
}
