/**
 * `deno task crash` (`deno run mod.ts crash`): explores the built-in crash
 * workloads (or one, `--workload`), prints what was explored and each
 * inconsistent state with the command that replays it; `--replay N` checks
 * state N alone; `--json` prints one object.
 * @module
 */
import { toJsonText } from "../scenarios/json.ts";
import type { Json } from "../guest/ndctl.ts";
import { type CrashFailure, explore, type ExploreReport } from "./explore.ts";
import { BUILTIN_WORKLOADS } from "./workloads.ts";
import { ProgressBar, terminalSink } from "../cli/progress.ts";

/** The options the command reads. */
export interface CrashCliOptions {
  workload?: string;
  seed?: number;
  replay?: string;
  maxStates?: string;
  json: boolean;
  /** Draw a progress bar per workload (a terminal, and not --json). */
  progress?: boolean;
}

/** Failures shown per workload in text (all are in --json). */
const SHOWN = 5;

function wholeNumber(flag: string, value: string | undefined, least: number): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\d{1,9}$/.test(value) ? Number(value) : NaN;
  if (!(n >= least)) {
    throw new RangeError(
      `--${flag} ${JSON.stringify(value)}: expected a whole number from ${least}`,
    );
  }
  return n;
}

const hex = (n: number) => `0x${n.toString(16)}`;

function describe(f: CrashFailure): string {
  const lost = f.lost.length
    ? `lost ${f.lost.map((l) => `${hex(l.drc)}+${hex(l.offset)}`).join(" ")}`
    : "nothing lost";
  return `    state ${f.state} (crash point ${f.crashPoint}, ${f.engine}, ${lost}): ${f.problem}\n` +
    `      replay: ${f.replay}`;
}

/**
 * Runs the command; returns its exit code: 0 when every workload came out
 * as expected (consistent, or caught when broken on purpose), 1 otherwise.
 */
export async function crashCommand(
  options: CrashCliOptions,
  print: (text: string) => void,
  now: () => number,
): Promise<number> {
  const names = Object.keys(BUILTIN_WORKLOADS);
  const chosen = options.workload === undefined || options.workload === "all"
    ? names
    : [options.workload];
  for (const name of chosen) {
    if (!BUILTIN_WORKLOADS[name]) {
      throw new RangeError(
        `--workload ${JSON.stringify(name)}: unknown; accepted: ${names.join(", ")}, all`,
      );
    }
  }
  const replay = wholeNumber("replay", options.replay, 0);
  const maxStates = wholeNumber("max-states", options.maxStates, 1);
  if (replay !== undefined && chosen.length !== 1) {
    throw new RangeError("--replay goes with one --workload (the replay command names it)");
  }
  const reports: ExploreReport[] = [];
  let expected = true;
  for (const name of chosen) {
    const workload = BUILTIN_WORKLOADS[name];
    const bar = options.progress ? new ProgressBar(name, 1, terminalSink()) : undefined;
    let report: ExploreReport;
    try {
      report = await explore(workload, {
        seed: options.seed,
        replay,
        maxStates,
        now,
        onPoint: bar && ((done, total) => bar.tick("crash points", done, total)),
      });
    } finally {
      bar?.clear();
    }
    reports.push(report);
    const caught = report.failures.length > 0;
    const asExpected = workload.expectFailure ? caught : !caught;
    if (!asExpected) expected = false;
    if (options.json) continue;
    const seconds = (report.elapsedMs / 1000).toFixed(2);
    const verdict = !caught
      ? workload.expectFailure
        ? "consistent (NOT caught: the broken workload passed)"
        : "consistent"
      : `${report.failures.length} inconsistent ${
        report.failures.length === 1 ? "state" : "states"
      }` +
        (workload.expectFailure ? " (expected: broken on purpose)" : "");
    print(`${name}: ${workload.summary}`);
    print(
      replay !== undefined
        ? `  replayed state ${replay} (seed ${report.seed}): ${verdict}`
        : `  ${report.crashPoints} crash points${
          report.crashPointsExplored < report.crashPoints
            ? ` (${report.crashPointsExplored} seeded samples)`
            : ""
        }, ${report.statesExplored} states explored in ` +
          `${seconds} s (${report.statesPerSecond} states/s)${
            report.truncated ? ", stopped at --max-states" : ""
          }: ${verdict}`,
    );
    for (const f of report.failures.slice(0, SHOWN)) print(describe(f));
    if (report.failures.length > SHOWN) {
      print(`    ... ${report.failures.length - SHOWN} more (--json lists them all)`);
    }
  }
  const statesExplored = reports.reduce((n, r) => n + r.statesExplored, 0);
  const elapsedMs = reports.reduce((n, r) => n + r.elapsedMs, 0);
  const statesPerSecond = elapsedMs > 0 ? Math.round((statesExplored / elapsedMs) * 1000) : 0;
  if (options.json) {
    print(toJsonText({
      statesExplored,
      statesPerSecond,
      elapsedMs: Math.round(elapsedMs),
      failures: reports.flatMap((r) => r.failures.map((f) => ({ workload: r.workload, ...f }))),
      workloads: reports.map((r) => ({ ...r, failures: r.failures.length })),
    } as unknown as Json));
  } else if (replay === undefined) {
    print(
      `total: ${statesExplored} states in ${
        (elapsedMs / 1000).toFixed(2)
      } s (${statesPerSecond} states/s)`,
    );
  }
  return expected ? 0 : 1;
}
