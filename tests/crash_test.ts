/**
 * Crash-state exploration: the built-in workloads come out as expected, a
 * failure replays identically from its state number, and checkers catch
 * broken variants of the protocols they guard.
 */
import assert from "node:assert/strict";
import { type CrashWorkload, explore } from "../crash/explore.ts";
import { brokenFlushWorkload, pmdkPoolWorkload } from "../crash/workloads.ts";
import { main } from "../cli/main.ts";

Deno.test("the PMDK-style pool: refused exactly when the count changed while it was dirty", async () => {
  const report = await explore(pmdkPoolWorkload, { seed: 1 });
  assert(report.statesExplored > report.crashPoints, "volatile lines give several images");
  assert.deepEqual(report.failures, []);
});

Deno.test("a forgotten flush is caught, and its state replays identically", async () => {
  const report = await explore(brokenFlushWorkload, { seed: 1 });
  assert(report.failures.length > 0);
  const first = report.failures[0];
  assert.match(first.problem, /the commit flag is durable but the record is not/);
  assert.equal(
    first.replay,
    `deno task crash --workload broken-flush --seed 1 --replay ${first.state}`,
  );
  const again = await explore(brokenFlushWorkload, { seed: 1, replay: first.state });
  assert.equal(again.statesExplored, 1);
  assert.deepEqual(again.failures, [first]);
  // Every explored state, replayed alone, gives the same verdict.
  for (const f of report.failures) {
    const one = await explore(brokenFlushWorkload, { seed: 1, replay: f.state });
    assert.deepEqual(one.failures, [f]);
  }
});

Deno.test("checkers catch broken variants of the protocols", async (t) => {
  await t.step("a pool that writes records before its dirty flag is durable", async () => {
    const early: CrashWorkload = {
      ...pmdkPoolWorkload,
      name: "pool-unordered",
      async run({ lpar }) {
        await lpar.write("region0", 4096, new Uint8Array(64).fill(0x10));
        await lpar.write("region0", 0, new Uint8Array(64));
        await lpar.flush("region0");
      },
    };
    const report = await explore(early, { seed: 1 });
    assert(report.failures.some((f) => /opened with a record lost/.test(f.problem)));
  });
});

Deno.test("explore refuses bad options and unknown states, naming them", async () => {
  await assert.rejects(
    () => explore(brokenFlushWorkload, { seed: 1, replay: 10_000 }),
    /state 10000 does not exist; workload broken-flush with seed 1 has \d+ states/,
  );
  await assert.rejects(
    () => explore(brokenFlushWorkload, { samples: -1 }),
    /explore: samples -1: expected a whole number from 0/,
  );
  await assert.rejects(
    () => explore(brokenFlushWorkload, { exhaustiveLines: 17 }),
    /exhaustiveLines 17: at most 16/,
  );
  const limited = await explore(brokenFlushWorkload, { maxStates: 3 });
  assert.equal(limited.statesExplored, 3);
  assert.equal(limited.truncated, true);
});

Deno.test("deno task crash --json: one object with statesExplored, statesPerSecond, failures[].replay", async () => {
  const lines: string[] = [];
  const code = await main(["crash", "--workload", "broken-flush", "--json"], {
    print: (t) => lines.push(t),
  });
  assert.equal(code, 0, "the broken workload was caught, as expected");
  const out = JSON.parse(lines.join("\n"));
  assert.equal(typeof out.statesExplored, "number");
  assert.equal(typeof out.statesPerSecond, "number");
  assert(out.failures.length > 0);
  assert.match(
    out.failures[0].replay,
    /^deno task crash --workload broken-flush --seed 1 --replay \d+$/,
  );
  const errors: string[] = [];
  const bad = await main(["crash", "--workload", "nope"], {
    print: () => {},
    error: (t) => errors.push(t),
  });
  assert.equal(bad, 2);
  assert.match(
    errors[0],
    /--workload "nope": unknown; accepted: labels-ndctl, labels-ndctl-mainline, labels-ndctl-5\.2, labels-ndctl-broken, pmdk-pool, broken-flush, all/,
  );
  const threads = await main(["crash", "--runtime", "threads"], {
    print: () => {},
    error: (t) => errors.push(t),
  });
  assert.equal(threads, 2);
  assert.match(errors[1], /crash needs the sim runtime/);
  const replay = await main(["crash", "--replay", "x", "--workload", "pmdk-pool"], {
    print: () => {},
    error: (t) => errors.push(t),
  });
  assert.equal(replay, 2);
  assert.match(errors[2], /--replay "x": expected a whole number from 0/);
});

Deno.test("crash: the explorer tells each crash point explored, of how many", async () => {
  const seen: [number, number][] = [];
  const report = await explore(brokenFlushWorkload, {
    onPoint: (done, total) => seen.push([done, total]),
  });
  assert.equal(seen.length, report.crashPointsExplored);
  assert.deepEqual(seen.map(([done]) => done), seen.map((_, i) => i + 1));
  assert.ok(seen.every(([, total]) => total === report.crashPoints));
});
