/** The test harness's watchdog: a hung test fails and leaves nothing running. */
import assert from "node:assert/strict";
import { liveSystemCount, liveWorkerCount } from "../actors/workers.ts";
import { ManagedSystem } from "../actors/managed_system.ts";
import { runWatched } from "./worker_test.ts";

Deno.test("watchdog: a test that stops making progress fails, and its workers are stopped", async () => {
  let system: ManagedSystem | undefined;
  await assert.rejects(
    runWatched(async () => {
      system = await ManagedSystem.start({
        lpars: [{ name: "l", nvdimms: [{ drc: 0x44100002, blocks: 2 }] }],
      });
      await new Promise(() => {}); // hangs
    }, 1500),
    /no control-plane call finished for 1\.5 s \(hung\?\)/,
  );
  assert.ok(system);
  assert.equal(liveSystemCount(), 0);
  assert.equal(liveWorkerCount(), 0);
});

Deno.test("watchdog: a test that leaves a system running fails after it is stopped", async () => {
  await assert.rejects(
    runWatched(async () => {
      await ManagedSystem.start({ lpars: [{ name: "l" }] }, { runtime: "sim" });
    }),
    /the test left 1 managed system\(s\) running/,
  );
  assert.equal(liveSystemCount(), 0);
});
