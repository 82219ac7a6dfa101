/**
 * When a bounded loop of at most MAX_UNROLL iterations is unrolled (one copy of the body per iteration, the counter a
 * constant in each) and when it stays a loop. Unrolling lets copies fold (constant keys, constant arithmetic) but
 * multiplies the body: a large body stays a loop, as clang keeps it (the kernel accepts bounded loops since 5.3).
 * Two things force unrolling whatever the size:
 *
 * - the counter indexes a tuple (`T[i]` needs a constant `i`);
 * - the body changes a variable from outside the loop on some paths only (`if (...) n++`, `n = c ? a : b`). The kernel
 *   verifier cannot merge paths whose values differ, so in a loop such a body doubles the paths it follows on every
 *   iteration; unrolled, each copy's paths meet the next copy's with the iteration fixed and prune far better
 *   (docs/LANGUAGE.md, "Bounded loops": N = 64 loads unrolled and is rejected as a loop).
 */
import { ts } from "@ts-morph/common";

/** Total syntax nodes of the unrolled copies above which a loop stays a loop (about 200-400 instructions). */
export const UNROLL_BUDGET = 400;

/** Resolves an identifier to its symbol (the lowerer's resolution, aliases followed). */
export type SymbolOf = (n: ts.Node) => ts.Symbol | undefined;

/** True when the loop over `count` iterations with `counter` and `body` should be unrolled. */
export function shouldUnroll(count: number, counter: ts.Symbol, body: ts.Statement, symbolOf: SymbolOf): boolean {
  return count * syntaxSize(body) <= UNROLL_BUDGET || indexesByCounter(counter, body, symbolOf) || writesOuterOnSomePaths(body, symbolOf);
}

/** Syntax nodes under `node`: a size estimate of one unrolled copy. */
function syntaxSize(node: ts.Node): number {
  let n = 1;
  node.forEachChild((c) => void (n += syntaxSize(c)));
  return n;
}

/** True when `counter` appears in an element access's index inside `body`. */
function indexesByCounter(counter: ts.Symbol, body: ts.Node, symbolOf: SymbolOf): boolean {
  const mentions = (n: ts.Node): boolean => (ts.isIdentifier(n) && symbolOf(n) === counter) || !!n.forEachChild((c) => mentions(c) || undefined);
  const visit = (n: ts.Node): boolean =>
    (ts.isElementAccessExpression(n) && mentions(n.argumentExpression)) || !!n.forEachChild((c) => visit(c) || undefined);
  return visit(body);
}

const LOGICAL = new Set([ts.SyntaxKind.AmpersandAmpersandToken, ts.SyntaxKind.BarBarToken, ts.SyntaxKind.QuestionQuestionToken]);
const LOGICAL_ASSIGN = new Set([ts.SyntaxKind.AmpersandAmpersandEqualsToken, ts.SyntaxKind.BarBarEqualsToken, ts.SyntaxKind.QuestionQuestionEqualsToken]);
const isAssignment = (k: ts.SyntaxKind) => k >= ts.SyntaxKind.FirstAssignment && k <= ts.SyntaxKind.LastAssignment;

/** Whether `n` branches: its parts after the first run on some paths only. */
const branches = (n: ts.Node): boolean =>
  ts.isIfStatement(n) || ts.isConditionalExpression(n) || ts.isSwitchStatement(n) || ts.isIterationStatement(n, false) ||
  (ts.isBinaryExpression(n) && (LOGICAL.has(n.operatorToken.kind) || LOGICAL_ASSIGN.has(n.operatorToken.kind)));

/**
 * True when `body` writes a variable declared outside it under a branch, or assigns it a value chosen by a branch
 * (`?:`, `&&`, `||`, `??`).
 */
function writesOuterOnSomePaths(body: ts.Node, symbolOf: SymbolOf): boolean {
  const outer = (id: ts.Expression): boolean => {
    if (!ts.isIdentifier(id)) return false;
    const decl = symbolOf(id)?.valueDeclaration;
    return !!decl && (decl.pos < body.pos || decl.end > body.end);
  };
  const hasBranch = (n: ts.Node): boolean => branches(n) || !!n.forEachChild((c) => hasBranch(c) || undefined);
  const visit = (n: ts.Node, conditional: boolean): boolean => {
    let target: ts.Expression | undefined;
    if (ts.isBinaryExpression(n) && isAssignment(n.operatorToken.kind)) target = n.left;
    else if ((ts.isPrefixUnaryExpression(n) || ts.isPostfixUnaryExpression(n)) &&
      (n.operator === ts.SyntaxKind.PlusPlusToken || n.operator === ts.SyntaxKind.MinusMinusToken)) target = n.operand;
    const chosen = ts.isBinaryExpression(n) && (LOGICAL_ASSIGN.has(n.operatorToken.kind) || hasBranch(n.right));
    if (target && outer(target) && (conditional || chosen)) return true;
    const inner = conditional || branches(n);
    return !!n.forEachChild((c) => visit(c, inner) || undefined);
  };
  return visit(body, false);
}
