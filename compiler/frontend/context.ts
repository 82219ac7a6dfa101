/** State shared by the front-end passes over one file: the checker, the file, and where diagnostics go. */
import { ts } from "@ts-morph/common";
import { diag, DiagnosticError, spanOf, type CodeKey, type Diagnostic, type Span } from "../diagnostics/index.ts";

/** Per-file front-end context. */
export class FileContext {
  readonly diagnostics: Diagnostic[] = [];
  constructor(
    readonly checker: ts.TypeChecker,
    readonly sf: ts.SourceFile,
    /** File name as shown in diagnostics. */
    readonly file: string,
  ) {}

  /** The span of a node (without leading trivia). */
  span(node: ts.Node): Span {
    return spanOf(this.file, this.sf.text, node.getStart(this.sf), node.getEnd());
  }

  /** Records a diagnostic of kind `key` at `node`. */
  report(key: CodeKey, node: ts.Node, message: string, extra?: { notes?: string[]; suggestion?: string }): void {
    this.diagnostics.push(diag(key, this.span(node), message, extra));
  }

  /** A DiagnosticError to throw out of the construct being lowered. */
  error(key: CodeKey, node: ts.Node, message: string): DiagnosticError {
    return new DiagnosticError(diag(key, this.span(node), message));
  }

  /** `line:column` location (1-based) of a node, for IR instructions. */
  loc(node: ts.Node): { file: string; line: number; column: number } {
    const { line, character } = this.sf.getLineAndCharacterOfPosition(node.getStart(this.sf));
    return { file: this.file, line: line + 1, column: character + 1 };
  }
}
