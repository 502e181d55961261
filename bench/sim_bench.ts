/**
 * Benchmark of the sim runtime, run by `deno task bench:sim` (`--json` prints
 * one JSON object). In one process, one thread:
 * - the scale run at PowerVM's size: 1,000 LPARs × 2 nvdimms boot, bind,
 *   kexec and bind again (wall time of each of `RUNS` runs, peak RSS);
 * - kexec stories per second: the seed story (40 blocks, kexec) on a fresh
 *   system each time, against the same story on the threads runtime;
 * - the 2019 story's virtual seconds on examples/kexec-70g.json;
 * - swarm seeds per second (one thread, so per core): 4-LPAR systems, and
 *   every kind of system, with invariants checked after every operation.
 * Times are of the whole operation, measured with performance.now(); the
 * figures printed are min / median / max of the runs, with the mean.
 * @module
 */
import process from "node:process";
import { loadConfigFile } from "../actors/config.ts";
import { runKexecStory } from "../scenarios/kexec.ts";
import { runScale } from "./scale.ts";
import { type Spread, spread } from "./spread.ts";
import { runSwarm } from "../swarm/mod.ts";

/** Runs of each measurement. */
const RUNS = 5;

/** What the sim benchmark measures. */
export interface SimBenchReport {
  scale: { lpars: number; nvdimms: number; wallMs: Spread; peakRssMiB: number; ok: boolean };
  stories: { simPerSec: Spread; threadsPerSec: Spread; ratio: number };
  kexec70g: { "5.3": number; "5.4": number };
  swarm: {
    /** 4-LPAR systems, seeds 1..SWARM_SEEDS. */
    fourLpars: { seedsPerSec: Spread; opsPerSeed: number; failures: number };
    /** Systems of 1 to 8 LPARs, as `deno task swarm` draws them. */
    any: { seedsPerSec: Spread; opsPerSeed: number; failures: number };
  };
}

/** Seeds per swarm run. */
const SWARM_SEEDS = 300;

async function swarmRate(lpars?: number) {
  const rates: number[] = [];
  let ops = 0, failures = 0;
  for (let i = 0; i < RUNS; i++) {
    const generate = lpars ? { minLpars: lpars, maxLpars: lpars } : {};
    let opsHere = 0;
    const summary = await runSwarm({
      seeds: { from: 1, to: SWARM_SEEDS },
      generate,
      shrink: false,
      onReport: (report) => void (opsHere += report.case.ops.length),
    });
    rates.push(summary.seedsPerSecond);
    ops = opsHere / summary.cases;
    failures = summary.failures;
  }
  return { seedsPerSec: spread(rates), opsPerSeed: ops, failures };
}

async function storiesPerSecond(runtime: "sim" | "threads", n: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await runKexecStory({ kernel: "5.3", start: { runtime } });
  return n / ((performance.now() - t0) / 1000);
}

/** Runs every measurement. */
export async function runSimBench(): Promise<SimBenchReport> {
  const wall: number[] = [];
  let ok = true;
  for (let i = 0; i < RUNS; i++) {
    const r = await runScale({ lpars: 1000, start: { runtime: "sim" } });
    wall.push(r.wallMs);
    ok &&= r.invariants.length === 0 && r.bindings.length === 4000 &&
      Object.values(r.regionsAfter).every((x) => x.length === 2);
  }
  const peakRssMiB = process.resourceUsage().maxRSS / 1024;
  const sim: number[] = [], threads: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    // Alternated, so a change in the machine's speed touches both alike.
    sim.push(await storiesPerSecond("sim", 200));
    threads.push(await storiesPerSecond("threads", 10));
  }
  const config = await loadConfigFile(
    new URL("../examples/kexec-70g.json", import.meta.url).pathname,
  );
  const seconds = async (kernel: "5.3" | "5.4") =>
    (await runKexecStory({ kernel, config, start: { runtime: "sim" } })).virtualSeconds;
  const simSpread = spread(sim), threadsSpread = spread(threads);
  return {
    scale: { lpars: 1000, nvdimms: 2, wallMs: spread(wall), peakRssMiB, ok },
    stories: {
      simPerSec: simSpread,
      threadsPerSec: threadsSpread,
      ratio: simSpread.median / threadsSpread.median,
    },
    kexec70g: { "5.3": await seconds("5.3"), "5.4": await seconds("5.4") },
    swarm: { fourLpars: await swarmRate(4), any: await swarmRate() },
  };
}

const f = (s: Spread, digits = 0) =>
  `${s.min.toFixed(digits)} / ${s.median.toFixed(digits)} / ${s.max.toFixed(digits)} ` +
  `(mean ${s.mean.toFixed(digits)})`;

/** The report as a table. */
export function formatSimBench(r: SimBenchReport): string {
  return [
    `sim runtime, one thread (min / median / max of ${RUNS} runs):`,
    `  1,000 LPARs x 2 nvdimms boot+bind+kexec+bind: ${f(r.scale.wallMs)} ms, ` +
    `peak RSS ${r.scale.peakRssMiB.toFixed(0)} MiB, results ${r.scale.ok ? "correct" : "WRONG"}`,
    `  kexec stories (5.3, fresh system each): sim ${f(r.stories.simPerSec)}/s, ` +
    `threads ${f(r.stories.threadsPerSec, 1)}/s; sim/threads ${r.stories.ratio.toFixed(0)}x`,
    `  examples/kexec-70g.json virtual seconds after kexec: 5.3 ${
      r.kexec70g["5.3"].toFixed(1)
    } s ` +
    `(commit faa6d21153fd: 301 s), 5.4 ${r.kexec70g["5.4"].toFixed(2)} s (about 5 s)`,
    `  swarm, ${SWARM_SEEDS} seeds a run, invariants after every operation: 4-LPAR systems ` +
    `${f(r.swarm.fourLpars.seedsPerSec, 1)} seeds/s (${r.swarm.fourLpars.opsPerSeed.toFixed(0)} ` +
    `operations a seed, ${r.swarm.fourLpars.failures} failed); 1 to 8 LPARs ` +
    `${f(r.swarm.any.seedsPerSec, 1)} seeds/s (${r.swarm.any.failures} failed)`,
    "targets:",
    `  [${r.swarm.fourLpars.seedsPerSec.median >= 100 ? "met" : "NOT MET"}] ` +
    `at least 100 swarm seeds a second on one core (4-LPAR systems, about 100 operations)`,
    `  [${r.scale.wallMs.max <= 2000 && r.scale.peakRssMiB <= 1024 ? "met" : "NOT MET"}] ` +
    `1,000 LPARs in at most 2 s and 1 GiB`,
  ].join("\n");
}

if (import.meta.main) {
  const report = await runSimBench();
  console.log(Deno.args.includes("--json") ? JSON.stringify(report) : formatSimBench(report));
}
