import assert from "node:assert/strict";
import * as Comlink from "comlink";
import { liveWorkerCount } from "../actors/workers.ts";
import { Spawners } from "../runtime/spawners.ts";
import type { LparWorker } from "../workers/lpar_worker.ts";

const oddSpawner = new URL("./fixtures/odd_spawner.ts", import.meta.url);

Deno.test("spawners: LPAR workers started by spawners answer on their port and end", async () => {
  const spawners = new Spawners(2);
  const errors: string[] = [];
  try {
    const lpars = await Promise.all(
      ["a", "b", "c"].map((name) => spawners.start(name, (m) => errors.push(`${name}: ${m}`))),
    );
    assert.equal(liveWorkerCount(), 2 + 3, "two spawners and three LPAR workers");
    for (const lpar of lpars) {
      const remote = Comlink.wrap<LparWorker>(lpar.port);
      // A round trip to the LPAR worker itself, on the port the spawner handed back.
      assert.deepEqual(await remote.guestSpans(), { spans: [], dropped: 0 });
    }
    // An uncaught error in one LPAR worker reaches its own onError, with its name.
    await Comlink.wrap<LparWorker>(lpars[1].port).crashForTest("simulated bug");
    await assert.rejects(lpars[1].failed, /^Error: LPAR b worker failed: .*simulated bug/);
    assert.equal(errors.length, 1);
    assert.match(errors[0], /^b: .*simulated bug/);
    for (const lpar of lpars) lpar.end();
    lpars[0].end(); // a second end does nothing
    await spawners.drained();
  } finally {
    spawners.terminate();
  }
  assert.equal(liveWorkerCount(), 0);
});

Deno.test("spawners: a refused start rejects with the LPAR's name and leaves nothing", async () => {
  const spawners = new Spawners(1, { url: oddSpawner });
  const errors: string[] = [];
  try {
    await assert.rejects(
      spawners.start("refused", (m) => errors.push(m)),
      /^Error: LPAR refused worker failed: refused to start$/,
    );
    assert.deepEqual(errors, ["refused to start"]);
    await spawners.drained();
  } finally {
    spawners.terminate();
  }
  assert.equal(liveWorkerCount(), 0);
});

Deno.test("spawners: a spawner that dies fails its partitions", async () => {
  const spawners = new Spawners(1, { url: oddSpawner });
  const errors: string[] = [];
  try {
    const lpar = await spawners.start("crash", (m) => errors.push(m));
    await assert.rejects(lpar.failed, /^Error: LPAR crash worker failed: .*spawner bug/);
    assert.equal(errors.length, 1);
    assert.match(errors[0], /spawner bug/);
    lpar.end();
    await spawners.drained();
  } finally {
    spawners.terminate();
  }
  assert.equal(liveWorkerCount(), 0);
});

Deno.test("spawners: limits are checked and reached limits are clear errors", async () => {
  assert.throws(() => new Spawners(0), /spawner count 0: expected a whole number from 1/);
  assert.throws(
    () => new Spawners(1, { maxWorkers: 0.5 }),
    /maxWorkers 0.5: expected a whole number from 1/,
  );
  const spawners = new Spawners(1, { url: oddSpawner, maxWorkers: 1 });
  try {
    const first = await spawners.start("one", () => {});
    await assert.rejects(
      spawners.start("two", () => {}),
      /LPAR two: 1 LPAR workers run already \(the limit\)/,
    );
    first.end();
    await spawners.drained();
    // Ended, its place is free again.
    (await spawners.start("three", () => {})).end();
    await spawners.drained();
  } finally {
    spawners.terminate();
  }
  assert.equal(liveWorkerCount(), 0);
});
