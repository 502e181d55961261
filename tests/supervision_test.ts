/**
 * Supervision: what the managed system does when an LPAR's kernel panics
 * (kdump, reboot, stay-down, with a restart budget), and a hypervisor
 * failure stopping the system cleanly instead of hanging.
 */
import assert from "node:assert/strict";
import type { SupervisionConfig } from "../actors/config.ts";
import { startSim, workerTest } from "./worker_test.ts";

const MiB16 = 16 * 1024 * 1024;
const DRC = 0x44100002;

function system(supervision: SupervisionConfig, panicAtBind = false) {
  return startSim({
    lpars: [{
      name: "lpar1",
      kernel: "5.4",
      nvdimms: [{ drc: DRC, blocks: 4, blockSize: MiB16 }],
      supervision,
      faults: panicAtBind ? { panicAt: { hcall: "H_SCM_BIND_MEM", nth: 1 } } : undefined,
    }],
  });
}

workerTest(
  "on panic, policy kdump: a kdump kernel is kexec'd and gets the region back",
  async () => {
    await using sys = await system({ onPanic: "kdump" });
    const lpar = sys.lpar("lpar1");
    await lpar.boot();
    const [before] = await lpar.regions();
    await lpar.panic();
    assert.equal(lpar.state, "running");
    assert.match(sys.events[0], /lpar1: kernel panicked; policy kdump: kexec of a kdump kernel/);
    assert.ok((await lpar.dmesg()).some((l) => l.includes("elfcorehdr=")));
    const [after] = await lpar.regions();
    assert.equal(after.start, before.start, "5.4 reuses the bound address");
  },
);

workerTest(
  "on panic, policy reboot: the partition restarts with its bindings released",
  async () => {
    await using sys = await system({ onPanic: "reboot" });
    const lpar = sys.lpar("lpar1");
    await lpar.boot();
    await lpar.panic();
    assert.equal(lpar.state, "running");
    assert.match(sys.events[0], /policy reboot: partition restart \(restart 1 of at most 3/);
    const dmesg = await lpar.dmesg();
    assert.ok(!dmesg.some((l) => l.includes("elfcorehdr=")));
    assert.ok(!dmesg.some((l) => l.includes("Failed to query")), "nothing was left bound");
    assert.equal((await lpar.regions()).length, 1);
  },
);

workerTest(
  "on panic, policy stay-down (the default): the LPAR stays down and says so",
  async () => {
    await using sys = await system({});
    const lpar = sys.lpar("lpar1");
    await lpar.boot();
    await lpar.panic();
    assert.equal(lpar.state, "panicked");
    assert.deepEqual(sys.events, ["lpar1: kernel panicked; policy stay-down: the LPAR stays down"]);
  },
);

workerTest(
  "restart budget: a kernel that always panics is restarted N times, then stays down",
  async () => {
    await using sys = await system({ onPanic: "reboot", maxRestarts: 2, windowSeconds: 60 }, true);
    const lpar = sys.lpar("lpar1");
    const report = await lpar.boot();
    assert.equal(report.state, "panicked");
    assert.equal(lpar.state, "panicked");
    assert.deepEqual(lpar.supervisorActions.map((a) => a.action), [
      "reboot",
      "reboot",
      "stay-down",
    ]);
    assert.equal(
      sys.events.at(-1),
      "lpar1: kernel panicked; restart budget spent (2 restarts in the last 60 s, at most 2): " +
        "the LPAR stays down",
    );
  },
);

workerTest(
  "restart budget with kdump: the injected fault is not re-armed in the kdump kernel",
  async () => {
    await using sys = await system({ onPanic: "kdump", maxRestarts: 1 }, true);
    const lpar = sys.lpar("lpar1");
    await lpar.boot();
    assert.equal(lpar.state, "running");
    assert.equal(lpar.supervisorActions.length, 1);
    assert.equal((await lpar.regions()).length, 1);
  },
);

workerTest("a hypervisor failure stops the system cleanly with a clear error", async () => {
  const sys = await system({});
  const lpar = sys.lpar("lpar1");
  await lpar.boot();
  await sys.injectHypervisorFailure("serve loop crashed (test)");
  // The failure reaches the main thread as the worker's error; wait for it.
  for (let i = 0; i < 100 && sys.failure === undefined; i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(sys.failure, "serve loop crashed (test)");
  assert.ok(
    sys.events.includes(
      "hypervisor failed: serve loop crashed (test); the managed system was stopped",
    ),
  );
  // Every call now fails at once instead of hanging.
  await assert.rejects(lpar.regions(), /hypervisor failed: serve loop crashed \(test\)/);
  await assert.rejects(sys.bindings(), /hypervisor failed/);
  await sys.stop();
});
