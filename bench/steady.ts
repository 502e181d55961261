/**
 * The steady-state run: one LPAR issuing H_SCM_HEALTH without pause through
 * the real channel, for many one-second rounds in a row, every round
 * reported (`deno task bench:steady`; `--rounds N`, `--burners N` starts N
 * busy-looping `sh` processes beside it, `--json`). A slow mode shows as
 * rounds far below the median round; the spin ping-pong floor of the same
 * run says what the machine's cores allowed. Before each round the main
 * thread times 50,000 hcalls' work in one thread (bench/hcall_work.ts), so
 * a round slow because the VM was slow (its work slow too) shows apart from
 * one slow because of the channel (its work as fast as ever).
 * @module
 */
import { H, OP } from "../abi/hcalls.ts";
import type { HammerResult } from "./protocol.ts";
import { Rig } from "./rig.ts";
import { BATCH, type Latency, spinFloor } from "./bench.ts";
import { hcallWorkTimer } from "./hcall_work.ts";
import { spread } from "./spread.ts";

/** Hcalls whose one-thread work is timed before each round. */
const WORK_CALLS = 50_000;

/** One one-second round. */
export interface Round {
  hcallsPerSec: number;
  /** Median, mean and p99 of the per-call means of each batch (ns). */
  medianNs: number;
  meanNs: number;
  p99Ns: number;
  /** One hcall's work in one thread, timed just before the round (ns). */
  workNs: number;
}

/** What a steady-state run saw. */
export interface SteadyReport {
  rounds: Round[];
  burners: number;
  floor: Latency;
  /** Over every batch of every round (ns). */
  medianNs: number;
  meanNs: number;
  p99Ns: number;
  /** Median round's throughput, and the slowest round's / the median round's. */
  medianRoundPerSec: number;
  worstRoundRatio: number;
  /** The rounds' median one-thread work (ns), and the slowest round's against it. */
  medianWorkNs: number;
  worstRoundWorkRatio: number;
  /**
   * Each round's rate times its work (the rate the machine's speed then
   * would give at the median work): the least of those / their median.
   */
  worstScaledRatio: number;
}

function stats(ns: number[]): { medianNs: number; meanNs: number; p99Ns: number } {
  const sorted = Float64Array.from(ns).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return {
    medianNs: at(0.5),
    meanNs: ns.reduce((a, b) => a + b, 0) / Math.max(1, ns.length),
    p99Ns: at(0.99),
  };
}

/** Starts `count` busy-looping processes; returns a function that ends them. */
function startBurners(count: number): () => Promise<void> {
  const children = Array.from({ length: count }, () =>
    new Deno.Command("sh", {
      args: ["-c", "while :; do :; done"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn());
  return async () => {
    for (const child of children) child.kill("SIGKILL");
    await Promise.all(children.map((child) => child.status));
  };
}

/** Runs `rounds` one-second rounds of one LPAR, with `burners` CPU burners beside it. */
export async function runSteady(rounds: number, burners: number): Promise<SteadyReport> {
  const floor = await spinFloor(20000);
  const stopBurners = startBurners(burners);
  const rig = await Rig.start({ lpars: 1 });
  const work = hcallWorkTimer();
  try {
    work(WORK_CALLS); // warm-up
    const hammer = () =>
      rig.runFor(1000, (l) => l.worker.hammer(OP.H_SCM_HEALTH, [BigInt(l.drc)], BATCH, H.SUCCESS));
    await hammer(); // warm-up, not counted
    const all: number[] = [];
    const list: Round[] = [];
    for (let i = 0; i < rounds; i++) {
      const workNs = work(WORK_CALLS);
      const [result]: HammerResult[] = await hammer();
      if (result.errors.length) throw new Error(`steady run: ${result.errors.join("; ")}`);
      all.push(...result.batchNs);
      list.push({
        hcallsPerSec: result.calls / (result.elapsedMs / 1000),
        ...stats(result.batchNs),
        workNs,
      });
    }
    const perSec = list.map((r) => r.hcallsPerSec);
    const median = spread(perSec).median;
    const slowest = list.reduce((a, b) => (b.hcallsPerSec < a.hcallsPerSec ? b : a));
    const medianWorkNs = spread(list.map((r) => r.workNs)).median;
    const scaled = list.map((r) => r.hcallsPerSec * r.workNs);
    return {
      rounds: list,
      burners,
      floor,
      ...stats(all),
      medianRoundPerSec: median,
      worstRoundRatio: slowest.hcallsPerSec / median,
      medianWorkNs,
      worstRoundWorkRatio: slowest.workNs / medianWorkNs,
      worstScaledRatio: Math.min(...scaled) / spread(scaled).median,
    };
  } finally {
    await rig.stop();
    await stopBurners();
  }
}

/** The report as text: one line per round, then the summary. */
export function formatSteady(r: SteadyReport): string {
  const us = (ns: number) => (ns / 1000).toFixed(3);
  const out = [`steady state, 1 LPAR, ${r.burners} CPU burners, ${r.rounds.length} rounds of 1 s`];
  out.push("round  hcalls/s  median us  mean us  p99 us  work ns");
  r.rounds.forEach((x, i) =>
    out.push(
      `${String(i + 1).padStart(5)}  ${(x.hcallsPerSec / 1e6).toFixed(3).padStart(7)}M  ${
        us(x.medianNs).padStart(9)
      }  ${us(x.meanNs).padStart(7)}  ${us(x.p99Ns).padStart(6)}  ${
        x.workNs.toFixed(0).padStart(7)
      }`,
    )
  );
  out.push(
    `all rounds: median ${us(r.medianNs)} us, mean ${us(r.meanNs)} us, p99 ${us(r.p99Ns)} us; ` +
      `spin floor median ${us(r.floor.medianNs)} us (median ${
        (r.medianNs / r.floor.medianNs).toFixed(2)
      }x, mean ${(r.meanNs / r.floor.medianNs).toFixed(2)}x the floor)`,
  );
  out.push(
    `median round ${(r.medianRoundPerSec / 1e6).toFixed(3)}M hcalls/s; slowest round ${
      r.worstRoundRatio.toFixed(2)
    }x the median round`,
  );
  out.push(
    `one-thread hcall work: median round ${r.medianWorkNs.toFixed(0)} ns, the slowest round's ${
      r.worstRoundWorkRatio.toFixed(2)
    }x that; rate times work, least round ${r.worstScaledRatio.toFixed(2)}x the median`,
  );
  return out.join("\n");
}

function flag(name: string, fallback: number): number {
  const at = Deno.args.indexOf(name);
  if (at < 0) return fallback;
  const value = Number(Deno.args[at + 1]);
  if (!Number.isInteger(value) || value < 0 || value > 10_000) {
    throw new RangeError(`${name} ${Deno.args[at + 1]}: expected a whole number 0..10000`);
  }
  return value;
}

if (import.meta.main) {
  const report = await runSteady(Math.max(1, flag("--rounds", 60)), flag("--burners", 0));
  console.log(Deno.args.includes("--json") ? JSON.stringify(report) : formatSteady(report));
}
