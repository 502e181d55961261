/**
 * `deno bench` cases (deno.json's `bench.include` names this file only; the
 * scripts beside it run through `deno task bench` and `deno task bench:sim`).
 * One seed story per kernel version on the single-thread `sim` runtime, so
 * the figures compare driver versions, not the machine's threads. The
 * machine is shared: read the figures as ratios, not absolutes.
 * @module
 */
import { runKexecStory } from "../scenarios/kexec.ts";
import { KERNEL_VERSIONS } from "../guest/papr_scm/mod.ts";

for (const kernel of KERNEL_VERSIONS) {
  Deno.bench({
    name: `kexec story, ${kernel}, sim runtime`,
    group: "kexec",
    baseline: kernel === "5.4",
    async fn() {
      const report = await runKexecStory({ kernel, start: { runtime: "sim", seed: 1 } });
      // A story that went wrong is no figure: fail the bench rather than time it.
      if (report.pattern === "not written") throw new Error(`${kernel}: the story did not run`);
    },
  });
}
