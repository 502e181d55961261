/**
 * Swarm testing on the sim runtime, in the style of FoundationDB's BUGGIFY
 * and TigerBeetle's VOPR: each seed draws a system, the fault kinds switched
 * on and a schedule of about a hundred operations (some concurrent); every
 * operation is followed by the invariant checks; a failing seed is shrunk
 * to a small case that replays to the same failure.
 *
 * @example
 * ```ts
 * import { runSwarm } from "./mod.ts";
 * const summary = await runSwarm({ seeds: { from: 1, to: 3 } });
 * console.log(`${summary.failures} of ${summary.cases} failed`);
 * ```
 * @module
 */
export { generateCase, type GenerateOptions } from "./generate.ts";
export { runCase, type RunOptions } from "./run.ts";
export { describeOp, groupEnd } from "./groups.ts";
export { LIVENESS_BOUND_NS } from "./liveness.ts";
export {
  runChecked,
  runSwarm,
  type SeedReport,
  type SwarmOptions,
  type SwarmSummary,
} from "./swarm.ts";
export { shrinkCase, type ShrinkOptions, type ShrinkResult } from "./shrink.ts";
export { CaseFileError, parseCases, readCases, writeCases } from "./case_file.ts";
export { parseSeeds } from "./cli.ts";
export { formatMerged, type MergedShards, mergeShards, type SeedLine } from "./merge.ts";
export { CASE_FORMAT, FAULT_KINDS, OP_NAMES } from "./types.ts";
export type * from "./types.ts";
