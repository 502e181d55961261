/**
 * Many LPARs at once on real workers: large sliced binds in parallel, and
 * bind races on a DRC shared by two LPARs.
 */
import assert from "node:assert/strict";
import { BIND_ANY_ADDR, UNBIND_SCOPE } from "../abi/hcalls.ts";
import { ManagedSystem } from "../actors/managed_system.ts";
import { workerTest } from "./worker_test.ts";

workerTest("concurrency: 8 LPARs boot at once with binds of many slices; all succeed", async () => {
  const lpars = Array.from({ length: 8 }, (_, i) => ({
    name: `lpar${i}`,
    kernel: (["5.2", "5.3", "5.4"] as const)[i % 3],
    nvdimms: [
      { drc: 0x44100000 + 2 * i, blocks: 64, blockSize: 1 << 20 },
      { drc: 0x44100001 + 2 * i, blocks: 48, blockSize: 1 << 20 },
    ],
  }));
  await using system = await ManagedSystem.start({
    hypervisor: { bindSliceBlocks: 2 },
    lpars,
  });
  await system.traceStart();
  const reports = await Promise.all(system.lpars.map((l) => l.boot()));
  const trace = await system.traceTake();
  for (const [i, r] of reports.entries()) {
    assert.equal(r.state, "running");
    assert.equal((await system.lpars[i].regions()).length, 2, r.dmesg.join("\n"));
  }
  // 64/2 + 48/2 = 56 BIND_MEM calls per LPAR, 55 of them H_BUSY... per nvdimm: n/2 - 1 busy.
  for (const l of system.lpars) {
    // (Each dimm probe then reads its label index: READ_METADATA, not counted here.)
    const mine = trace.filter((t) => t.lpar === l.name && t.hcall === "H_SCM_BIND_MEM");
    assert.equal(mine.filter((t) => t.rc === "H_BUSY").length, 31 + 23);
    assert.equal(mine.filter((t) => t.rc === "H_SUCCESS").length, 2);
  }
  assert.equal((await system.bindings()).length, 8 * 112);
  assert.deepEqual(await system.invariants(), []);
});

workerTest(
  "concurrency: two LPARs bind a shared DRC at the same moment: exactly one wins, every round",
  async () => {
    const shared = { drc: 0x44200000, blocks: 8, blockSize: 1 << 20 };
    await using system = await ManagedSystem.start({
      lpars: [
        { name: "a", paprScm: false, nvdimms: [shared] },
        { name: "b", paprScm: false, nvdimms: [shared] },
      ],
    });
    const [a, b] = system.lpars;
    await a.boot();
    await b.boot();
    const wins = { a: 0, b: 0 };
    for (let round = 0; round < 200; round++) {
      const [ra, rb] = await Promise.all([
        a.hcall("H_SCM_BIND_MEM", shared.drc, 0, shared.blocks, BIND_ANY_ADDR, 0),
        b.hcall("H_SCM_BIND_MEM", shared.drc, 0, shared.blocks, BIND_ANY_ADDR, 0),
      ]);
      const codes = [ra.rcName, rb.rcName].sort();
      assert.deepEqual(codes, ["H_OVERLAP", "H_SUCCESS"], `round ${round}`);
      const winner = ra.rcName === "H_SUCCESS" ? a : b;
      wins[winner.name as "a" | "b"]++;
      const owners = new Set((await system.bindings()).map((x) => x.lpar));
      assert.deepEqual([...owners], [winner.name]);
      const unbind = await winner.hcall("H_SCM_UNBIND_ALL", UNBIND_SCOPE.DRC, shared.drc, 0);
      assert.equal(unbind.rcName, "H_SUCCESS");
    }
    assert.equal(wins.a + wins.b, 200);
  },
);

workerTest(
  "concurrency: two 5.4 kernels probing a shared DRC at once: one region, one bind err",
  async () => {
    for (let round = 0; round < 10; round++) {
      const shared = { drc: 0x44300000, blocks: 32, blockSize: 1 << 20 };
      await using system = await ManagedSystem.start({
        hypervisor: { bindSliceBlocks: 4 },
        lpars: [
          { name: "a", kernel: "5.4", nvdimms: [shared] },
          { name: "b", kernel: "5.4", nvdimms: [shared] },
        ],
      });
      const reports = await Promise.all(system.lpars.map((l) => l.boot()));
      const regions = await Promise.all(system.lpars.map((l) => l.regions()));
      assert.deepEqual(regions.map((r) => r.length).sort(), [0, 1], `round ${round}`);
      const loser = reports[regions[0].length === 0 ? 0 : 1];
      assert.ok(loser.dmesg.some((l) => l.endsWith("bind err: -68")), loser.dmesg.join("\n"));
      assert.deepEqual(await system.invariants(), []);
    }
  },
);
