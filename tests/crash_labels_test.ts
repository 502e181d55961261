/**
 * The namespace label protocol through the real guest path under crash
 * exploration: ndctl create-namespace, destroy-namespace and init-labels
 * with a crash after every WRITE_METADATA hcall come back as the old or the
 * new namespace set on 5.4, mainline and 5.2 (sampled); libnvdimm writes a
 * label before the index that names it; the index-first variant is caught
 * and its failures replay identically; crash-point sampling is seeded.
 */
import assert from "node:assert/strict";
import { type CrashWorkload, explore } from "../crash/explore.ts";
import {
  describeSet,
  labelsNdctlWorkload,
  type NamespaceFacts,
  namespaceSet,
} from "../crash/labels_ndctl.ts";
import { DimmLabels } from "../guest/labels/ndd.ts";
import { runSync } from "../guest/task.ts";
import { main } from "../cli/main.ts";

/**
 * WRITE_METADATA hcalls of the workload at 8 bytes each (256-byte index
 * blocks, 128-byte labels): a create is uuid (index), alt_name (index), then
 * size, sector_size and holder_class each a label written twice (UPDATING,
 * then clear) with its index: 2 × 32 + 3 × 2 × (16 + 32) = 352; a destroy is
 * one index (32); init-labels two (64). Three creates, two destroys, one
 * init: 1,184; plus six marks.
 */
const WRITES_8 = 3 * 352 + 2 * 32 + 64;

Deno.test("labels-ndctl on 5.4 and mainline: old or new set at every WRITE_METADATA", async () => {
  for (const kernel of ["5.4", "mainline"] as const) {
    const report = await explore(labelsNdctlWorkload(kernel), { seed: 1 });
    assert.equal(report.events, WRITES_8 + 6, kernel);
    // No volatile lines (raw namespaces): one image per crash point, every point.
    assert.equal(report.crashPointsExplored, report.crashPoints);
    assert.equal(report.statesExplored, report.crashPoints);
    assert.deepEqual(report.failures, [], kernel);
  }
});

Deno.test("labels-ndctl on 5.2: one-byte writes, seeded samples of the crash points", async () => {
  const workload = labelsNdctlWorkload("5.2");
  const report = await explore(workload, { seed: 1, maxCrashPoints: 200 });
  assert.equal(report.events, 8 * WRITES_8 + 6);
  assert.equal(report.crashPointsExplored, 200);
  assert.equal(report.statesExplored, 200);
  assert.deepEqual(report.failures, []);
});

Deno.test("the guest writes a label before the index that names it; the test variant reverses it", () => {
  for (const indexBeforeLabel of [false, true]) {
    const area = new Uint8Array(128 * 1024);
    const writes: number[] = [];
    const ndd = new DimmLabels({
      size: area.length,
      maxXfer: 8,
      indexBeforeLabel,
      // deno-lint-ignore require-yield
      *get(offset, length) {
        return { rc: 0, data: area.slice(offset, offset + length) };
      },
      // deno-lint-ignore require-yield
      *set(offset, data) {
        writes.push(offset);
        area.set(data, offset);
        return { rc: 0 };
      },
    });
    const noHcall = () => {
      throw new Error("no hcall");
    };
    assert.equal(runSync(ndd.init(), noHcall), 0);
    assert.equal(runSync(ndd.initLabels(), noHcall), 0);
    writes.length = 0;
    const label = {
      uuid: "11111111-2222-3333-4444-555555555555",
      name: "a",
      flags: 0,
      nlabel: 1,
      position: 0,
      isetcookie: 1n,
      lbasize: 512n,
      dpa: 0n,
      rawsize: 1n << 28n,
      abstractionGuid: "00000000-0000-0000-0000-000000000000",
    };
    assert.equal(runSync(ndd.writeLabel(label), noHcall), 0);
    // Index 1 (sequence 3 → 1) at 256, the label in slot 0 at 512.
    assert.deepEqual(writes, indexBeforeLabel ? [256, 512] : [512, 256]);
  }
});

Deno.test("labels-ndctl-broken: an index written before its label is caught, and replays", async () => {
  const workload = labelsNdctlWorkload("5.4", true);
  const report = await explore(workload, { seed: 1 });
  assert(report.failures.length > 0);
  const first = report.failures[0];
  // The index names a slot still holding alpha's older label: alpha twice.
  assert.match(
    first.problem,
    /^crash after WRITE_METADATA \d+ of "create-namespace beta onto labels holding alpha": the namespaces read back as \{alpha:raw:256M:\w+,alpha:raw:256M:\w+\}, expected /,
  );
  assert.equal(
    first.replay,
    `deno task crash --workload labels-ndctl-broken --seed 1 --replay ${first.state}`,
  );
  for (const f of [first, report.failures.at(-1)!]) {
    const again = await explore(workload, { seed: 1, replay: f.state });
    assert.deepEqual(again.failures, [f]);
  }
  // Every failure hits between an index write and its label write: never while idle.
  assert(report.failures.length < report.crashPoints / 4);
});

Deno.test("crash-point sampling is seeded: the same seed explores the same points", async () => {
  const workload = labelsNdctlWorkload("5.4", true);
  const a = await explore(workload, { seed: 3, maxCrashPoints: 40 });
  const b = await explore(workload, { seed: 3, maxCrashPoints: 40 });
  assert.equal(a.crashPointsExplored, 40);
  assert.deepEqual(a.failures, b.failures);
  for (const f of a.failures) {
    const one = await explore(workload, { seed: 3, maxCrashPoints: 40, replay: f.state });
    assert.deepEqual(one.failures, [f]);
  }
  await assert.rejects(
    () => explore(workload, { maxCrashPoints: 1 }),
    /explore: maxCrashPoints 1: expected a whole number from 2/,
  );
  assert.throws(() => labelsNdctlWorkload("5.2", true), /the broken variant is 5\.4's, not 5\.2/);
});

Deno.test("deno task crash --workload labels-ndctl-broken --replay: the failure, exit 0", async () => {
  const report = await explore(labelsNdctlWorkload("5.4", true), { seed: 1 });
  const state = report.failures[0].state;
  const lines: string[] = [];
  const code = await main(
    ["crash", "--workload", "labels-ndctl-broken", "--replay", String(state)],
    { print: (t) => lines.push(t) },
  );
  assert.equal(code, 0, "the broken workload is caught, as expected");
  const text = lines.join("\n");
  assert.match(text, new RegExp(`replayed state ${state} \\(seed 1\\): 1 inconsistent state`));
  assert.match(text, /replay: deno task crash --workload labels-ndctl-broken --seed 1 --replay/);
});

Deno.test("an fsdax namespace that create-namespace returned survives a power loss", async () => {
  // The pfn info block is written as nsio_rw_bytes does (drivers/nvdimm/claim.c:
  // memcpy_flushcache, then nvdimm_flush), so it is durable before ndctl returns.
  let after: NamespaceFacts[] = [];
  const workload: CrashWorkload = {
    name: "fsdax-create",
    summary: "ndctl create-namespace --mode fsdax; once it returned, the namespace is fsdax",
    config: {
      lpars: [{
        name: "l",
        kernel: "5.4",
        nvdimms: [{ drc: "0x44100002", blocks: 4, blockSize: 256 << 20 }],
      }],
    },
    async setup({ lpar }) {
      for (const args of [["disable-region", "region0"], ["init-labels", "nmem0"]]) {
        assert.equal((await lpar.ndctlRun(args)).rc, 0);
      }
      assert.equal((await lpar.ndctlRun(["enable-region", "region0"])).rc, 0);
    },
    async run({ lpar, mark }) {
      const out = await lpar.ndctlRun(["create-namespace", "--size", "256M", "--name", "a"]);
      assert.equal(out.rc, 0, out.stderr);
      after = await namespaceSet(lpar);
      mark("created");
    },
    async check({ lpar, image }) {
      if (!image.marks.includes("created")) return undefined;
      const found = await namespaceSet(lpar);
      return describeSet(found) === describeSet(after)
        ? undefined
        : `after create-namespace returned: ${describeSet(found)}, expected ${describeSet(after)}`;
    },
  };
  // Few images per point: the 64 lines of the info block are volatile only between
  // its stores and their write-back; what matters is every point after the return.
  const report = await explore(workload, {
    seed: 1,
    exhaustiveLines: 1,
    samples: 1,
    tornSamples: 0,
  });
  assert.equal(after[0]?.mode, "fsdax");
  assert(report.statesExplored > report.crashPoints, "some images had volatile lines");
  assert.deepEqual(report.failures, []);
});
