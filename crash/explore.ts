/**
 * Crash-state exploration: a guest workload runs once on the sim runtime
 * while every store, every line that becomes durable and every durable
 * label write is recorded. Each point between two recorded events is a
 * crash point; for each, the images a power loss could leave are built
 * from what was durable then plus a choice of the lines still volatile:
 * every subset while there are few of them (`exhaustiveLines`), else
 * seeded samples in the spirit of pmreorder's engines (none, full, in-order
 * prefixes, random subsets), and always a few torn images (8-byte words
 * kept or not). Each image is powered on as a fresh system (a DRC that lost
 * anything gets its persistence-failed count raised), its LPAR booted, and
 * the workload's checker run on it. Everything is seeded: a state's number
 * and the seed replay it exactly (`replay`).
 *
 * @example
 * ```ts
 * import { explore, BUILTIN_WORKLOADS } from "../mod.ts";
 * const report = await explore(BUILTIN_WORKLOADS["broken-flush"], { seed: 1 });
 * console.log(report.statesExplored, report.failures[0]?.replay);
 * ```
 * @module
 */
import type { SystemConfig } from "../actors/config.ts";
import type { Lpar } from "../actors/lpar.ts";
import { ManagedSystem } from "../actors/managed_system.ts";
import type { DriverOverrides } from "../guest/kernel.ts";
import { SeededRandom } from "../runtime/sim/random.ts";
import { LINE_BYTES } from "../storage/cpu_cache.ts";
import { MemoryStore, type StoreImage } from "../storage/memory_store.ts";
import type { PersistenceRecorder } from "../storage/persistence.ts";

/** What a workload and its checker are handed. */
export interface CrashContext {
  /** The running system (sim runtime). */
  system: ManagedSystem;
  /** Its first LPAR, booted. */
  lpar: Lpar;
  /**
   * While the workload runs: records that it got past a point (e.g. an
   * operation returned), so a checker can tell what must have survived.
   */
  mark(name: string): void;
}

/** One crash image, as its checker sees it. */
export interface CrashImage {
  /** Its number in the exploration: with the seed, it replays the image. */
  state: number;
  /** Recorded events that happened before the crash. */
  crashPoint: number;
  /** How the volatile lines were chosen (`exact`, `subset`, `none`, `full`, `prefix`, `random`, `torn`). */
  engine: string;
  /** Lines not durable at the crash. */
  volatileLines: number;
  /** Lines whose cached content did not all survive, as `drc:byte offset`. */
  lost: Array<{ drc: number; offset: number }>;
  /** The workload's marks made before the crash, in order. */
  marks: string[];
  /**
   * Durable label writes (WRITE_METADATA hcalls that returned) between the
   * last mark (or the start) and the crash: where in an operation it hit.
   */
  labelWritesSinceMark: number;
}

/** A workload to explore, with the checker that judges each crash image. */
export interface CrashWorkload {
  /** Its name (the `--workload` of the replay command). */
  name: string;
  /** One line saying what it does and what the checker demands. */
  summary: string;
  /** The system it runs on (sim runtime; one LPAR is used). */
  config: SystemConfig;
  /** True for a workload that is broken on purpose: failures are the expected outcome. */
  expectFailure?: boolean;
  /** Driver classes every system of the exploration runs (a deliberately broken variant). */
  drivers?: DriverOverrides;
  /** Its default for `ExploreOptions.maxCrashPoints`. */
  maxCrashPoints?: number;
  /** Runs before recording starts (its result is the image every crash starts from). */
  setup?(ctx: CrashContext): Promise<void>;
  /** The recorded workload. */
  run(ctx: CrashContext): Promise<void>;
  /** Judges a booted crash image: undefined when consistent, else what is wrong. */
  check(ctx: CrashContext & { image: CrashImage }): Promise<string | undefined>;
}

/** How to explore. */
export interface ExploreOptions {
  /** Seed of the runs and of the sampling (default 1). */
  seed?: number;
  /** Every subset of the volatile lines while there are at most this many (default 6). */
  exhaustiveLines?: number;
  /** Random subsets per crash point beyond that (default 16). */
  samples?: number;
  /** Torn images per crash point with volatile lines (default 2). */
  tornSamples?: number;
  /** Most states to explore; past it the exploration stops and says so (default 100,000). */
  maxStates?: number;
  /**
   * Every crash point while there are at most this many; beyond, this many
   * seeded samples of them, the first and the last always among them
   * (default: the workload's `maxCrashPoints`, else 2,000).
   */
  maxCrashPoints?: number;
  /** Check only this state (a replay). */
  replay?: number;
  /** Milliseconds now, for the rate (handed in: the explorer reads no clock itself). */
  now?: () => number;
  /** Hears each crash point explored: how many so far, of how many (a progress bar). */
  onPoint?: (done: number, total: number) => void;
}

/** A crash image the checker found inconsistent. */
export interface CrashFailure {
  /** Its state number (with the seed, it replays the image). */
  state: number;
  /** Recorded events before the crash. */
  crashPoint: number;
  /** How its volatile lines were chosen. */
  engine: string;
  /** Lines that did not all survive. */
  lost: Array<{ drc: number; offset: number }>;
  /** What the checker said is wrong. */
  problem: string;
  /** The command that replays it. */
  replay: string;
}

/** What an exploration found. */
export interface ExploreReport {
  /** The workload's name. */
  workload: string;
  /** The seed. */
  seed: number;
  /** Recorded events (stores, durable lines, durable label writes, marks). */
  events: number;
  /** Points a crash may hit: events + 1. */
  crashPoints: number;
  /** Of those, the points explored (all, or `maxCrashPoints` seeded samples). */
  crashPointsExplored: number;
  /** Images powered on and checked. */
  statesExplored: number;
  /** Wall time, by the `now` handed in (0 without one). */
  elapsedMs: number;
  /** statesExplored per second of elapsedMs. */
  statesPerSecond: number;
  /** True when `maxStates` stopped it early. */
  truncated: boolean;
  /** The inconsistent states. */
  failures: CrashFailure[];
}

/** Most recorded events of one workload run. */
export const MAX_EVENTS = 100_000;

type Event =
  | { kind: "store" | "durable"; drc: number; line: number; bytes: Uint8Array }
  | { kind: "label"; drc: number; offset: number; bytes: Uint8Array }
  | { kind: "mark"; name: string };

interface Volatile {
  drc: number;
  line: number;
  bytes: Uint8Array;
}

/** A plan for one image: which volatile lines survive, whole or by word. */
interface Plan {
  engine: string;
  /** Per volatile line: 0 lost, 1 kept, or an 8-bit mask of kept words (torn). */
  keep: number[];
  torn: boolean;
}

async function boot(
  workload: CrashWorkload,
  seed: number,
  store: MemoryStore,
  recorder?: PersistenceRecorder,
) {
  const system = await ManagedSystem.start(workload.config, {
    runtime: "sim",
    seed,
    store,
    recorder,
    drivers: workload.drivers,
  });
  try {
    for (const lpar of system.lpars) await lpar.boot();
  } catch (error) {
    await system.stop();
    throw error;
  }
  return { system, lpar: system.lpars[0], mark: (_name: string) => {} };
}

/** Runs the workload once, recording; the base image and the events. */
async function record(workload: CrashWorkload, seed: number) {
  const store = new MemoryStore();
  // A first power-on creates the devices' durable state; setup (if any) runs on it.
  const first = await boot(workload, seed, store);
  try {
    await workload.setup?.(first);
  } finally {
    await first.system.stop();
  }
  const base = store.snapshot();
  const events: Event[] = [];
  let recording = false;
  const push = (event: Event) => {
    if (!recording) return;
    if (events.length >= MAX_EVENTS) {
      throw new RangeError(
        `workload ${workload.name}: more than ${MAX_EVENTS} recorded events (MAX_EVENTS); ` +
          `make the workload smaller`,
      );
    }
    events.push(event);
  };
  const recorder: PersistenceRecorder = {
    stored: (drc, line, bytes) => push({ kind: "store", drc, line, bytes: bytes.slice() }),
    durable: (drc, line, bytes) => push({ kind: "durable", drc, line, bytes: bytes.slice() }),
    label: (drc, offset, bytes) => push({ kind: "label", drc, offset, bytes: bytes.slice() }),
  };
  const ctx = await boot(workload, seed, store, recorder);
  ctx.mark = (name) => push({ kind: "mark", name: String(name) });
  try {
    recording = true;
    await workload.run(ctx);
  } finally {
    recording = false;
    await ctx.system.stop();
  }
  return { base, events };
}

const same = (a: Uint8Array, b: Uint8Array) =>
  a.length === b.length && a.every((v, i) => v === b[i]);

/** The plans for one crash point, deduplicated, in a fixed order. */
/** ExploreOptions with every default filled in (the progress hook stays optional). */
type Settled = Required<Omit<ExploreOptions, "onPoint">>;

function plans(count: number, random: SeededRandom, options: Settled): Plan[] {
  if (count === 0) return [{ engine: "exact", keep: [], torn: false }];
  const out: Plan[] = [];
  const seen = new Set<string>();
  const add = (engine: string, keep: number[], torn = false) => {
    const key = `${torn}:${keep.join(",")}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ engine, keep, torn });
  };
  if (count <= options.exhaustiveLines) {
    for (let mask = 0; mask < 1 << count; mask++) {
      add("subset", Array.from({ length: count }, (_, i) => (mask >> i) & 1));
    }
  } else {
    add("none", new Array(count).fill(0));
    add("full", new Array(count).fill(1));
    const step = Math.max(1, Math.floor(count / options.samples));
    for (let j = step; j < count; j += step) {
      add("prefix", Array.from({ length: count }, (_, i) => (i < j ? 1 : 0)));
    }
    for (let s = 0; s < options.samples; s++) {
      add("random", Array.from({ length: count }, () => random.below(2)));
    }
  }
  for (let s = 0; s < options.tornSamples; s++) {
    add("torn", Array.from({ length: count }, () => random.below(256)), true);
  }
  return out;
}

/** Builds the store a crash at `point` with `plan` leaves. */
function imageStore(
  base: StoreImage,
  events: readonly Event[],
  point: number,
  volatile: readonly Volatile[],
  plan: Plan,
): { store: MemoryStore; lost: Array<{ drc: number; offset: number }> } {
  const store = MemoryStore.fromImage(base);
  const open = (drc: number) => {
    const f = base.get(drc)!.facts;
    return store.open({
      index: drc,
      uuid: f.uuid,
      blockSize: BigInt(f.blockSize),
      blocks: f.blocks,
      metadataSize: f.metadataSize,
    });
  };
  for (let i = 0; i < point; i++) {
    const e = events[i];
    if (e.kind === "durable") open(e.drc).write(e.line * LINE_BYTES, e.bytes);
    else if (e.kind === "label") open(e.drc).writeLabel(e.offset, e.bytes);
  }
  const lost: Array<{ drc: number; offset: number }> = [];
  const lossy = new Set<number>();
  volatile.forEach((v, i) => {
    const drc = open(v.drc);
    const old = drc.read(v.line * LINE_BYTES, LINE_BYTES);
    const keep = plan.keep[i];
    const after = old.slice();
    for (let word = 0; word < LINE_BYTES / 8; word++) {
      const kept = plan.torn ? (keep >> word) & 1 : keep;
      if (kept) after.set(v.bytes.subarray(word * 8, word * 8 + 8), word * 8);
    }
    drc.write(v.line * LINE_BYTES, after);
    if (!same(after, v.bytes)) {
      lost.push({ drc: v.drc, offset: v.line * LINE_BYTES });
      lossy.add(v.drc);
    }
  });
  // A DRC that lost anything still has its unflushed mark: its power-on counts it.
  for (const index of lossy) {
    const drc = open(index);
    drc.saveFacts({ ...drc.facts(), unflushed: true });
  }
  return { store, lost };
}

/**
 * The crash points to explore: all of `0..points-1` while there are at most
 * `max`, else the first, the last and seeded samples, `max` in all.
 */
function choosePoints(points: number, max: number, random: SeededRandom): Set<number> | undefined {
  if (points <= max) return undefined;
  const chosen = new Set<number>([0, points - 1]);
  while (chosen.size < max) chosen.add(random.below(points));
  return chosen;
}

/** The command that replays a state. */
export function replayCommand(workload: string, seed: number, state: number): string {
  return `deno task crash --workload ${workload} --seed ${seed} --replay ${state}`;
}

/**
 * Explores the crash states of a workload (see the module text); with
 * `replay`, checks that one state only.
 */
export async function explore(
  workload: CrashWorkload,
  options: ExploreOptions = {},
): Promise<ExploreReport> {
  const o: Settled = {
    seed: options.seed ?? 1,
    exhaustiveLines: options.exhaustiveLines ?? 6,
    samples: options.samples ?? 16,
    tornSamples: options.tornSamples ?? 2,
    maxStates: options.maxStates ?? 100_000,
    maxCrashPoints: options.maxCrashPoints ?? workload.maxCrashPoints ?? 2_000,
    replay: options.replay ?? -1,
    now: options.now ?? (() => 0),
  };
  for (
    const [name, value, least] of [
      ["seed", o.seed, 0],
      ["exhaustiveLines", o.exhaustiveLines, 0],
      ["samples", o.samples, 0],
      ["tornSamples", o.tornSamples, 0],
      ["maxStates", o.maxStates, 1],
      ["maxCrashPoints", o.maxCrashPoints, 2],
      ["replay", o.replay, -1],
    ] as const
  ) {
    if (!Number.isSafeInteger(value) || value < least) {
      throw new RangeError(
        `explore: ${name} ${JSON.stringify(value)}: expected a whole number from ${least}`,
      );
    }
  }
  if (o.exhaustiveLines > 16) {
    throw new RangeError(
      `explore: exhaustiveLines ${o.exhaustiveLines}: at most 16 (65,536 images a point)`,
    );
  }
  const started = o.now();
  const { base, events } = await record(workload, o.seed);
  const random = new SeededRandom(o.seed, 7);
  const sampled = choosePoints(events.length + 1, o.maxCrashPoints, new SeededRandom(o.seed, 11));
  const failures: CrashFailure[] = [];
  const volatile = new Map<string, Volatile>();
  const marks: string[] = [];
  let state = 0;
  let explored = 0;
  let pointsExplored = 0;
  let labelWritesSinceMark = 0;
  let truncated = false;
  outer:
  for (let point = 0; point <= events.length; point++) {
    if (point > 0) {
      const e = events[point - 1];
      if (e.kind === "store") {
        const key = `${e.drc}:${e.line}`;
        volatile.delete(key); // re-inserted: the newest store is last (prefix order)
        volatile.set(key, { drc: e.drc, line: e.line, bytes: e.bytes });
      } else if (e.kind === "durable") {
        const key = `${e.drc}:${e.line}`;
        const v = volatile.get(key);
        if (v && same(v.bytes, e.bytes)) volatile.delete(key);
      } else if (e.kind === "mark") {
        marks.push(e.name);
        labelWritesSinceMark = 0;
      } else if (e.kind === "label") {
        labelWritesSinceMark++;
      }
      // A crash point only where something durable or volatile changed (every event does).
    }
    if (sampled && !sampled.has(point)) continue;
    pointsExplored++;
    options.onPoint?.(pointsExplored, sampled ? sampled.size : events.length + 1);
    const lines = [...volatile.values()];
    for (const plan of plans(lines.length, random, o)) {
      const id = state++;
      if (o.replay >= 0 && id !== o.replay) continue;
      if (explored >= o.maxStates) {
        truncated = true;
        break outer;
      }
      explored++;
      const { store, lost } = imageStore(base, events, point, lines, plan);
      const image: CrashImage = {
        state: id,
        crashPoint: point,
        engine: plan.engine,
        volatileLines: lines.length,
        lost,
        marks: [...marks],
        labelWritesSinceMark,
      };
      let problem: string | undefined;
      try {
        const ctx = await boot(workload, o.seed, store);
        try {
          problem = await workload.check({ ...ctx, image });
        } finally {
          await ctx.system.stop();
        }
      } catch (error) {
        problem = `the check failed: ${(error as Error)?.message ?? error}`;
      }
      if (problem !== undefined) {
        failures.push({
          state: id,
          crashPoint: point,
          engine: plan.engine,
          lost,
          problem,
          replay: replayCommand(workload.name, o.seed, id),
        });
      }
      if (o.replay >= 0) break outer;
    }
  }
  if (o.replay >= 0 && explored === 0) {
    throw new RangeError(
      `explore: state ${o.replay} does not exist; workload ${workload.name} with seed ${o.seed} ` +
        `has ${state} states`,
    );
  }
  const elapsedMs = Math.max(0, o.now() - started);
  return {
    workload: workload.name,
    seed: o.seed,
    events: events.length,
    crashPoints: events.length + 1,
    crashPointsExplored: pointsExplored,
    statesExplored: explored,
    elapsedMs,
    statesPerSecond: elapsedMs > 0 ? Math.round((explored / elapsedMs) * 1000) : 0,
    truncated,
    failures,
  };
}
