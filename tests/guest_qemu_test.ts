/**
 * The guest drivers against the `qemu` personality: QEMU keeps no binding
 * state, so a kexec'd 5.2 kernel binds again without H_OVERLAP; and QEMU
 * answers H_OVERLAP only for a bind with a target address, which no driver
 * version sends, so the 5.4 fallback (query → H_FUNCTION → unbind + bind)
 * can only be shown by answering its bind with H_OVERLAP by hand.
 */
import assert from "node:assert/strict";
import { H, OP, rcName } from "../abi/hcalls.ts";
import { HypervisorCore } from "../core/hypervisor.ts";
import { buildDeviceTree } from "../guest/device_tree.ts";
import { GuestKernel } from "../guest/kernel.ts";
import { runSync } from "../guest/task.ts";
import { startSim, workerTest } from "./worker_test.ts";
import { probeReads } from "./label_reads.ts";

const DRC = 0x90000001;
const QEMU = { hypervisor: { personality: "qemu" as const } };

workerTest("qemu: 5.2 survives kexec (no binding state, so no H_OVERLAP)", async () => {
  await using system = await startSim({
    ...QEMU,
    lpars: [{ name: "a", kernel: "5.2", nvdimms: [{ drc: DRC, blocks: 2, blockSize: 1 << 20 }] }],
  });
  const lpar = system.lpar("a");
  await lpar.boot();
  await lpar.write("region0", 0, new Uint8Array([1, 2, 3, 4]));
  await system.traceStart();
  const report = await lpar.kexec();
  assert.equal(report.state, "running");
  assert.ok(!report.dmesg.some((l) => l.includes("bind err")), report.dmesg.join("\n"));
  assert.deepEqual(
    (await system.traceTake()).map((t) => `${t.hcall}:${t.rc}`),
    ["H_SCM_BIND_MEM:H_SUCCESS", ...probeReads("5.2")],
  );
  assert.equal((await lpar.regions()).length, 1);
  assert.deepEqual(await lpar.read("region0", 0, 4), new Uint8Array([1, 2, 3, 4]));
});

workerTest(
  "qemu: H_OVERLAP only for a bind with a target address; queries are H_FUNCTION",
  async () => {
    await using system = await startSim({
      ...QEMU,
      lpars: [{ name: "a", kernel: "5.4", nvdimms: [{ drc: DRC, blocks: 2, blockSize: 1 << 20 }] }],
    });
    const lpar = system.lpar("a");
    await lpar.boot();
    const targeted = await lpar.hcall("H_SCM_BIND_MEM", DRC, 0, 2, 0x1000_0000_0000n, 0);
    assert.equal(targeted.rcName, "H_OVERLAP");
    assert.equal((await lpar.hcall("H_SCM_QUERY_BLOCK_MEM_BINDING", DRC, 0)).rcName, "H_FUNCTION");
    // The driver's own bind (target ~0) keeps succeeding, so a kexec'd 5.4 never queries.
    await system.traceStart();
    await lpar.kexec();
    const hcalls = (await system.traceTake()).map((t) => t.hcall);
    assert.deepEqual(hcalls, [
      "H_SCM_BIND_MEM",
      ...probeReads("5.4").map(() => "H_SCM_READ_METADATA"),
    ]);
  },
);

workerTest("qemu: a 5.4 driver that does get H_OVERLAP cannot query and unbinds + binds", () => {
  // In-process: the driver runs against a qemu core; its first BIND_MEM is
  // answered H_OVERLAP by hand, standing in for what QEMU never says to it.
  const core = new HypervisorCore({ personality: "qemu" });
  core.addDrc({ index: DRC, blockSize: 1n << 20n, blocks: 2, metadataSize: 1 << 17, uuid: "x" });
  core.assign(DRC, 1);
  const calls: string[] = [];
  let overlapped = false;
  const kernel = new GuestKernel({
    version: "5.4",
    deviceTree: buildDeviceTree([{
      drcIndex: DRC,
      blockSize: 1n << 20n,
      blocks: 2,
      metadataSize: 1 << 17,
      uuid: "00000000-0000-4000-8000-000000000001",
    }]),
    panicRequested: () => false,
    clock: () => 0,
  });
  runSync(kernel.boot(), (opcode, args) => {
    let { rc, rets } = core.hcall(1, opcode, args);
    if (opcode === OP.H_SCM_BIND_MEM && !overlapped) {
      overlapped = true;
      rc = H.OVERLAP;
      rets = rets.map(() => 0n);
    }
    calls.push(`${opcode === OP.H_SCM_BIND_MEM ? "BIND" : opcode.toString(16)}:${rcName(rc)}`);
    return { rc, rets };
  });
  assert.deepEqual(calls, [
    "BIND:H_OVERLAP",
    "3f4:H_FUNCTION", // QUERY_BLOCK_MEM_BINDING
    "3fc:H_SUCCESS", // UNBIND_ALL
    "BIND:H_SUCCESS",
    ...probeReads("5.4").map(() => "3e4:H_SUCCESS"), // READ_METADATA of the label index
  ]);
  const log = kernel.dmesg.lines().join("\n");
  assert.match(log, /Failed to query, trying an unbind followed by bind/);
  assert.doesNotMatch(log, /bind err/);
  assert.equal(kernel.libnvdimm.regions.length, 1);
});
