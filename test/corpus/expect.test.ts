// Ground truth for the manifest: every case of test/fixtures/c/corpus.json runs on the real kernel (the object loaded
// by libbpf, real sockets in the maps, one BPF_PROG_TEST_RUN) and must produce exactly the expected verdict,
// selected socket and map contents. A case the harness cannot set up from Node is skipped with its reason.
import { expect, it } from "vitest";
import { kernelBridgeUnavailableReason, openKernel } from "../../runtime/kernel/open.ts";
import { UnsupportedSocketError } from "../../bench/sockets.ts";
import { describeKernel } from "../support/kernel.ts";
import { runKernelCase } from "./kernel-case.ts";
import { loadCorpus } from "./manifest.ts";

const corpus = loadCorpus();
const bridge = kernelBridgeUnavailableReason();

describeKernel("corpus cases on the kernel (BPF_PROG_TEST_RUN)", () => {
  // The kernel is here (describeKernel): where CI requires it, a missing bridge is a failure, not a skip.
  if (bridge && process.env.TSBPF_REQUIRE_KERNEL === "1") throw new Error(`kernel bridge required but unavailable: ${bridge}`);
  if (bridge) {
    it.skip(`kernel bridge unavailable: ${bridge}`, () => {});
    return;
  }
  for (const prog of corpus.programs) {
    const obj = corpus.objects.find((o) => o.file === prog.object)!;
    for (const c of prog.cases) {
      it(`${prog.name} / ${c.name}`, async (t) => {
        let run;
        try {
          run = await runKernelCase(openKernel().bpf, obj, prog, c);
        } catch (err) {
          // SO_REUSEPORT sockets: covered by reuseport.test.ts through a Python-made socket.
          if (err instanceof UnsupportedSocketError) return t.skip(`${err.message} (see reuseport.test.ts)`);
          throw err;
        }
        expect(run.outcome).toEqual(run.expected);
      });
    }
  }
});
