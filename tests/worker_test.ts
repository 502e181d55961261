/**
 * `Deno.test` for tests that start workers: afterwards it checks that the
 * test left none running (Deno's sanitizers do not notice workers).
 */
import assert from "node:assert/strict";
import { liveWorkerCount } from "../actors/workers.ts";

/** Registers a test that must end with no simulator worker running. */
export function workerTest(
  name: string,
  fn: (t: Deno.TestContext) => void | Promise<void>,
): void {
  Deno.test(name, async (t) => {
    await fn(t);
    assert.equal(liveWorkerCount(), 0, `the test left ${liveWorkerCount()} worker(s) running`);
  });
}
