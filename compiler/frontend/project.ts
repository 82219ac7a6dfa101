/**
 * The TypeScript side of the front end: a TypeScript program over the real file system in which `import ... from
 * "tsbpf"` resolves to our own `stdlib/index.d.ts`, wherever the user's file lives. TypeScript's errors become
 * TSBPF0001 diagnostics at TypeScript's location.
 *
 * TypeScript's API is used directly (no wrapper): the lib declarations (`lib.es2022.d.ts` and what it references,
 * served from memory under `/node_modules/typescript/lib` as ts-morph did) and the stdlib are parsed and bound once
 * per process and kept; each compile builds a new program around them, so a second compile (watch mode, the esbuild
 * plugin, `tsbpf/testing`) only parses, binds and checks the user's file. The start-up snapshot
 * (`compiler/cli/snapshot.ts`) captures this cache after a warm-up compile.
 */
import { getLibFiles, libFolderInMemoryPath, ts } from "@ts-morph/common";
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { diag, spanOf, type Diagnostic } from "../diagnostics/index.ts";
import { MAX_SOURCE_BYTES, readBoundedText } from "../bounded-input.ts";
import { InputLimitError, bracketDepthError, treeErrors } from "./limits.ts";

/** Where the stdlib is when the bundle cannot tell from its own URL (the start-up snapshot sets it). */
let stdlibOverride: string | undefined;

/** Makes {@link stdlibPath} return `path` (used by the start-up snapshot, whose bundle has no module URL). */
export function setStdlibPath(path: string | undefined): void {
  stdlibOverride = path;
}

/** Absolute path of `stdlib/index.d.ts`, found by walking up from this module (works from sources and from dist/). */
export function stdlibPath(): string {
  if (stdlibOverride) return stdlibOverride;
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

/** Source files that never change within a process (lib declarations, the stdlib), parsed and bound once. */
const stable = new Map<string, ts.SourceFile>();
let libEntries: Map<string, { text: string }> | undefined;

function libEntry(path: string): { text: string } | undefined {
  if (!path.startsWith(libFolderInMemoryPath + "/")) return undefined;
  // Entries, not texts: the start-up snapshot turns the texts of unused libs into getters that load them on demand.
  libEntries ??= new Map(getLibFiles().map((f) => [`${libFolderInMemoryPath}/${f.fileName}`, f]));
  return libEntries.get(path);
}

/** The stdlib's cache key: its path and modification time, so that a changed stdlib (a tsbpf upgrade) is re-read. */
function stdlibKey(path: string): string {
  try {
    return `${path}@${statSync(path).mtimeMs}`;
  } catch {
    return path;
  }
}

/** A compiler host over the real file system, with `userFile` served from `userText` and the stable files cached. */
function host(userFile: string, userText: string): ts.CompilerHost {
  const stdlib = stdlibPath();
  return {
    getSourceFile(path, languageVersion) {
      if (path === userFile) return ts.createSourceFile(path, userText, languageVersion, true);
      const lib = libEntry(path);
      const cacheable = lib !== undefined || path === stdlib;
      const key = path === stdlib ? stdlibKey(path) : path;
      const hit = cacheable ? stable.get(key) : undefined;
      if (hit) return hit;
      const text = lib ? lib.text : ts.sys.readFile(path);
      if (text === undefined) return undefined;
      const sf = ts.createSourceFile(path, text, languageVersion, true);
      if (cacheable) stable.set(key, sf);
      return sf;
    },
    getDefaultLibFileName: (options) => `${libFolderInMemoryPath}/${ts.getDefaultLibFileName(options)}`,
    getDefaultLibLocation: () => libFolderInMemoryPath,
    writeFile: () => {},
    getCurrentDirectory: () => process.cwd(),
    getCanonicalFileName: (f) => f,
    useCaseSensitiveFileNames: () => true,
    getNewLine: () => "\n",
    fileExists: (path) => path === userFile || libEntry(path) !== undefined || ts.sys.fileExists(path),
    readFile: (path) => (path === userFile ? userText : libEntry(path)?.text ?? ts.sys.readFile(path)),
    directoryExists: (path) => path === libFolderInMemoryPath || ts.sys.directoryExists(path),
    getDirectories: (path) => ts.sys.getDirectories(path),
    realpath: (path) => (libEntry(path) !== undefined ? path : ts.sys.realpath?.(path) ?? path),
    resolveModuleNameLiterals(literals, containingFile, _redirect, options) {
      return literals.map((lit) =>
        lit.text === "tsbpf"
          ? { resolvedModule: { resolvedFileName: stdlib, extension: ts.Extension.Dts, isExternalLibraryImport: false } }
          : ts.resolveModuleName(lit.text, containingFile, options, this),
      );
    },
  };
}

/** A parsed and type-checked user file. */
export interface ParsedFile {
  sourceFile: ts.SourceFile;
  /** The program the file was checked in (its checker types the file). */
  program: ts.Program;
  /** The file name as the user gave it (used in diagnostics). */
  displayName: string;
  text: string;
  /** TypeScript's own errors, as TSBPF0001 diagnostics. */
  diagnostics: Diagnostic[];
  /** Lets go of the file (nothing else holds the program: its checker and the file go with it). */
  dispose(): void;
}

/**
 * Parses `fileName` (with `source` as its text, or read from disk) in a program with the lib and the stdlib, and
 * collects TypeScript's errors for it. Throws only for an unreadable file (the caller turns that into a diagnostic).
 */
export function parseFile(fileName: string, source?: string): ParsedFile {
  const abs = resolve(fileName);
  const text = source ?? readBoundedText(abs, MAX_SOURCE_BYTES);
  // Nesting the parser itself cannot survive is refused before parsing; the tree is then checked (depth, numeric
  // literals) before the type checker, which recurses too, sees it.
  const tooDeep = bracketDepthError(fileName, text);
  if (tooDeep) throw new InputLimitError([tooDeep]);
  const program = ts.createProgram({ rootNames: [abs], options: OPTIONS, host: host(abs, text) });
  const sourceFile = program.getSourceFile(abs)!;
  const limits = treeErrors(fileName, sourceFile, text);
  if (limits.length > 0) throw new InputLimitError(limits);
  const diagnostics: Diagnostic[] = [];
  const tsDiags = [...program.getSyntacticDiagnostics(sourceFile), ...program.getSemanticDiagnostics(sourceFile)];
  for (const d of tsDiags) {
    if (d.category !== ts.DiagnosticCategory.Error) continue;
    const message = ts.flattenDiagnosticMessageText(d.messageText, "\n");
    const start = d.start ?? 0;
    const span = d.file && d.file.fileName === sourceFile.fileName
      ? spanOf(fileName, text, start, start + (d.length ?? 0))
      : { file: d.file?.fileName ?? fileName, line: 1, column: 1 };
    // One line in the headline; TypeScript's elaboration chain goes to the notes.
    const [first, ...rest] = message.split("\n");
    diagnostics.push(diag("TypeScript", span, `${first} (TS${d.code})`, { suggestion: "", notes: rest.map((l) => l.trim()).filter(Boolean) }));
  }
  for (const d of diagnostics) if (d.suggestion === "") delete d.suggestion;
  return { sourceFile, program, displayName: fileName, text, diagnostics, dispose: () => {} };
}
