/**
 * Merging the JSON lines of swarm shards: each CI job runs `deno task swarm
 * --seeds A..B --json > shard.jsonl` over its own range, and
 * `deno task swarm --merge shard-*.jsonl` reads them all and says what was
 * covered (seed ranges, gaps, seeds run twice), what failed (with the
 * command that replays each), and the combined rate.
 * @module
 */

/** One seed's line, as `swarm --json` prints it. */
export interface SeedLine {
  /** The seed. */
  seed: number;
  /** Whether every check held. */
  verdict: "pass" | "fail";
  /** The run's trace hash (16 hex digits). */
  traceHash?: string;
  /** The command that replays a failure. */
  replay?: string;
  /** Which check failed, and how. */
  failure?: { invariant?: string; message?: string };
}

/** What a set of shards adds up to. */
export interface MergedShards {
  /** Seeds read (each counted once). */
  seeds: number;
  /** The failing seeds' lines, by seed. */
  failures: SeedLine[];
  /** Covered seeds as inclusive ranges, in order. */
  ranges: Array<[number, number]>;
  /** Seeds that appear more than once, and whether their trace hashes agreed. */
  repeated: Array<{ seed: number; sameHash: boolean }>;
  /** Sum of the shards' seconds (CPU time spent in all, not wall time of the matrix). */
  seconds: number;
}

/**
 * Reads shard files' text (JSON lines); a bad line names its file and line.
 * @example
 * ```ts
 * import { formatMerged, mergeShards } from "./merge.ts";
 * const shard = '{"seed":1,"verdict":"pass","traceHash":"ab"}\n{"summary":true,"seconds":1}';
 * console.log(formatMerged(mergeShards([{ name: "shard1.jsonl", text: shard }])));
 * ```
 */
export function mergeShards(files: ReadonlyArray<{ name: string; text: string }>): MergedShards {
  const bySeed = new Map<number, SeedLine>();
  const repeated: MergedShards["repeated"] = [];
  let seconds = 0;
  for (const { name, text } of files) {
    text.split("\n").forEach((raw, i) => {
      const line = raw.trim();
      if (line === "") return;
      let value: Record<string, unknown>;
      try {
        value = JSON.parse(line);
      } catch {
        throw new RangeError(`${name}:${i + 1}: not a JSON line of swarm --json`);
      }
      if (value.summary === true) {
        if (typeof value.seconds === "number") seconds += value.seconds;
        return;
      }
      if (
        !Number.isSafeInteger(value.seed) || (value.verdict !== "pass" && value.verdict !== "fail")
      ) {
        throw new RangeError(
          `${name}:${i + 1}: expected a seed line ({"seed":N,"verdict":"pass"|"fail",...}) ` +
            `or a summary line`,
        );
      }
      const seedLine = value as unknown as SeedLine;
      const earlier = bySeed.get(seedLine.seed);
      if (earlier) {
        repeated.push({ seed: seedLine.seed, sameHash: earlier.traceHash === seedLine.traceHash });
        if (seedLine.verdict === "pass") return; // a failure seen once stays a failure
      }
      bySeed.set(seedLine.seed, seedLine);
    });
  }
  const seeds = [...bySeed.keys()].sort((a, b) => a - b);
  const ranges: Array<[number, number]> = [];
  for (const seed of seeds) {
    const last = ranges.at(-1);
    if (last && seed === last[1] + 1) last[1] = seed;
    else ranges.push([seed, seed]);
  }
  const failures = seeds.map((s) => bySeed.get(s)!).filter((l) => l.verdict === "fail");
  return { seeds: seeds.length, failures, ranges, repeated, seconds };
}

/** The merge as a person reads it. */
export function formatMerged(m: MergedShards): string {
  const ranges = m.ranges.map(([a, b]) => (a === b ? `${a}` : `${a}..${b}`)).join(", ");
  const lines = [
    `swarm shards: ${m.seeds} seeds (${ranges || "none"}), ${m.seeds - m.failures.length} ` +
    `passed, ${m.failures.length} failed; ${m.seconds.toFixed(1)} s of runs`,
  ];
  if (m.ranges.length > 1) lines.push(`  gaps: seeds between the ranges above were not run`);
  const differing = m.repeated.filter((r) => !r.sameHash);
  if (m.repeated.length) {
    lines.push(
      `  ${m.repeated.length} seeds ran more than once` +
        (differing.length
          ? `; trace hashes differ for ${
            differing.map((r) => r.seed).join(", ")
          } (not deterministic)`
          : "; their trace hashes agree"),
    );
  }
  for (const f of m.failures) {
    lines.push(
      `  seed ${f.seed} FAILED: ${f.failure?.invariant ?? "?"}: ${f.failure?.message ?? ""}`,
      `    replay: ${f.replay ?? `deno task swarm --seeds ${f.seed}`}`,
    );
  }
  return lines.join("\n");
}
