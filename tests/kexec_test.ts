/**
 * The seed story on real workers: kexec, panic and panic in the middle of a
 * sliced bind, for each driver version.
 */
import assert from "node:assert/strict";
import { runKexecStory } from "../scenarios/kexec.ts";
import { KERNEL_VERSIONS } from "../guest/papr_scm/mod.ts";
import { SIM, workerTest } from "./worker_test.ts";
import { probeReads } from "./label_reads.ts";

const PREFIX = "papr_scm ibm,persistent-memory:ibm,pmemory@44100002: ";

const has = (lines: string[], text: string) => lines.some((l) => l.endsWith(PREFIX + text));
const calls = (hcalls: { hcall: string; rc: string }[]) => hcalls.map((h) => `${h.hcall}:${h.rc}`);

for (const mode of ["kexec", "panic"] as const) {
  workerTest(
    `kexec story (${mode}): 5.2 fails with bind err -68 and loses its region`,
    async () => {
      const r = await runKexecStory({ start: SIM, kernel: "5.2", mode });
      assert.equal((r.regionsBefore as unknown[]).length, 1);
      assert.ok(has(r.dmesg, "bind err: -68"), r.dmesg.join("\n"));
      assert.deepEqual(r.regionsAfter, []);
      assert.deepEqual(calls(r.hcalls), ["H_SCM_BIND_MEM:H_OVERLAP"]);
      assert.equal(r.pattern, "lost");
      if (mode === "panic") assert.ok(r.oldKernelTail.some((l) => l.includes("Kernel panic")));
    },
  );

  workerTest(`kexec story (${mode}): 5.3 unbinds everything and binds again`, async () => {
    const r = await runKexecStory({ start: SIM, kernel: "5.3", mode });
    assert.ok(has(r.dmesg, "Retrying bind after unbinding"), r.dmesg.join("\n"));
    assert.ok(!r.dmesg.some((l) => l.includes("bind err")));
    const seq = calls(r.hcalls);
    assert.equal(seq[0], "H_SCM_BIND_MEM:H_OVERLAP");
    // 40 blocks unbound 16 at a time: two long-busy slices, then success.
    assert.deepEqual(seq.slice(1, 4), [
      "H_SCM_UNBIND_ALL:H_LONG_BUSY_ORDER_1_MSEC",
      "H_SCM_UNBIND_ALL:H_LONG_BUSY_ORDER_1_MSEC",
      "H_SCM_UNBIND_ALL:H_SUCCESS",
    ]);
    // Then libnvdimm's dimm probe reads the label index blocks.
    assert.deepEqual(seq.slice(4), [
      "H_SCM_BIND_MEM:H_BUSY",
      "H_SCM_BIND_MEM:H_BUSY",
      "H_SCM_BIND_MEM:H_SUCCESS",
      ...probeReads("5.3"),
    ]);
    assert.equal((r.regionsAfter as unknown[]).length, 1);
    assert.equal(r.pattern, "intact");
  });

  workerTest(`kexec story (${mode}): 5.4 queries and reuses the address, no unbind`, async () => {
    const r = await runKexecStory({ start: SIM, kernel: "5.4", mode });
    assert.deepEqual(calls(r.hcalls), [
      "H_SCM_BIND_MEM:H_OVERLAP",
      "H_SCM_QUERY_BLOCK_MEM_BINDING:H_SUCCESS",
      "H_SCM_QUERY_BLOCK_MEM_BINDING:H_SUCCESS",
      ...probeReads("5.4"),
    ]);
    assert.ok(!r.dmesg.some((l) => l.includes("papr_scm")), r.dmesg.join("\n"));
    assert.equal(r.addressReused, true);
    assert.equal(r.pattern, "intact");
    assert.deepEqual(r.regionsAfter, r.regionsBefore);
  });
}

workerTest(
  "kexec story: panic mid-bind leaves a partial binding each version meets its own way",
  async (t) => {
    await t.step("5.2: the kdump kernel fails with -68", async () => {
      const r = await runKexecStory({ start: SIM, kernel: "5.2", mode: "panic-mid-bind" });
      assert.ok(
        r.oldKernelTail.some((l) =>
          l.includes("Kernel panic - not syncing: injected at H_SCM_BIND_MEM call 2")
        ),
      );
      assert.ok(r.dmesg.some((l) => l.includes("elfcorehdr=")));
      assert.ok(has(r.dmesg, "bind err: -68"));
      assert.deepEqual(r.regionsAfter, []);
    });
    await t.step("5.3: unbinds the partial range and binds again", async () => {
      const r = await runKexecStory({ start: SIM, kernel: "5.3", mode: "panic-mid-bind" });
      assert.ok(has(r.dmesg, "Retrying bind after unbinding"));
      assert.equal((r.regionsAfter as unknown[]).length, 1);
    });
    await t.step("5.4: the last block is not bound, so it unbinds and binds", async () => {
      const r = await runKexecStory({ start: SIM, kernel: "5.4", mode: "panic-mid-bind" });
      assert.deepEqual(calls(r.hcalls).slice(0, 3), [
        "H_SCM_BIND_MEM:H_OVERLAP",
        "H_SCM_QUERY_BLOCK_MEM_BINDING:H_SUCCESS",
        "H_SCM_QUERY_BLOCK_MEM_BINDING:H_NOT_FOUND",
      ]);
      assert.ok(has(r.dmesg, "Failed to query, trying an unbind followed by bind"));
      assert.equal((r.regionsAfter as unknown[]).length, 1);
    });
  },
);

workerTest(
  "kexec story: a kexec into a newer kernel recovers what the older one could not",
  async () => {
    const r = await runKexecStory({ start: SIM, kernel: "5.2", nextKernel: "5.4" });
    assert.equal(r.addressReused, true);
    assert.equal(r.pattern, "intact");
  },
);

workerTest("kexec story: every version boots and binds on a fresh system", async () => {
  for (const kernel of KERNEL_VERSIONS) {
    const r = await runKexecStory({ start: SIM, kernel });
    assert.equal((r.regionsBefore as unknown[]).length, 1, kernel);
  }
});
