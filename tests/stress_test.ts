/**
 * Stress: many LPARs hammer the real hypervisor worker through their real
 * channels at once, each running a script whose every answer it can predict;
 * then a managed system boots and kexecs all its LPARs at once, repeatedly.
 * Bounded in time: SIM_STRESS_SECONDS (default 3) split between the two.
 * @module
 */
import assert from "node:assert/strict";
import { ManagedSystem } from "../actors/managed_system.ts";
import { ANSWERED, channelViews } from "../channel/layout.ts";
import { POWERVM_DEFAULTS } from "../core/powervm.ts";
import { Rig } from "../bench/rig.ts";
import { workerTest } from "./worker_test.ts";

const SECONDS = Number(Deno.env.get("SIM_STRESS_SECONDS") ?? "3") || 3;
const LPARS = 12;
const BLOCK = 1n << 20n;

workerTest("stress: concurrent hcalls through the real channel", async (t) => {
  const rig = await Rig.start({ lpars: LPARS, blocks: 8, blockSize: Number(BLOCK) });
  try {
    const health = (id: number) => BigInt(id) << 1n & 0xFEn;
    for (const l of rig.lpars) await rig.hv.setHealth(l.drc, health(l.id));
    const results = await rig.runFor(SECONDS * 600, (l) =>
      l.worker.stress({
        drc: l.drc,
        foreignDrc: rig.lpars[l.id % rig.lpars.length].drc,
        health: health(l.id),
        blockSize: BLOCK,
        blocks: 1 + (l.id % 8),
        finalBlocks: l.id % 4,
        logicalBase: POWERVM_DEFAULTS.logicalBase,
      }));
    const calls = results.map((r) => r.calls);
    console.log(
      `stress: ${LPARS} LPARs, ${calls.reduce((a, b) => a + b, 0)} hcalls ` +
        `(per LPAR ${Math.min(...calls)}..${Math.max(...calls)}), ` +
        `${results.reduce((a, r) => a + r.cycles, 0)} cycles`,
    );

    await t.step("every hcall got exactly one answer, the predicted one, in order", () => {
      for (const [i, r] of results.entries()) {
        assert.deepEqual(r.errors, [], `LPAR ${i + 1}`);
        assert.ok(r.cycles > 0, `LPAR ${i + 1} completed no cycle`);
        assert.equal(r.answered, r.calls, `LPAR ${i + 1}: ANSWERED seen by the guest`);
        const answered = Atomics.load(channelViews(rig.lpars[i].channel).header, ANSWERED);
        assert.equal(answered, r.calls, `LPAR ${i + 1}: ANSWERED seen from outside`);
        // The rig's own view of the word (runCounted's count, the bench's rate).
        assert.equal(rig.lpars[i].answered[0], r.calls, `LPAR ${i + 1}: ANSWERED seen by the rig`);
      }
    });

    await t.step("the binding table is consistent afterwards", async () => {
      assert.deepEqual(await rig.hv.invariants(), []);
      const expected = rig.lpars.flatMap((l) =>
        Array.from({ length: l.id % 4 }, (_, b) => ({
          drc: l.drc,
          block: b,
          lpar: l.id,
          address: POWERVM_DEFAULTS.logicalBase + BigInt(b) * BLOCK,
          state: "bound",
        }))
      );
      const table = (await rig.hv.bindings()).sort((a, b) => a.drc - b.drc || a.block - b.block);
      assert.deepEqual(table, expected);
      assert.deepEqual(rig.errors, []);
    });
  } finally {
    await rig.stop();
  }
});

workerTest("stress: all LPARs boot and kexec at once, repeatedly", async (t) => {
  const lpars = 8;
  const system = await ManagedSystem.start({
    hypervisor: { bindSliceBlocks: 2 },
    lpars: Array.from({ length: lpars }, (_, i) => ({
      name: `lpar${i + 1}`,
      kernel: (["5.2", "5.3", "5.4"] as const)[i % 3],
      nvdimms: [{ drc: 0x44500000 + i, blocks: 8, blockSize: 1 << 20 }],
    })),
  });
  try {
    await Promise.all(system.lpars.map((l) => l.boot({ kernel: "5.4" })));
    const deadline = performance.now() + SECONDS * 400;
    let rounds = 0;
    while (rounds === 0 || performance.now() < deadline) {
      await Promise.all(system.lpars.map((l) => l.kexec({ kernel: "5.4" })));
      rounds++;
    }
    console.log(`stress: ${lpars} LPARs kexec'd together ${rounds} times`);
    await t.step("every LPAR has its region back", async () => {
      for (const l of system.lpars) {
        assert.equal(l.state, "running", l.name);
        assert.equal((await l.regions()).length, 1, l.name);
      }
    });
    await t.step("binding table consistent, invariants empty", async () => {
      assert.deepEqual(await system.invariants(), []);
      const table = await system.bindings();
      assert.equal(table.length, lpars * 8);
      for (const b of table) {
        assert.equal(b.state, "bound");
        assert.equal(b.lpar, `lpar${b.drc - 0x44500000 + 1}`);
      }
      assert.deepEqual(system.errors, []);
    });
  } finally {
    await system.stop();
  }
});
