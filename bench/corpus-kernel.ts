/**
 * Kernel timing of one clang corpus case (test/fixtures/c/corpus.json), for `npm run bench:vm`'s kernel column: the
 * object loaded by libbpf, the case's maps filled as the corpus tests fill them (real sockets), then
 * BPF_PROG_TEST_RUN timed by runtime/kernel/bench.ts; the run must give the case's expected verdict and selection.
 */
import { loadPinned } from "./pinned.ts";
import type { LiveSocket } from "./sockets.ts";
import { benchTestRun } from "../runtime/kernel/bench.ts";
import type { CtxSpec } from "../runtime/kernel/ctx.ts";
import { openKernel } from "../runtime/kernel/open.ts";
import { fillCorpusMaps } from "../test/corpus/kernel-case.ts";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Corpus, CorpusCase, CorpusProgram } from "../test/corpus/manifest.ts";

/** The kernel's ns per run of one case, and how its run differed from the case's expectation ("" when it did not). */
export interface CorpusKernelTiming {
  nsPerRun: number;
  mismatch: string;
}

/**
 * Times case `caseName` of corpus program `program` (manifest and objects in `corpusDir`, passed in because a bundled
 * bench cannot find the fixtures from its own path): `trials` × `repeat` runs, the median trial's mean.
 */
export async function measureCorpusCase(corpusDir: string, program: string, caseName: string, repeat: number, trials: number): Promise<CorpusKernelTiming> {
  const corpus = JSON.parse(readFileSync(join(corpusDir, "corpus.json"), "utf8")) as Corpus;
  const prog: CorpusProgram | undefined = corpus.programs.find((p) => p.name === program);
  const c: CorpusCase | undefined = prog?.cases.find((x) => x.name === caseName);
  if (!prog || !c) throw new Error(`corpus has no case ${program}/${caseName}`);
  const obj = corpus.objects.find((o) => o.file === prog.object)!;
  const bpf = openKernel().bpf;
  const loaded = loadPinned(bpf, join(corpusDir, obj.file));
  const live = new Map<string, LiveSocket & { cookie: bigint }>();
  try {
    await fillCorpusMaps(bpf, obj, loaded, c, live);
    const kp = loaded.programs.get(prog.name.slice(0, 15));
    if (!kp) throw new Error(`libbpf loaded no program ${prog.name} from ${obj.file}`);
    const r = benchTestRun(kp, c.ctx as unknown as CtxSpec, { repeat, trials });
    const selected = r.cookie === 0n ? null : ([...live].find(([, s]) => s.cookie === r.cookie)?.[0] ?? `cookie ${r.cookie}`);
    const problems: string[] = [];
    if (c.expect.verdict && r.verdict !== c.expect.verdict) problems.push(`verdict ${r.verdict}, expected ${c.expect.verdict}`);
    if (c.expect.selected !== undefined && selected !== c.expect.selected) problems.push(`selected ${selected}, expected ${c.expect.selected}`);
    return { nsPerRun: r.nsPerRun, mismatch: problems.join("; ") };
  } finally {
    loaded.close();
    for (const s of live.values()) s.close();
  }
}
