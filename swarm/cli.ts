/**
 * `deno task swarm`: the command line of the swarm. Options:
 * `--seeds A..B` (or `N`), `--json`, `--check-determinism`, `--record FILE`,
 * `--replay FILE`, `--shrink-to FILE`. Exit code 0 when every case passed,
 * 1 when one failed, 2 for a bad command line (the caller's usage error).
 * @module
 */
import { readCases, writeCases } from "./case_file.ts";
import { formatMerged, mergeShards } from "./merge.ts";
import { describeOp } from "./groups.ts";
import { runSwarm, type SeedReport } from "./swarm.ts";
import type { TraceSession } from "../trace/session.ts";
import { ProgressBar, showsProgress, terminalSink } from "../cli/progress.ts";
import { MAX_REPORT_ROWS, writeSwarmReport } from "../report/html.ts";
import type { SwarmCase } from "./types.ts";

/** Where the command writes. */
export interface SwarmOutput {
  /** Results and the summary. */
  print(text: string): void;
}

/** The options `swarm` takes (besides `--json`). */
export const SWARM_OPTIONS = [
  "seeds",
  "check-determinism",
  "record",
  "replay",
  "shrink-to",
  "merge",
  "trace",
  "ftrace",
  "report",
];

/** The usage lines of `swarm`, for the CLI's help. */
export const SWARM_USAGE = [
  "  swarm [options]             swarm testing on the sim runtime: random systems and",
  "                              schedules with faults, invariants after every operation",
  "       --seeds <A..B|N>       seeds to run (default 1..100)",
  "       --check-determinism    run every seed twice; a different trace hash fails it",
  "       --record <file>        write the cases run (system and schedule) to a file",
  "       --replay <file>        run the cases of a file (recorded or shrunk) again",
  "       --shrink-to <file>     where the first failing seed's shrunk case goes",
  "                              (default swarm-<seed>-shrunk.json)",
  "       --merge <file> [file…] add up the --json lines of shards (one CI job per range)",
  "       --report <file.html>   one HTML page: the seeds' table and each seed's timeline",
];

const SEEDS_ACCEPTED = "N or A..B, whole numbers from 0 with A ≤ B (e.g. --seeds 1..1000)";
/** Cases between two progress updates on a terminal. */
const PROGRESS_EVERY = 10;

/**
 * Parses `--seeds`: `N` or `A..B`, both ends included. Returns the range or
 * a message saying what is accepted.
 * @example
 * ```ts
 * import { parseSeeds } from "./cli.ts";
 * console.log(parseSeeds("1..1000")); // { from: 1, to: 1000 }
 * console.log(parseSeeds("5..2")); // "--seeds \"5..2\": the range is empty (5 > 2); expected ..."
 * ```
 */
export function parseSeeds(text: string): { from: number; to: number } | string {
  const m = /^(\d{1,15})(?:\.\.(\d{1,15}))?$/.exec(text);
  if (!m) return `--seeds ${JSON.stringify(text)}: expected ${SEEDS_ACCEPTED}`;
  const from = Number(m[1]), to = m[2] === undefined ? from : Number(m[2]);
  if (from > to) {
    return `--seeds ${JSON.stringify(text)}: the range is empty (${from} > ${to}); ` +
      `expected ${SEEDS_ACCEPTED}`;
  }
  return { from, to };
}

/** The command that replays a report's case. */
function replayCommand(report: SeedReport, file: string | undefined): string {
  if (report.replayed && file) return `deno task swarm --replay ${file}`;
  const determinism = report.result.failure?.invariant === "determinism"
    ? " --check-determinism"
    : "";
  return `deno task swarm --seeds ${report.case.seed}${determinism}`;
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? "" : "s"}`;
}

/**
 * Runs `swarm` with the parsed command line (`values` as `node:util`
 * parseArgs gives them, `rest` the positionals after `swarm`). Throws what
 * `usage(message)` makes for a bad command line.
 * @example
 * ```ts ignore
 * const code = await swarmCommand([], { seeds: "1..10", json: true }, { print: console.log },
 *   (m) => new Error(m));
 * ```
 */
export async function swarmCommand(
  rest: readonly string[],
  values: Readonly<Record<string, unknown>>,
  out: SwarmOutput,
  usage: (message: string) => Error,
  trace?: TraceSession,
): Promise<number> {
  if (values.merge !== undefined) {
    return await merge([values.merge as string, ...rest], values, out, usage);
  }
  if (rest.length) throw usage(`swarm: unexpected argument "${rest[0]}"`);
  // Every command takes --runtime and --seed: here the runtime can only be sim, and a
  // seed is a range of one.
  if (values.runtime !== undefined && values.runtime !== "sim") {
    throw usage(
      `swarm: --runtime ${JSON.stringify(values.runtime)}: the swarm runs on the sim runtime ` +
        `only (it replays seeds); accepted: sim`,
    );
  }
  if (values.seed !== undefined) {
    if (values.seeds !== undefined) throw usage("swarm: give --seed N or --seeds A..B, not both");
    values = { ...values, seeds: values.seed, seed: undefined };
  }
  const given = Object.keys(values).filter((k) =>
    values[k] !== undefined && k !== "json" && k !== "runtime"
  );
  const bad = given.find((k) => !SWARM_OPTIONS.includes(k) && k !== "help");
  if (bad) {
    throw usage(
      `swarm does not take --${bad}; it takes: ${
        [...SWARM_OPTIONS, "json"].map((o) => `--${o}`).join(", ")
      }`,
    );
  }
  const str = (key: string) => values[key] as string | undefined;
  const json = values.json === true, checkDeterminism = values["check-determinism"] === true;
  const replayFile = str("replay"), recordFile = str("record"), shrinkTo = str("shrink-to");
  if (replayFile !== undefined && str("seeds") !== undefined) {
    throw usage("swarm: --replay runs the cases of its file; give --seeds or --replay, not both");
  }
  if (replayFile !== undefined && recordFile !== undefined) {
    throw usage("swarm: --record writes the cases of --seeds; a replayed file is already one");
  }
  let seeds: { from: number; to: number } | undefined;
  let cases: SwarmCase[] | undefined;
  if (replayFile !== undefined) {
    try {
      cases = await readCases(replayFile);
    } catch (error) {
      throw usage((error as Error).message);
    }
  } else {
    const parsed = parseSeeds(str("seeds") ?? "1..100");
    if (typeof parsed === "string") throw usage(parsed);
    seeds = parsed;
  }

  const progress = showsProgress(json);
  let bar: ProgressBar | undefined;
  const status = (text: string) => (text ? bar?.tick(text, done) : bar?.clear());
  let done = 0;
  const reports: SeedReport[] = [];
  const recorded: SwarmCase[] = [];
  let failures = 0, shrunkFiles = 0;
  const summary = await runSwarm({
    seeds,
    cases,
    checkDeterminism,
    trace,
    onReport: async (report, seedsDone, total) => {
      done = seedsDone;
      if (progress) bar ??= new ProgressBar("swarm", total, terminalSink());
      if (values.report !== undefined && reports.length < MAX_REPORT_ROWS) reports.push(report);
      if (recordFile !== undefined) recorded.push(report.case);
      const { result } = report;
      let file: string | undefined;
      if (report.shrunk) {
        file = shrunkFiles++ === 0 && shrinkTo !== undefined
          ? shrinkTo
          : `swarm-${report.case.seed}-shrunk.json`;
        await writeCases(file, [report.shrunk.case]);
      }
      if (result.failure) failures++;
      if (json) {
        out.print(JSON.stringify(jsonLine(report, file, replayFile)));
      } else if (result.failure) {
        if (progress) status("");
        out.print(textLines(report, file, replayFile ?? recordFile));
      }
      if (progress && (done % PROGRESS_EVERY === 0 || done === total)) {
        status(`${failures} failed`);
      }
    },
  });
  if (progress) status("");
  if (recordFile !== undefined) await writeCases(recordFile, recorded);
  if (values.report !== undefined && trace) {
    await writeSwarmReport(values.report as string, reports, trace);
  }
  const rate = Math.round(summary.seedsPerSecond * 10) / 10;
  if (json) {
    out.print(JSON.stringify({
      summary: true,
      seeds: summary.cases,
      failures: summary.failures,
      seconds: Math.round(summary.seconds * 1000) / 1000,
      seedsPerSecond: rate,
      checkDeterminism,
    }));
  } else {
    const what = replayFile !== undefined
      ? `replayed ${plural(summary.cases, "case")} of ${replayFile}`
      : `seeds ${seeds!.from}..${seeds!.to}`;
    const recordedTo = recordFile !== undefined ? `; recorded to ${recordFile}` : "";
    out.print(
      `swarm: ${what}: ${summary.cases - summary.failures} passed, ${summary.failures} failed ` +
        `(${rate} seeds/s${checkDeterminism ? ", each run twice" : ""})${recordedTo}`,
    );
  }
  return summary.failures > 0 ? 1 : 0;
}

/** `--merge`: reads every shard file and prints what they add up to; 1 when any seed failed. */
async function merge(
  files: string[],
  values: Readonly<Record<string, unknown>>,
  out: SwarmOutput,
  usage: (message: string) => Error,
): Promise<number> {
  const other = Object.keys(values).find((k) =>
    values[k] !== undefined && k !== "merge" && k !== "json" && k !== "help"
  );
  if (other) throw usage(`swarm --merge takes shard files and --json only, not --${other}`);
  const texts = [];
  for (const name of files) {
    try {
      texts.push({ name, text: await Deno.readTextFile(name) });
    } catch (error) {
      throw usage(`swarm --merge: cannot read ${name}: ${(error as Error).message}`);
    }
  }
  let merged;
  try {
    merged = mergeShards(texts);
  } catch (error) {
    throw usage(`swarm --merge: ${(error as Error).message}`);
  }
  out.print(
    values.json === true ? JSON.stringify({ merged: true, ...merged }) : formatMerged(merged),
  );
  return merged.failures.length || merged.repeated.some((r) => !r.sameHash) ? 1 : 0;
}

/** The `--json` line of one case. */
function jsonLine(report: SeedReport, shrunkFile: string | undefined, replayFile?: string) {
  const { result } = report;
  const line: Record<string, unknown> = {
    seed: result.seed,
    verdict: result.verdict,
    steps: result.steps,
    traceHash: result.traceHash,
    ops: result.ops,
    lpars: result.lpars,
  };
  if (report.replayed) line.replayed = true;
  if (result.failure) {
    const op = report.case.ops[result.failure.op];
    line.failure = { ...result.failure, ...(op ? { operation: describeOp(op) } : {}) };
    line.replay = replayCommand(report, replayFile);
  }
  if (report.shrunk && shrunkFile) {
    line.shrunk = {
      file: shrunkFile,
      ops: report.shrunk.case.ops.length,
      lpars: report.shrunk.case.system.lpars.length,
      runs: report.shrunk.runs,
      invariant: report.shrunk.result.failure?.invariant,
      replay: `deno task swarm --replay ${shrunkFile}`,
    };
  }
  return line;
}

/** The text lines of a failing case. */
function textLines(report: SeedReport, shrunkFile: string | undefined, file?: string): string {
  const { result } = report;
  const failure = result.failure!;
  const op = report.case.ops[failure.op];
  const whole = failure.invariant === "replay" || failure.invariant === "determinism";
  const where = op
    ? `op ${failure.op} (${describeOp(op)})`
    : whole
    ? "the run"
    : "the liveness phase";
  const lines = [
    `seed ${result.seed} FAILED ${whole ? "in" : "after"} ${where}: ${failure.invariant}`,
    `  ${failure.message}`,
    `  replay: ${replayCommand(report, file)}`,
  ];
  if (report.shrunk && shrunkFile) {
    const s = report.shrunk;
    lines.push(
      `  shrunk to ${plural(s.case.ops.length, "operation")} on ` +
        `${plural(s.case.system.lpars.length, "LPAR")} (${plural(s.runs, "run")}), still ` +
        `${s.result.failure?.invariant}: ${shrunkFile}`,
      `  replay the shrunk case: deno task swarm --replay ${shrunkFile}`,
    );
  }
  return lines.join("\n");
}
