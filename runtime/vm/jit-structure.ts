/**
 * Structured control flow for the JIT's generated blocks: instead of the `for(;;) switch(bb)` dispatch loop, the
 * blocks are laid out in program order inside nested JS statements. A forward jump to block T is `break LT`, where
 * label LT encloses everything from the jump up to T's first line; a natural loop (blocks H..E with back edges to H)
 * is `CH: for(;;){ ... }`, a back edge is `continue CH`, and falling out of E is `break CH`. This needs the loops to
 * nest (no two overlapping without one containing the other) and no jump into the middle of a loop from outside;
 * anything else keeps the dispatch loop (undefined here), which handles every shape.
 */

/** A statement opened before one block and closed before another (a label block or a loop), by block index. */
interface Construct {
  start: number;
  end: number;
  loop: boolean;
  /** The pc of the label's target (label) or of the loop's header (loop). */
  pc: number;
}

const CASE = /^case (\d+):$/;
const GOTO = /\{pc=(\d+);continue;\}/g;

/**
 * The body (genBody's lines: `case <pc>:` starting each block, jumps as `{pc=<t>;continue;}`) as structured code,
 * with `loops` telling whether it has any back edge; undefined when the shape does not fit (see the file comment) or
 * when the nesting would be deep (more than 1000 jump targets).
 */
export function structured(body: readonly string[]): { code: string; loops: boolean } | undefined {
  const pcs: number[] = [];
  const lines: string[][] = [];
  for (const line of body) {
    const c = CASE.exec(line);
    if (c) {
      pcs.push(Number(c[1]));
      lines.push([]);
    } else if (lines.length) lines[lines.length - 1]!.push(line);
    else return undefined;
  }
  const index = new Map(pcs.map((pc, i) => [pc, i]));
  // A jump back to a short block that only counts and exits (compilers share one `return` between paths) is that
  // block's code in place: such a jump is no loop, and as one it would make the loops overlap.
  const exits = new Map<number, string>();
  lines.forEach((ls, b) => {
    if (ls.length <= 3 && ls.at(-1)?.startsWith("M.n=n;") && !ls.some((l) => l.includes("{pc="))) exits.set(b, `{${ls.join("")}}`);
  });
  for (let b = 0; b < lines.length; b++) {
    lines[b] = lines[b]!.map((line) =>
      line.replace(GOTO, (x, t: string) => {
        const j = index.get(Number(t));
        return j !== undefined && j <= b && exits.has(j) ? exits.get(j)! : x;
      }),
    );
  }
  // Back edges give each loop header its last block; forward jumps give each target its first source.
  const loopEnd = new Map<number, number>();
  const firstSource = new Map<number, number>();
  for (let b = 0; b < lines.length; b++) {
    for (const line of lines[b]!) {
      for (const g of line.matchAll(GOTO)) {
        const t = index.get(Number(g[1]));
        if (t === undefined) return undefined;
        if (t <= b) loopEnd.set(t, Math.max(loopEnd.get(t) ?? b, b));
        else firstSource.set(t, Math.min(firstSource.get(t) ?? b, b));
      }
    }
  }
  if (firstSource.size > 1000 || loopEnd.size > 1000) return undefined;
  // Loops must nest: walking headers in order, a loop that starts inside another must end inside it too.
  const loops = [...loopEnd].sort((a, b) => a[0] - b[0]);
  const open: Array<[number, number]> = [];
  for (const [h, e] of loops) {
    while (open.length && open[open.length - 1]![1] < h) open.pop();
    if (open.length && e > open[open.length - 1]![1]) return undefined;
    open.push([h, e]);
  }
  const constructs: Construct[] = loops.map(([h, e]) => ({ start: h, end: e + 1, loop: true, pc: pcs[h]! }));
  for (const [t, src] of firstSource) {
    // The label opens at the start of the innermost loop around T (a loop headed by T itself is entered, not
    // jumped into), so it nests with the loops; a jump from before that start would enter the loop sideways.
    let start = 0;
    for (const [h, e] of loops) if (h < t && t <= e && h > start) start = h;
    if (src < start) return undefined;
    constructs.push({ start, end: t, loop: false, pc: pcs[t]! });
  }
  // Outermost first where several open at one block: the later end first, a label before a loop ending with it.
  constructs.sort((a, b) => a.start - b.start || b.end - a.end || Number(a.loop) - Number(b.loop));
  const out: string[] = [];
  const stack: Construct[] = [];
  let next = 0;
  const close = (b: number): boolean => {
    while (stack.length && stack[stack.length - 1]!.end === b) {
      const c = stack.pop()!;
      out.push(c.loop ? `break C${c.pc};}` : "}");
    }
    return !stack.some((c) => c.end <= b);
  };
  for (let b = 0; b < lines.length; b++) {
    if (!close(b)) return undefined;
    while (next < constructs.length && constructs[next]!.start === b) {
      const c = constructs[next++]!;
      out.push(c.loop ? `C${c.pc}:for(;;){` : `L${c.pc}:{`);
      stack.push(c);
    }
    for (const line of lines[b]!) {
      out.push(line.replace(GOTO, (_x, t: string) => (index.get(Number(t))! <= b ? `continue C${t};` : `break L${t};`)));
    }
  }
  if (!close(lines.length) || stack.length) return undefined;
  return { code: out.join("\n"), loops: loops.length > 0 };
}
