/**
 * LPAR life cycles on real workers: clean reboot, shutdown, raw hcalls,
 * isolation between partitions, asynchronous panic.
 */
import assert from "node:assert/strict";
import { BIND_ANY_ADDR, OP, UNBIND_SCOPE } from "../abi/hcalls.ts";
import { ManagedSystem } from "../actors/managed_system.ts";
import { lparControl } from "../actors/lpar.ts";
import { startSim, workerTest } from "./worker_test.ts";
import { setTimeout as delay } from "node:timers/promises";

const DRC = 0x44100002;

workerTest(
  "lifecycle: a reboot unbinds nothing; the partition restart releases, the next kernel binds afresh",
  async () => {
    for (const kernel of ["5.2", "5.3", "5.4", "mainline"] as const) {
      await using system = await startSim({
        lpars: [{ name: "a", kernel, nvdimms: [{ drc: DRC, blocks: 40 }] }],
      });
      const lpar = system.lpar("a");
      await lpar.boot();
      const [before] = await lpar.regions();
      const oldDmesg = await lpar.dmesg();
      await system.traceStart();
      const report = await lpar.reboot();
      const trace = await system.traceTake();
      // device_shutdown() calls no driver's remove: no unbind hcall at all.
      assert.ok(!trace.some((t) => t.hcall.startsWith("H_SCM_UNBIND")), `${kernel}: ${trace}`);
      assert.ok(!trace.some((t) => t.rc === "H_OVERLAP"), kernel);
      assert.ok(!report.dmesg.some((l) => l.includes("bind err")), `${kernel}: ${report.dmesg}`);
      const [after] = await lpar.regions();
      assert.equal(after.start, before.start, `${kernel}: bound afresh at the same address`);
      assert.ok(oldDmesg.length > 0);
    }
  },
);

workerTest(
  "lifecycle: 5.2's unbind loop treats long busy as an error (a real 5.2 limitation, seen at DLPAR remove)",
  async () => {
    await using system = await startSim({
      lpars: [{ name: "a", kernel: "5.2", nvdimms: [{ drc: DRC, blocks: 40 }] }],
    });
    const lpar = system.lpar("a");
    await lpar.boot();
    const removed = await system.dlparRemove("a", DRC);
    // The first slice was unbound, then long busy ended 5.2's loop: the rest is forced.
    assert.equal(removed.released, 40 - 16);
    assert.match(removed.message, /forced release at the hypervisor \(24 blocks released\)/);
    assert.ok((await lpar.dmesg()).some((l) => l.endsWith("unbind error: 9900")));
  },
);

workerTest("lifecycle: shutdown releases every binding of the LPAR at the hypervisor", async () => {
  await using system = await startSim({
    lpars: [{
      name: "a",
      kernel: "5.2",
      nvdimms: [{ drc: DRC, blocks: 8 }, { drc: 0x44100003, blocks: 4 }],
    }],
  });
  const lpar = system.lpar("a");
  await lpar.boot();
  assert.equal((await system.bindings()).length, 12);
  assert.equal(await lpar.shutdown(), 12);
  assert.deepEqual(await system.bindings(), []);
  assert.equal(lpar.state, "shut down");
  // Activating again works even for 5.2: nothing is left bound.
  const report = await lpar.boot();
  assert.equal(report.state, "running");
  assert.equal((await lpar.regions()).length, 2);
});

workerTest(
  "lifecycle: raw hcalls go through the channel; the LPAR comes from the channel",
  async () => {
    await using system = await startSim({
      lpars: [
        { name: "a", paprScm: false, nvdimms: [{ drc: DRC, blocks: 4 }] },
        { name: "b", paprScm: false, nvdimms: [{ drc: 0x44100003, blocks: 4 }] },
      ],
    });
    const a = system.lpar("a"), b = system.lpar("b");
    await a.boot();
    await b.boot();
    assert.equal((await a.regions()).length, 0, "no driver, no region");
    const bind = await a.hcall("H_SCM_BIND_MEM", DRC, 0, 4, BIND_ANY_ADDR, 0);
    assert.equal(bind.rcName, "H_SUCCESS");
    assert.equal(bind.rets[2], 4n);
    const q = await a.hcall(OP.H_SCM_QUERY_BLOCK_MEM_BINDING, DRC, 3);
    assert.equal(q.rets[0], bind.rets[1] + 3n * (256n << 20n));
    // b does not own a's DRC: it looks like a DRC that does not exist.
    assert.equal((await b.hcall("H_SCM_QUERY_BLOCK_MEM_BINDING", DRC, 0)).rcName, "H_PARAMETER");
    assert.equal((await b.hcall("H_SCM_UNBIND_ALL", UNBIND_SCOPE.DRC, DRC, 0)).rcName, "H_P2");
    assert.equal((await b.hcall(0x4444)).rcName, "H_FUNCTION");
    await assert.rejects(
      () => a.hcall("H_BOGUS"),
      /unknown hcall "H_BOGUS"; accepted: H_SCM_READ_METADATA, H_SCM_WRITE_METADATA/,
    );
  },
);

workerTest("lifecycle: DAX access to memory that is no longer bound faults", async () => {
  await using system = await startSim({
    lpars: [{ name: "a", kernel: "5.4", nvdimms: [{ drc: DRC, blocks: 4 }] }],
  });
  const lpar = system.lpar("a");
  await lpar.boot();
  await lpar.write("region0", 100, new Uint8Array([1, 2, 3]));
  assert.deepEqual([...await lpar.read("region0", 100, 3)], [1, 2, 3]);
  // Unbind behind the driver's back: the region's memory is gone from the page table.
  assert.equal(
    (await lpar.hcall("H_SCM_UNBIND_ALL", UNBIND_SCOPE.DRC, DRC, 0)).rcName,
    "H_SUCCESS",
  );
  await assert.rejects(() => lpar.read("region0", 100, 3), /machine check/);
  await assert.rejects(
    () => lpar.read("region9", 0, 1),
    /no region "region9"; this kernel has: region0/,
  );
});

workerTest("lifecycle: panic of an idle kernel, then kdump by kexec", async () => {
  await using system = await startSim({
    lpars: [{ name: "a", kernel: "5.4", nvdimms: [{ drc: DRC, blocks: 4 }] }],
  });
  const lpar = system.lpar("a");
  await lpar.boot();
  await assert.rejects(() => lpar.boot(), /LPAR a is already running/);
  await lpar.panic("test");
  assert.equal(lpar.state, "panicked");
  assert.ok((await lpar.dmesg()).at(-1)!.endsWith("Kernel panic - not syncing: test"));
  const report = await lpar.kexec();
  assert.ok(report.dmesg.some((l) => l.includes("elfcorehdr=")));
  assert.equal(report.state, "running");
  await assert.rejects(async () => {
    await lpar.shutdown();
    await lpar.kexec();
  }, /kexec needs a running or panicked kernel/);
});

workerTest(
  "lifecycle: a panic requested while the kernel is busy lands at its next hcall",
  async () => {
    await using system = await startSim({
      hypervisor: { bindSliceBlocks: 1 },
      lpars: [{
        name: "a",
        kernel: "5.4",
        nvdimms: [{ drc: DRC, blocks: 64, blockSize: 1 << 20 }],
      }],
    });
    const lpar = system.lpar("a");
    const booting = lpar.boot();
    await lpar.panic();
    const report = await booting;
    // Either the panic caught the probe mid-bind, or the boot finished first and
    // the panic hit the idle kernel: both end panicked, never hung.
    assert.equal(lpar.state, "panicked");
    assert.ok(report.state === "panicked" || report.state === "running");
    const kdump = await lpar.kexec();
    assert.equal((await lpar.regions()).length, 1, kdump.dmesg.join("\n"));
  },
);

workerTest(
  "lifecycle: reboot of a panicked LPAR is a partition restart: bindings released, region back",
  async () => {
    await using system = await startSim({
      lpars: [{ name: "a", kernel: "5.2", nvdimms: [{ drc: DRC, blocks: 8 }] }],
    });
    const lpar = system.lpar("a");
    await lpar.boot();
    await lpar.panic();
    // 5.2 cannot survive an H_OVERLAP: the region only comes back if the restart released it.
    const report = await lpar.reboot();
    assert.equal(report.state, "running");
    assert.ok(!report.dmesg.some((l) => l.includes("bind err")), report.dmesg.join("\n"));
    assert.equal((await lpar.regions()).length, 1);
  },
);

workerTest(
  "lifecycle (threads): an LPAR worker that dies fails that LPAR's calls instead of hanging",
  async () => {
    await using system = await ManagedSystem.start({
      lpars: [
        { name: "a", kernel: "5.4", nvdimms: [{ drc: DRC, blocks: 4 }] },
        { name: "b", kernel: "5.4", nvdimms: [{ drc: 0x44100003, blocks: 4 }] },
      ],
    });
    const [a, b] = system.lpars;
    await a.boot();
    await b.boot();
    await lparControl(a).partition.crashForTest("simulated bug");
    // The error arrives on a later tick; wait for it (bounded).
    while (!system.errors.length) await delay(5); // the watchdog ends a hang
    await assert.rejects(() => a.dmesg(), /LPAR a worker failed: .*simulated bug/);
    await assert.rejects(() => a.hcall("H_SCM_HEALTH", DRC), /simulated bug/);
    assert.ok(system.errors.some((e) => e.includes("simulated bug")));
    // The other LPAR and the hypervisor carry on.
    assert.equal((await b.regions()).length, 1);
    assert.equal((await b.hcall("H_SCM_HEALTH", 0x44100003)).rcName, "H_SUCCESS");
  },
);

workerTest(
  "lifecycle (threads): a dead LPAR leaves nothing behind; shutdown and activation work again",
  async () => {
    const shared = { drc: DRC, blocks: 4 };
    await using system = await ManagedSystem.start({
      lpars: [
        { name: "a", kernel: "5.4", nvdimms: [shared] },
        { name: "b", kernel: "5.4", nvdimms: [shared] },
      ],
    });
    const [a, b] = system.lpars;
    await a.boot();
    assert.equal((await system.bindings()).length, 4);
    await lparControl(a).partition.crashForTest("simulated bug");
    while (a.state !== "crashed") await delay(5); // the watchdog ends a hang
    assert.equal(a.state, "crashed");
    // The hypervisor released what it held (bounded wait for the release to land).
    while ((await system.bindings()).length) await delay(5);
    assert.deepEqual(await system.bindings(), []);
    assert.ok(system.events.some((e) => /a: its partition crashed .*released 4 blocks/.test(e)));
    // Its peer binds the shared DRC: nothing of the dead LPAR is in the way.
    await b.boot();
    assert.equal((await b.regions()).length, 1);
    assert.ok(!(await b.dmesg()).some((l) => l.includes("bind err")));
    await b.shutdown();
    // Shut down, then activated again on a fresh worker.
    assert.equal(await a.shutdown(), 0);
    assert.equal(a.state, "shut down");
    await a.boot();
    assert.equal(a.state, "running");
    assert.equal((await a.regions()).length, 1);
  },
);

workerTest("lifecycle (threads): a crashed LPAR can be activated again directly", async () => {
  await using system = await ManagedSystem.start({
    lpars: [{ name: "a", kernel: "5.3", nvdimms: [{ drc: DRC, blocks: 4 }] }],
  });
  const a = system.lpars[0];
  await a.boot();
  await lparControl(a).partition.crashForTest("simulated bug");
  while (a.state !== "crashed") await delay(5); // the watchdog ends a hang
  await assert.rejects(a.kexec(), /LPAR a is crashed; kexec needs a running or panicked kernel/);
  const report = await a.boot();
  assert.equal(report.state, "running");
  assert.equal((await a.regions()).length, 1);
  assert.ok(!report.dmesg.some((l) => l.includes("Retrying bind")), "bindings were released");
});
