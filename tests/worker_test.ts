/**
 * `Deno.test` for tests that start managed systems. It fails a test that has
 * stopped making progress (hung), never one that is merely slow: no fixed
 * wall-clock limit. Whatever the outcome, no system or worker the test
 * started is left running for the next one (Deno's sanitizers do not notice
 * workers).
 */
import assert from "node:assert/strict";
import {
  liveSystemCount,
  liveWorkerCount,
  progressCount,
  stopAllSystems,
} from "../actors/workers.ts";
import { ManagedSystem, type StartOptions } from "../actors/managed_system.ts";

/**
 * Tests of protocol behaviour run on the sim runtime: one thread, virtual
 * time, deterministic. Tests that need real concurrency use the threads
 * runtime (ManagedSystem.start with no options).
 */
export const SIM: StartOptions = { runtime: "sim" };

/** Starts a system on the sim runtime. */
export function startSim(config: unknown): Promise<ManagedSystem> {
  return ManagedSystem.start(config, SIM);
}

/**
 * How long a test may go without a single control-plane call finishing
 * before it counts as hung. One call takes milliseconds even on a loaded
 * machine, so only a hang reaches this.
 */
const STALL_MS = 120_000;
/** How often the watchdog looks. */
const WATCH_MS = 1000;

/**
 * Runs `fn`; rejects if it stops making progress for `stallMs`. Afterwards
 * it stops every system still running and, when `fn` succeeded, fails if
 * it had left one (or a worker) running.
 */
export async function runWatched(fn: () => void | Promise<void>, stallMs = STALL_MS) {
  let timer: ReturnType<typeof setInterval> | undefined;
  const every = Math.min(WATCH_MS, stallMs / 5);
  const hung = new Promise<never>((_, reject) => {
    let seen = progressCount(), idle = 0;
    timer = setInterval(() => {
      const now = progressCount();
      idle = now === seen ? idle + every : 0;
      seen = now;
      if (idle >= stallMs) {
        reject(new Error(`no control-plane call finished for ${stallMs / 1000} s (hung?)`));
      }
    }, every);
  });
  let ok = false;
  try {
    await Promise.race([fn(), hung]);
    ok = true;
  } finally {
    clearInterval(timer);
    const systems = liveSystemCount();
    // Stop what a failed (or careless) test left, so the next test starts clean.
    await stopAllSystems();
    if (ok) {
      assert.equal(systems, 0, `the test left ${systems} managed system(s) running`);
      assert.equal(liveWorkerCount(), 0, `the test left ${liveWorkerCount()} worker(s) running`);
    }
  }
}

/** Registers a test that fails only when it hangs, and leaves nothing running. */
export function workerTest(
  name: string,
  fn: (t: Deno.TestContext) => void | Promise<void>,
): void {
  Deno.test(name, (t) => runWatched(() => fn(t)));
}
