/**
 * DLPAR of nvdimms on running LPARs: add (the driver probes the new node),
 * remove (the driver unbinds, the DRC is unassigned, its SCM detached),
 * move, and the forced release when the LPAR crashed or ignores the request.
 */
import assert from "node:assert/strict";
import { startSim, workerTest } from "./worker_test.ts";

const MiB16 = 16 * 1024 * 1024;
const DRC_A = 0x44100002;
const DRC_B = 0x44100003;

function twoLpars() {
  return startSim({
    lpars: [
      { name: "lpar1", nvdimms: [{ drc: DRC_A, blocks: 4, blockSize: MiB16 }] },
      { name: "lpar2", kernel: "5.3" },
    ],
  });
}

workerTest("dlpar add: the running kernel's driver probes the new node", async () => {
  await using system = await twoLpars();
  const lpar = system.lpar("lpar1");
  await lpar.boot();
  const added = await system.dlparAdd("lpar1", { drc: DRC_B, blocks: 2, blockSize: MiB16 });
  assert.equal(added.probe, 0);
  assert.equal(added.region, "region1");
  assert.match(added.message, /added drc 0x44100003 to lpar1; papr_scm probed it: region1/);
  assert.deepEqual((await lpar.regions()).map((r) => r.drc), [DRC_A, DRC_B]);
  const bound = (await system.bindings()).filter((b) => b.drc === DRC_B);
  assert.equal(bound.length, 2);
  assert.ok(bound.every((b) => b.lpar === "lpar1" && b.state === "bound"));
  // The new region is usable by DAX.
  await lpar.write("region1", 0, new Uint8Array([1, 2, 3]));
  assert.deepEqual([...await lpar.read("region1", 0, 3)], [1, 2, 3]);
  assert.ok(
    (await lpar.dmesg()).some((l) =>
      l.includes("pseries-pmem: Successfully added /ibm,persistent-memory/ibm,pmemory@")
    ),
  );
  // The node stays in the device tree: a kexec'd kernel probes it too.
  await lpar.kexec();
  assert.equal((await lpar.regions()).length, 2);
  assert.deepEqual(await system.invariants(), []);
});

workerTest("dlpar add to an LPAR not running: probed at its next boot", async () => {
  await using system = await twoLpars();
  const added = await system.dlparAdd("lpar2", { drc: DRC_B, blocks: 2, blockSize: MiB16 });
  assert.equal(added.probe, undefined);
  assert.match(added.message, /not activated: probed at its next boot/);
  await system.lpar("lpar2").boot();
  assert.deepEqual((await system.lpar("lpar2").regions()).map((r) => r.drc), [DRC_B]);
});

workerTest("dlpar add: errors name the DRC and what is wrong", async () => {
  await using system = await twoLpars();
  await assert.rejects(
    system.dlparAdd("lpar1", { drc: DRC_A, blocks: 4, blockSize: MiB16 }),
    /drc 0x44100002 is already assigned to lpar1/,
  );
  await assert.rejects(
    system.dlparAdd("lpar2", { drc: DRC_A, blocks: 8, blockSize: MiB16 }),
    /drc 0x44100002 exists with different settings/,
  );
  await assert.rejects(
    system.dlparAdd("lpar2", { drc: DRC_B, blocks: 0 }),
    /nvdimm\.blocks: 0 is not valid; expected a positive integer/,
  );
  await assert.rejects(system.dlparAdd("nope", { drc: DRC_B, blocks: 1 }), /no LPAR "nope"/);
});

workerTest("dlpar remove: the driver unbinds, the DRC is unassigned and detached", async () => {
  await using system = await twoLpars();
  const lpar = system.lpar("lpar1");
  await lpar.boot();
  const removed = await system.dlparRemove("lpar1", DRC_A);
  assert.equal(removed.forced, false);
  assert.equal(removed.released, 0);
  assert.match(removed.message, /removed drc 0x44100002 from lpar1 \(papr_scm unbound it\)/);
  assert.deepEqual(await lpar.regions(), []);
  assert.deepEqual(await system.bindings(), []);
  assert.deepEqual(lpar.nvdimms, []);
  // The DRC is no longer the LPAR's: the hypervisor answers as for no such DRC.
  const q = await lpar.hcall("H_SCM_QUERY_BLOCK_MEM_BINDING", DRC_A, 0);
  assert.equal(q.rcName, "H_PARAMETER");
  await assert.rejects(system.dlparRemove("lpar1", DRC_A), /not assigned to lpar1; it has: none/);
});

workerTest("dlpar remove from a panicked LPAR forces the release and says so", async () => {
  await using system = await twoLpars();
  const lpar = system.lpar("lpar1");
  await lpar.boot();
  await lpar.panic();
  assert.equal(lpar.state, "panicked");
  const removed = await system.dlparRemove("lpar1", DRC_A);
  assert.equal(removed.forced, true);
  assert.equal(removed.released, 4);
  assert.match(
    removed.message,
    /lpar1: the LPAR is panicked; forced release at the hypervisor \(4 blocks released\)/,
  );
  assert.ok(system.events.includes(removed.message));
  assert.deepEqual(await system.bindings(), []);
});

workerTest("dlpar remove from an LPAR that ignores the request forces the release", async () => {
  await using system = await startSim({
    lpars: [{
      name: "lpar1",
      nvdimms: [{ drc: DRC_A, blocks: 4, blockSize: MiB16 }],
      faults: { ignoreDlparRemove: true },
    }],
  });
  const lpar = system.lpar("lpar1");
  await lpar.boot();
  assert.equal(lpar.ignoreDlparRemove, true);
  const removed = await system.dlparRemove("lpar1", DRC_A);
  assert.equal(removed.forced, true);
  assert.match(removed.message, /the kernel ignored the request; forced release/);
  assert.deepEqual(await system.bindings(), []);
});

workerTest("dlpar move: the nvdimm and its data go to another LPAR", async () => {
  await using system = await twoLpars();
  const [lpar1, lpar2] = [system.lpar("lpar1"), system.lpar("lpar2")];
  await lpar1.boot();
  await lpar2.boot();
  await lpar1.write("region0", 4096, new TextEncoder().encode("moved"));
  const { removed, added } = await system.dlparMove(DRC_A, "lpar1", "lpar2");
  assert.equal(removed.forced, false);
  assert.equal(added.probe, 0);
  assert.deepEqual(await lpar1.regions(), []);
  const [region] = await lpar2.regions();
  assert.equal(region.drc, DRC_A);
  const back = new TextDecoder().decode(await lpar2.read(region.dev, 4096, 5));
  assert.equal(back, "moved");
  assert.ok((await system.bindings()).every((b) => b.lpar === "lpar2"));
  assert.deepEqual(await system.invariants(), []);
});

workerTest(
  "dlpar remove after a failed probe (5.2 after kexec) forces the old kernel's bindings",
  async () => {
    await using system = await startSim({
      lpars: [{
        name: "lpar1",
        kernel: "5.2",
        nvdimms: [{ drc: DRC_A, blocks: 4, blockSize: MiB16 }],
      }],
    });
    const lpar = system.lpar("lpar1");
    await lpar.boot();
    await lpar.kexec(); // bind err: -68, no region; the old kernel's bindings remain
    assert.deepEqual(await lpar.regions(), []);
    const removed = await system.dlparRemove("lpar1", DRC_A);
    assert.equal(removed.forced, true);
    assert.equal(removed.released, 4);
    assert.match(
      removed.message,
      /no driver was bound to it \(its probe had failed\); forced release/,
    );
    assert.deepEqual(await system.bindings(), []);
  },
);

workerTest("dlpar move to a bad target is refused before anything moves", async () => {
  await using system = await startSim({
    lpars: [
      { name: "lpar1", nvdimms: [{ drc: "0x44100002", blocks: 4, blockSize: 1 << 20 }] },
      { name: "lpar2" },
    ],
  });
  const [lpar1] = system.lpars;
  await lpar1.boot();
  await assert.rejects(
    () => system.dlparMove(0x44100002, "lpar1", "nobody"),
    /no LPAR "nobody"; this system has: lpar1, lpar2/,
  );
  await assert.rejects(
    () => system.dlparMove(0x44100002, "lpar1", "lpar1"),
    /drc 0x44100002 is already assigned to lpar1/,
  );
  await assert.rejects(
    () => system.dlparMove("0xZZ", "lpar1", "lpar2"),
    /dlparMove: drc: "0xZZ" is not valid; expected a 32-bit DRC index/,
  );
  await assert.rejects(
    () => system.dlparMove(0x44100009, "lpar1", "lpar2"),
    /drc 0x44100009 is not assigned to lpar1; it has: 0x44100002/,
  );
  // Nothing moved: lpar1 still has its region and its bindings.
  assert.equal((await lpar1.regions()).length, 1);
  assert.ok((await system.bindings()).every((b) => b.lpar === "lpar1"));
});

workerTest(
  "dlpar remove: a kernel that panics in its driver's unbind is supervised, and the message says so",
  async () => {
    await using system = await startSim({
      lpars: [{
        name: "l",
        kernel: "5.4",
        // 40 blocks: the panic comes after the first unbind slice (16), with 24 still bound.
        nvdimms: [{ drc: 0x44100002, blocks: 40 }],
        supervision: { onPanic: "kdump" },
      }],
    });
    const lpar = system.lpars[0];
    await lpar.boot({ panicAt: { hcall: "H_SCM_UNBIND_ALL", nth: 1 } });
    const removed = await system.dlparRemove("l", 0x44100002);
    assert.match(
      removed.message,
      /the kernel panicked while its driver let go; forced release at the hypervisor \(24 blocks released\)/,
    );
    assert.equal(lpar.supervisorActions.at(-1)?.action, "kdump");
    assert.equal(lpar.state, "running", "the kdump kernel runs");
    assert.deepEqual(await system.bindings(), []);
  },
);
