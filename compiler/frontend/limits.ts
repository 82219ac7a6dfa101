/**
 * Input limits of the front end, checked before TypeScript parses or type-checks the file: TypeScript's parser and
 * checker and tsbpf's lowering all recurse over the syntax tree, so a 5,000-deep parenthesis, 2,000 nested `if`s or a
 * 3,000-term sum would overflow the stack (or take minutes). Deeper inputs get a diagnostic at the place where the
 * limit is crossed instead. Numeric literals are validated here too: every literal must be an integer that fits in
 * 64 bits (`1e300` or `99999999999999999999` would otherwise be wrapped or crash BigInt()).
 */
import { ts } from "@ts-morph/common";
import { diag, spanOf, type Diagnostic } from "../diagnostics/index.ts";

/**
 * Deepest nesting accepted, in brackets ((, [, {) for the text scan and in syntax-tree levels for the tree walk.
 * Real handlers stay below 50; the parser, checker and lowering are comfortable far beyond 400.
 */
export const MAX_NESTING = 400;

/** Diagnostics that stop the front end before TypeScript runs (see parseFile). */
export class InputLimitError extends Error {
  override name = "InputLimitError";
  constructor(readonly diagnostics: Diagnostic[]) {
    super(diagnostics.map((d) => d.message).join("; "));
  }
}

/**
 * Scans the text for bracket nesting deeper than MAX_NESTING (skipping strings, template text and comments, roughly
 * as the scanner would) and returns a diagnostic at the first bracket over the limit. Runs before parsing, whose
 * recursion on nested parentheses is the first to overflow.
 */
export function bracketDepthError(fileName: string, text: string): Diagnostic | undefined {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "/" && text[i + 1] === "/") {
      const nl = text.indexOf("\n", i);
      i = nl < 0 ? text.length : nl;
    } else if (c === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      i = end < 0 ? text.length : end + 1;
    } else if (c === '"' || c === "'" || c === "`") {
      // A template's ${...} holes are skipped with its text: brackets inside them are not counted (rare in the DSL).
      for (i++; i < text.length && text[i] !== c; i++) if (text[i] === "\\") i++;
    } else if (c === "(" || c === "[" || c === "{") {
      if (++depth > MAX_NESTING) return tooDeep(fileName, text, i, `brackets nested more than ${MAX_NESTING} levels deep`);
    } else if (c === ")" || c === "]" || c === "}") {
      if (depth > 0) depth--;
    }
  }
  return undefined;
}

/**
 * Walks the parsed tree without recursion: a diagnostic for the first node deeper than MAX_NESTING levels (long
 * operator chains, else-if ladders) and one for every numeric literal that is not a 64-bit integer.
 */
export function treeErrors(fileName: string, sf: ts.SourceFile, text: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  let deep = false;
  const stack: Array<[ts.Node, number]> = [[sf, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (depth > MAX_NESTING) {
      if (!deep) out.push(tooDeep(fileName, text, node.getStart(sf), `expression or statement nested more than ${MAX_NESTING} levels deep`));
      deep = true;
      continue;
    }
    if (ts.isNumericLiteral(node) || ts.isBigIntLiteral(node)) {
      // The source text, not node.text: TypeScript normalises 99999999999999999999 to a rounded double.
      const src = node.getText(sf);
      const why = ts.isBigIntLiteral(node) ? (BigInt(src.slice(0, -1).replace(/_/g, "")) > 0xffffffffffffffffn ? "does not fit in 64 bits" : undefined) : numericLiteralError(src);
      if (why) out.push(diag("NumberLiteral", spanOf(fileName, text, node.getStart(sf), node.getEnd()), `numeric literal ${src} ${why}`));
    }
    node.forEachChild((child: ts.Node) => {
      stack.push([child, depth + 1]);
    });
  }
  return out;
}

/** The exact value of an integer literal's text (TypeScript gives `text` without separators), or undefined. */
export function integerLiteralValue(text: string): bigint | undefined {
  const t = text.replace(/_/g, "");
  if (/^(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|\d+)$/.test(t)) return BigInt(t);
  // Exponent forms (1e3) are integers when the number is one and JS represents it exactly.
  const n = Number(t);
  return Number.isSafeInteger(n) ? BigInt(n) : undefined;
}

/** Why a numeric literal is not a usable integer constant, or undefined. Fractions are left to the subset checker. */
function numericLiteralError(text: string): string | undefined {
  const t = text.replace(/_/g, "");
  const n = Number(t);
  if (Number.isFinite(n) && !Number.isInteger(n)) return undefined; // 1.5: TSBPF1002 says floats are not supported
  const v = integerLiteralValue(t);
  if (v === undefined) return "is not an integer JavaScript represents exactly (write it as a plain integer or a bigint literal)";
  if (v > 0xffffffffffffffffn) return "does not fit in 64 bits";
  return undefined;
}

function tooDeep(fileName: string, text: string, at: number, what: string): Diagnostic {
  return diag("TooDeep", spanOf(fileName, text, at, at + 1), `${what}; tsbpf stops here rather than overflow its stack`);
}
