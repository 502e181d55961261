/**
 * Runs one swarm case on the sim runtime: starts the system from the case's
 * seed, runs the schedule a group of concurrent operations at a time, checks
 * every invariant and expected outcome after each group, then the liveness
 * phase. The result carries the run's trace hash, so two runs of one case
 * can be compared.
 * @module
 */
import { DEFAULT_BLOCK_SIZE } from "../actors/config.ts";
import type { TraceSession } from "../trace/session.ts";
import { ManagedSystem } from "../actors/managed_system.ts";
import { MemoryStore } from "../storage/memory_store.ts";
import { TraceHash } from "../runtime/sim/trace_hash.ts";
import type { DriverOverrides } from "../guest/kernel.ts";
import { changedBy, supervisorActions } from "./changes.ts";
import type { Expectation } from "./expect.ts";
import { describeOp, groupEnd } from "./groups.ts";
import { checkInvariants } from "./invariants.ts";
import { liveness } from "./liveness.ts";
import { DataModel } from "./model.ts";
import { nvdimmsOf, runOp } from "./ops.ts";
import type { CaseResult, SwarmCase, SwarmFailure, SwarmOp } from "./types.ts";
import { msg, type Snapshot, Violation, type World } from "./world.ts";

/** Budget of written SCM pages per run (the schedules write little). */
const SCM_BUDGET_BYTES = 256 * 1024 ** 2;

/** How to run cases. */
export interface RunOptions {
  /** Driver classes to use instead of the real ones, by kernel version (a canary). */
  drivers?: DriverOverrides;
  /** Records the run's timeline into this session (it does not change the run). */
  trace?: TraceSession;
  /** The run's name in the trace. */
  traceLabel?: string;
}

function failureOf(error: unknown, op: number, what: string): SwarmFailure {
  if (error instanceof Violation) return { op, invariant: error.invariant, message: error.message };
  return { op, invariant: "error", message: `${what} threw: ${msg(error)}` };
}

/** A fresh world for a case's system. */
function worldOf(c: SwarmCase, system: ManagedSystem): World {
  const nvdimms = nvdimmsOf(c.system.lpars, c.spares);
  return {
    system,
    personality: system.config.hypervisor.personality,
    data: new DataModel(),
    nvdimms,
    blockSizes: new Map([...nvdimms].map(([drc, n]) => [drc, n.blockSize ?? DEFAULT_BLOCK_SIZE])),
    created: new Set(system.config.lpars.flatMap((l) => l.nvdimms.map((n) => n.drc))),
    flushFailing: new Set(),
    armed: new Set(),
    snapshot: undefined as unknown as Snapshot,
    verified: new Map(),
    probes: 0,
    unflushed: new Map(),
  };
}

/**
 * Runs a case to its verdict.
 * @example
 * ```ts
 * import { generateCase } from "./generate.ts";
 * import { runCase } from "./run.ts";
 * const result = await runCase(generateCase(1));
 * console.log(result.verdict, result.traceHash); // the same on every run
 * ```
 */
export async function runCase(c: SwarmCase, options: RunOptions = {}): Promise<CaseResult> {
  // A case with power losses runs on durable state that outlives each system.
  const store = c.ops.some((op) => op.op === "powerLoss")
    ? new MemoryStore(SCM_BUDGET_BYTES)
    : undefined;
  const powerOn = () =>
    ManagedSystem.start(c.system, {
      runtime: "sim",
      seed: c.seed,
      drivers: options.drivers,
      scmBudgetBytes: SCM_BUDGET_BYTES,
      trace: options.trace,
      traceLabel: options.traceLabel,
      store,
    });
  const system = await powerOn();
  const world = worldOf(c, system);
  if (store) world.power = { store, powerOn, earlier: [] };
  const progress = { op: 0 };
  let timer: ReturnType<typeof setTimeout> | undefined;
  // The sim runs on microtasks alone: if a timer fires first, nothing can run any more.
  const stuck = new Promise<never>((_, reject) => {
    timer = setTimeout(() =>
      reject(
        new Violation(
          "liveness",
          "the simulation stopped making progress with an operation pending " +
            "(no partition can run and none sleeps): a deadlock",
        ),
      ), 0);
  });
  let failure: SwarmFailure | undefined;
  try {
    failure = await Promise.race([schedule(world, c.ops, progress), stuck]);
  } catch (error) {
    failure = failureOf(error, progress.op, "the run");
  } finally {
    clearTimeout(timer);
  }
  const last = world.system.simulation()!;
  await world.system.stop();
  // Every system's run counts: the hash folds theirs in order.
  const runs = [...(world.power?.earlier ?? []), last];
  let traceHash = last.traceHash;
  if (runs.length > 1) {
    const hash = new TraceHash();
    for (const run of runs) hash.add(run.traceHash);
    traceHash = hash.hex();
  }
  return {
    seed: c.seed,
    verdict: failure ? "fail" : "pass",
    steps: runs.reduce((n, r) => n + r.steps, 0),
    traceHash,
    virtualNs: runs.reduce((n, r) => n + r.virtualNs, 0),
    ops: c.ops.length,
    lpars: c.system.lpars.length,
    ...(failure ? { failure } : {}),
  };
}

/** The schedule, then the liveness phase; the first failure, if any. */
async function schedule(
  world: World,
  ops: readonly SwarmOp[],
  progress: { op: number },
): Promise<SwarmFailure | undefined> {
  try {
    await world.system.traceStart();
    world.snapshot = await checkInvariants(world, { hypervisor: true });
  } catch (error) {
    return failureOf(error, 0, "the first check");
  }
  for (let start = 0; start < ops.length;) {
    const end = groupEnd(ops, start);
    const group = ops.slice(start, end);
    progress.op = start;
    const restarts = supervisorActions(world);
    const settled = await Promise.allSettled(group.map((op) => runOp(world, op)));
    const expectations: Array<[number, Expectation]> = [];
    const outcomes = [];
    for (let k = 0; k < settled.length; k++) {
      const r = settled[k];
      if (r.status === "rejected") return failureOf(r.reason, start + k, describeOp(group[k]));
      outcomes.push(r.value);
      for (const e of r.value.expectations) expectations.push([start + k, e]);
    }
    progress.op = end - 1;
    try {
      const scope = await changedBy(world, group, outcomes, restarts);
      world.snapshot = await checkInvariants(world, scope);
    } catch (error) {
      const what = group.map(describeOp).join(", ");
      const failure = failureOf(error, end - 1, what);
      failure.message = `after ${what}: ${failure.message}`;
      return failure;
    }
    for (const [index, expectation] of expectations) {
      try {
        await expectation(world.snapshot);
      } catch (error) {
        return failureOf(error, index, describeOp(ops[index]));
      }
    }
    start = end;
  }
  progress.op = ops.length;
  try {
    await liveness(world);
  } catch (error) {
    return failureOf(error, ops.length, "the liveness phase");
  }
  return undefined;
}
