/**
 * `Deno.test` for tests that start workers: the test must finish within a
 * time limit (a hang names itself instead of stalling the suite), and it must
 * leave no worker running (Deno's sanitizers do not notice workers).
 */
import assert from "node:assert/strict";
import { liveWorkerCount } from "../actors/workers.ts";

/** Longest a worker test may run. */
const LIMIT_MS = 60_000;

/** Registers a test that must end in time with no simulator worker running. */
export function workerTest(
  name: string,
  fn: (t: Deno.TestContext) => void | Promise<void>,
): void {
  Deno.test(name, async (t) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`did not finish within ${LIMIT_MS / 1000} s (hung?)`)),
        LIMIT_MS,
      );
    });
    try {
      await Promise.race([fn(t), limit]);
    } finally {
      clearTimeout(timer);
    }
    assert.equal(liveWorkerCount(), 0, `the test left ${liveWorkerCount()} worker(s) running`);
  });
}
