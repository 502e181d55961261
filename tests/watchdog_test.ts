/** The test harness's watchdog: a hung test fails and leaves nothing running. */
import assert from "node:assert/strict";
import { liveSystemCount, liveWorkerCount } from "../actors/workers.ts";
import { ManagedSystem } from "../actors/managed_system.ts";
import { runWatched } from "./worker_test.ts";

Deno.test("watchdog: a test that stops making progress fails, and its workers are stopped", async () => {
  // Started first: how long workers take to start on a loaded machine does not matter here.
  const system = await ManagedSystem.start({
    lpars: [{ name: "l", nvdimms: [{ drc: 0x44100002, blocks: 2 }] }],
  });
  await system.lpars[0].boot();
  await assert.rejects(
    runWatched(() => new Promise(() => {}), 500), // hangs
    /no control-plane call finished for 0\.5 s \(hung\?\)/,
  );
  assert.equal(liveSystemCount(), 0);
  assert.equal(liveWorkerCount(), 0);
  await assert.rejects(system.lpars[0].dmesg(), /was stopped/);
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
