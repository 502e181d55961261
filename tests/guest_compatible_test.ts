/**
 * Which kernels bind to which device-tree nodes: an in-process kernel over the
 * pure core (no workers), one `ibm,pmemory-v2` node.
 */
import assert from "node:assert/strict";
import { HypervisorCore } from "../core/hypervisor.ts";
import { buildDeviceTree } from "../guest/device_tree.ts";
import { GuestKernel } from "../guest/kernel.ts";
import { runSync } from "../guest/task.ts";
import { atLeast, KERNEL_VERSIONS } from "../guest/papr_scm/mod.ts";

const DRC = 0x44100002;

function bootWith(version: (typeof KERNEL_VERSIONS)[number], compatible: string) {
  const core = new HypervisorCore({ personality: "powervm" });
  core.addDrc({ index: DRC, blockSize: 1n << 20n, blocks: 4, metadataSize: 1 << 17, uuid: "x" });
  core.assign(DRC, 1);
  const tree = buildDeviceTree([{
    drcIndex: DRC,
    blockSize: 1n << 20n,
    blocks: 4,
    metadataSize: 1 << 17,
    uuid: "1e5c7e1f-2d6a-4bd1-9f3c-3f4f1b2e9a01",
  }]);
  tree.children[0].children[0].properties.compatible = compatible;
  const kernel = new GuestKernel({
    version,
    deviceTree: tree,
    panicRequested: () => false,
    clock: () => 0,
  });
  runSync(kernel.boot(), (opcode, args) => core.hcall(1, opcode, args));
  return kernel.libnvdimm.regions.length;
}

Deno.test("papr_scm binds to ibm,pmemory in every version, to ibm,pmemory-v2 from 5.9", () => {
  for (const version of KERNEL_VERSIONS) {
    assert.equal(bootWith(version, "ibm,pmemory"), 1, version);
    assert.equal(bootWith(version, "ibm,pmemory-v2"), atLeast(version, "5.9") ? 1 : 0, version);
    assert.equal(bootWith(version, "ibm,something-else"), 0, version);
  }
});
