/** A loaded sk_lookup program: test runs, attachment to a network namespace, pinning, kernel-side info. */
import { unlinkSync } from "node:fs";
import { ATTACH_TYPE_SK_LOOKUP, CTX_SIZE, SK_DROP } from "../../compiler/abi/sk-lookup.ts";
import { type CtxSpec, ctxCookie, encodeCtx } from "./ctx.ts";
import { explainTestRunFailure, hostTargetOrUndefined } from "./missing.ts";
import { KernelError, type NativeBpf, type NativeLinkInfo, sys } from "./native.ts";

/** Outcome of one BPF_PROG_TEST_RUN. */
export interface TestRunResult {
  /** `SK_PASS` for retval 1, `SK_DROP` for 0. */
  verdict: "SK_PASS" | "SK_DROP";
  /** The program's return value. */
  retval: number;
  /** SO_COOKIE of the selected socket from ctx_out, 0n when nothing was selected (or the program dropped). */
  cookie: bigint;
  /** The kernel-reported mean duration of one run, in ns. */
  durationNs: number;
  /** ctx_out as the kernel returned it (72 bytes). */
  ctxOut: Uint8Array;
}

/** Options of {@link KernelProgram.testRun}. */
export interface TestRunOptions {
  /** Number of runs the kernel times (default 1); `durationNs` is their mean. */
  repeat?: number;
}

/** Kernel-side facts about a loaded program (BPF_OBJ_GET_INFO_BY_FD). */
export interface ProgramInfo {
  id: number;
  name: string;
  /** Instructions after the verifier's rewrites (8 bytes each). */
  xlatedInsns: number;
  /** Bytes of JIT-compiled machine code. */
  jitedBytes: number;
  /** Instructions the verifier processed. */
  verifiedInsns: number;
  mapIds: number[];
}

/** An attachment of a program to a network namespace (a BPF link); closing it detaches the program. */
export class Link {
  private closed = false;

  /** @internal */
  constructor(
    private readonly bpf: NativeBpf,
    /** The link's fd. */
    readonly fd: number,
    /** The netns path it was attached to. */
    readonly netnsPath: string,
  ) {}

  /** Link id, program id and the netns inode (type 5 = netns link). */
  info(): NativeLinkInfo {
    return sys("link info", () => this.bpf.linkInfo(this.fd));
  }

  /**
   * Replaces the attached program in place (BPF_LINK_UPDATE): lookups switch from the old program to `program` with
   * no moment where neither runs, and the link keeps its position in the namespace's run order.
   */
  update(program: KernelProgram): void {
    sys(`update of the link to ${program.name}`, () => this.bpf.linkUpdate(this.fd, program.fd));
  }

  /** Pins the link on bpffs: the attachment then outlives this process until the pin is removed. */
  pin(path: string): void {
    sys(`pin of link at ${path}`, () => this.bpf.objPin(this.fd, path));
  }

  /** Detaches (unless pinned or another fd holds the link). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.bpf.close(this.fd);
  }
}

/** A program loaded into the kernel. */
export class KernelProgram {
  private closed = false;

  /** @internal Created by the loader. */
  constructor(
    private readonly bpf: NativeBpf,
    /** The program's fd. */
    readonly fd: number,
    /** The symbol name in the object (the kernel keeps only its first 15 characters). */
    readonly name: string,
    /** The verifier log when the program was loaded with a log level (empty otherwise). */
    readonly log: string = "",
    /** True when the kernel holds the program's BTF func/line info (source lines in verifier logs and dumps). */
    readonly hasBtf: boolean = false,
  ) {}

  /**
   * Runs the program once (or `repeat` times) on a context with BPF_PROG_TEST_RUN. `ctx` is the DSL-style object
   * (see {@link CtxSpec}) or the raw 72 bytes. Socket selection is reported by cookie; compare it with
   * `KernelMap.setSocket`'s return value or `socketCookie()`.
   */
  testRun(ctx: CtxSpec | Uint8Array, options: TestRunOptions = {}): TestRunResult {
    const ctxIn = ctx instanceof Uint8Array ? ctx : encodeCtx(ctx);
    const ctxOut = new Uint8Array(CTX_SIZE);
    const repeat = options.repeat ?? 1;
    let r;
    try {
      r = sys(`test run of ${this.name}`, () => this.bpf.progTestRun(this.fd, ctxIn, ctxOut, repeat));
    } catch (err) {
      // ENOTSUPP (524) is what a kernel without sk_lookup test runs (before 5.15) answers.
      if (err instanceof KernelError && (err.errno === 524 || err.code === "ENOTSUPP" || err.code === "EOPNOTSUPP")) throw explainTestRunFailure(err, hostTargetOrUndefined());
      throw err;
    }
    // The verifier only admits sk_lookup programs whose return is provably in [SK_DROP, SK_PASS].
    const verdict = r.retval === SK_DROP ? "SK_DROP" : "SK_PASS";
    return { verdict, retval: r.retval, cookie: ctxCookie(ctxOut), durationNs: r.durationNs, ctxOut };
  }

  /**
   * Attaches the program to a network namespace with BPF_LINK_CREATE (attach type BPF_SK_LOOKUP). `netnsPath` is a
   * netns file: `/proc/self/ns/net` (this process's namespace, the default) or `/run/netns/NAME` (`ip netns add`).
   * Programs run in attach order; a netns holds at most 64 links.
   */
  attach(netnsPath = "/proc/self/ns/net"): Link {
    const nsFd = sys(`open of netns ${netnsPath}`, () => this.bpf.openPath(netnsPath));
    try {
      const fd = sys(`attach of ${this.name} to ${netnsPath}`, () =>
        this.bpf.linkCreate(this.fd, nsFd, ATTACH_TYPE_SK_LOOKUP),
      );
      return new Link(this.bpf, fd, netnsPath);
    } finally {
      // The link holds its own reference to the namespace.
      this.bpf.close(nsFd);
    }
  }

  /** xlated/jited sizes, verified instruction count and ids, from the kernel. */
  info(): ProgramInfo {
    const i = sys(`info of ${this.name}`, () => this.bpf.progInfo(this.fd));
    return {
      id: i.id,
      name: i.name,
      xlatedInsns: i.xlatedLen / 8,
      jitedBytes: i.jitedLen,
      verifiedInsns: i.verifiedInsns,
      mapIds: i.mapIds,
    };
  }

  /** Pins the program at `path` on a bpffs mount. */
  pin(path: string): void {
    sys(`pin of ${this.name} at ${path}`, () => this.bpf.objPin(this.fd, path));
  }

  /** Removes a pin made with {@link pin}. */
  unpin(path: string): void {
    unlinkSync(path);
  }

  /** Closes the program fd; links keep an attached program alive. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.bpf.close(this.fd);
  }
}
