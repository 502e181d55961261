/**
 * The swarm loop: draws (or replays) cases, runs each (twice with
 * `checkDeterminism`), compares a replay with its recording, shrinks the
 * failing ones, and reports each as it finishes.
 * @module
 */
import { generateCase, type GenerateOptions } from "./generate.ts";
import { runCase, type RunOptions } from "./run.ts";
import { shrinkCase } from "./shrink.ts";
import type { CaseResult, SwarmCase } from "./types.ts";

/** How to run a swarm. */
export interface SwarmOptions extends RunOptions {
  /** Seeds to draw cases from, both ends included. */
  seeds?: { from: number; to: number };
  /** Cases to replay instead (from a case file). */
  cases?: readonly SwarmCase[];
  /** How cases are drawn. */
  generate?: GenerateOptions;
  /** Run every case twice; different trace hashes fail it. */
  checkDeterminism?: boolean;
  /** Shrink failing cases (default true). */
  shrink?: boolean;
  /** Most failing cases shrunk (default 3; later ones are only reported). */
  maxShrinks?: number;
  /** Most runs one shrink may make (default 600). */
  shrinkBudget?: number;
  /** Stop after this many failing cases (default: never). */
  stopAfter?: number;
  /** Hears of each case as it finishes (awaited). */
  onReport?(report: SeedReport, done: number, total: number): void | Promise<void>;
}

/** One case's outcome. */
export interface SeedReport {
  /** The case as it ran, its `expect` filled in from this run. */
  case: SwarmCase;
  /** The run (the first, with `checkDeterminism`). */
  result: CaseResult;
  /** Whether it came from a case file. */
  replayed: boolean;
  /** Set when it failed and was shrunk. */
  shrunk?: { case: SwarmCase; result: CaseResult; runs: number };
}

/** The whole swarm's outcome. */
export interface SwarmSummary {
  /** Cases run. */
  cases: number;
  /** Cases that failed. */
  failures: number;
  /** Wall-clock seconds (for the rate only). */
  seconds: number;
  /** Cases per second. */
  seedsPerSecond: number;
  /** The failing cases. */
  failed: SeedReport[];
}

/**
 * Runs a case as the swarm does: twice with `checkDeterminism` (a different
 * trace hash fails it), and against its recording when it has one.
 * @example
 * ```ts
 * import { generateCase } from "./generate.ts";
 * import { runChecked } from "./swarm.ts";
 * const result = await runChecked(generateCase(3), { checkDeterminism: true });
 * console.log(result.verdict);
 * ```
 */
export async function runChecked(
  c: SwarmCase,
  options: RunOptions & { checkDeterminism?: boolean } = {},
): Promise<CaseResult> {
  const result = await runCase(c, options);
  if (options.checkDeterminism) {
    // The second run only compares: it is not traced again.
    const again = await runCase(c, { ...options, trace: undefined });
    if (again.traceHash !== result.traceHash || again.steps !== result.steps) {
      return {
        ...result,
        verdict: "fail",
        failure: {
          op: c.ops.length,
          invariant: "determinism",
          message: `two runs of seed ${c.seed} differ: trace hashes ${result.traceHash} and ` +
            `${again.traceHash}, ${result.steps} and ${again.steps} steps`,
        },
      };
    }
  }
  const expect = c.expect;
  if (expect && expect.traceHash !== result.traceHash) {
    const own = result.failure ? ` (the run itself: ${result.failure.invariant})` : "";
    return {
      ...result,
      verdict: "fail",
      failure: {
        op: c.ops.length,
        invariant: "replay",
        message: `the replay's trace hash ${result.traceHash} differs from the recorded ` +
          `${expect.traceHash}${own}: the simulator or the swarm changed since it was recorded`,
      },
    };
  }
  return result;
}

/**
 * Runs a range of seeds (or replays cases).
 * @example
 * ```ts
 * import { runSwarm } from "./swarm.ts";
 * const summary = await runSwarm({ seeds: { from: 1, to: 5 } });
 * console.log(summary.failures); // 0
 * ```
 */
export async function runSwarm(options: SwarmOptions): Promise<SwarmSummary> {
  const replay = options.cases !== undefined;
  const total = replay
    ? options.cases!.length
    : options.seeds
    ? options.seeds.to - options.seeds.from + 1
    : 0;
  const failed: SeedReport[] = [];
  const started = performance.now();
  let shrinks = 0, done = 0;
  for (let i = 0; i < total; i++) {
    const c = replay ? options.cases![i] : generateCase(options.seeds!.from + i, options.generate);
    const result = await runChecked(c, { ...options, traceLabel: `seed ${c.seed}` });
    const report: SeedReport = {
      case: {
        ...c,
        expect: {
          traceHash: result.traceHash,
          verdict: result.verdict,
          ...(result.failure ? { invariant: result.failure.invariant } : {}),
        },
      },
      result,
      replayed: replay,
    };
    const failure = result.failure;
    // Determinism and replay failures are about the whole run, not a smaller schedule.
    // A replay of a recorded failure is already its reproduction.
    const shrinkable = failure && failure.invariant !== "determinism" &&
      failure.invariant !== "replay" && c.expect?.verdict !== "fail";
    if (shrinkable && options.shrink !== false && shrinks < (options.maxShrinks ?? 3)) {
      shrinks++;
      report.shrunk = await shrinkCase(c, failure, {
        drivers: options.drivers,
        budget: options.shrinkBudget,
      });
    }
    if (failure) failed.push(report);
    done++;
    await options.onReport?.(report, done, total);
    if (options.stopAfter !== undefined && failed.length >= options.stopAfter) break;
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    cases: done,
    failures: failed.length,
    seconds,
    seedsPerSecond: seconds > 0 ? done / seconds : 0,
    failed,
  };
}
