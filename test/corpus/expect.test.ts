// Ground truth for the manifest: every case of test/fixtures/c/corpus.json runs on the real kernel (the object loaded
// by libbpf, real sockets in the maps, one BPF_PROG_TEST_RUN) and must produce exactly the expected verdict,
// selected socket and map contents. The SO_REUSEPORT cases, which need a socket Node 20 cannot make, run in
// reuseport.test.ts.
import { expect, it } from "vitest";
import { kernelBridgeUnavailableReason, openKernel } from "../../runtime/kernel/open.ts";
import { describeKernel } from "../support/kernel.ts";
import { runKernelCase } from "./kernel-case.ts";
import { loadCorpus, usesReuseport } from "./manifest.ts";

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
    // Cases with a SO_REUSEPORT socket need a socket Node 20 cannot make: reuseport.test.ts runs those.
    for (const c of prog.cases.filter((c) => !usesReuseport(c))) {
      it(`${prog.name} / ${c.name}`, async () => {
        const run = await runKernelCase(openKernel().bpf, obj, prog, c);
        expect(run.outcome).toEqual(run.expected);
      });
    }
  }
});
