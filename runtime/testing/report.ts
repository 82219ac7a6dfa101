/**
 * What a handler test looks at: the verdict, the socket that receives the packet, the trace output, and (for a
 * namespace lookup) each attached program's run. Reports are plain data plus a `describe()` that prints the whole
 * story, so a failed expectation says what happened rather than only "expected A, got null".
 */
import type { LookupOutcome, RunResult, Socket } from "../index.ts";

/** `SK_PASS` or `SK_DROP`. */
export type VerdictName = "SK_PASS" | "SK_DROP";

/** One program's run on one packet (BPF_PROG_TEST_RUN semantics). */
export interface RunReport {
  /** Discriminates a single run from a namespace lookup. */
  kind: "run";
  /** The program that ran. */
  program: string;
  /** The packet, described on one line. */
  packet: string;
  /** What the program returned. */
  verdict: VerdictName;
  /**
   * Name of the selected socket after the program ran (null when none, or when it returned SK_DROP). In a namespace
   * lookup this includes a selection carried over from an earlier program (`ctx.sk` when the program started).
   */
  selected: string | null;
  /** The selected socket itself. */
  socket: Socket | null;
  /** `ctx.assign` was given ASSIGN_NO_REUSEPORT for the selection. */
  noReuseport: boolean;
  /** `trace()` output, in order. */
  trace: string[];
  /** Instructions executed (ld_imm64 counts once per slot pair). */
  insnsExecuted: number;
  /** Sockets whose map-lookup references were not released (always empty for programs tsbpf compiled). */
  leakedRefs: string[];
}

/** A lookup in a namespace: every attached program ran in attach order and the kernel's combination rules applied. */
export interface LookupReport {
  /** Discriminates a namespace lookup from a single run. */
  kind: "lookup";
  /** The packet, described on one line. */
  packet: string;
  /**
   * `selected`: a program chose the socket; `refused`: no selection and some program returned SK_DROP (connection
   * refused / datagram dropped); `regular`: every program passed without a selection, so the ordinary listener
   * lookup over the namespace's sockets decided (`socket` may be null: nothing listens).
   */
  outcome: LookupOutcome;
  /** `SK_DROP` when the lookup was refused, else `SK_PASS`. */
  verdict: VerdictName;
  /** Name of the socket that receives the packet, or null. */
  selected: string | null;
  /** The receiving socket. */
  socket: Socket | null;
  /** All programs' trace output, in run order. */
  trace: string[];
  /** Each attached program's run, in attach order. */
  runs: RunReport[];
}

/** Either kind of report. */
export type Report = RunReport | LookupReport;

/** Turns the VM's run result into a report. */
export function runReport(program: string, packet: string, r: RunResult): RunReport {
  return {
    kind: "run",
    program,
    packet,
    verdict: r.verdict,
    selected: r.selected?.name ?? null,
    socket: r.selected,
    noReuseport: r.noReuseport,
    trace: [...r.trace],
    insnsExecuted: r.insnsExecuted,
    leakedRefs: [...r.leakedRefs],
  };
}

/** True for a value produced by `run` or `lookup`. */
export function isReport(x: unknown): x is Report {
  return typeof x === "object" && x !== null && ((x as Report).kind === "run" || (x as Report).kind === "lookup") && "verdict" in x;
}

function runLine(r: RunReport): string {
  const sel = r.selected !== null ? `selected ${r.socket ? String(r.socket) : r.selected}` : "selected nothing";
  return `${r.program} returned ${r.verdict}, ${sel}`;
}

/** A multi-line account of a report, used in assertion messages. */
export function describeReport(r: Report): string {
  const lines: string[] = [];
  if (r.kind === "run") {
    lines.push(`${r.packet}: ${runLine(r)}`);
  } else {
    const how =
      r.outcome === "selected"
        ? `selected by a program: ${r.socket ? String(r.socket) : r.selected}`
        : r.outcome === "refused"
          ? "refused (a program returned SK_DROP and no program selected a socket)"
          : r.socket
            ? `no program selected a socket; the regular lookup found ${String(r.socket)}`
            : "no program selected a socket and no socket listens there (regular lookup found nothing)";
    lines.push(`${r.packet}: ${how}`);
    if (r.runs.length === 0) lines.push("  (no programs attached)");
    r.runs.forEach((run, i) => lines.push(`  ${i + 1}. ${runLine(run)}`));
  }
  for (const t of r.trace) lines.push(`  trace: ${t}`);
  return lines.join("\n");
}
