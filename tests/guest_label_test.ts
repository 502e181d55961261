/**
 * The label (metadata) area through the guest drivers on real workers:
 * split into 8/4/2/1-byte hcalls, kept by the hypervisor across kexec and
 * kdump, and the 5.3/5.4 off-by-one that hides the last bytes.
 */
import assert from "node:assert/strict";
import { startSim, workerTest } from "./worker_test.ts";

const DRC = 0x44100002;
const LABEL = 128 * 1024;

function config(kernel: string) {
  return {
    lpars: [{ name: "a", kernel, nvdimms: [{ drc: DRC, blocks: 4, blockSize: 1 << 20 }] }],
  };
}

const pattern = (n: number, seed: number) =>
  Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xFF);

workerTest(
  "labels written by one kernel read back after kexec and after panic + kdump",
  async () => {
    await using system = await startSim(config("5.2"));
    const lpar = system.lpar("a");
    await lpar.boot();
    // 5.2 moves one byte per command and per hcall.
    await system.traceStart();
    const first = pattern(37, 1);
    assert.deepEqual(await lpar.writeLabel("nmem0", 5, first), { rc: 0 });
    const writes = (await system.traceTake()).filter((t) => t.hcall === "H_SCM_WRITE_METADATA");
    assert.equal(writes.length, 37);

    // A later kernel reuses the binding and reads what 5.2 wrote.
    await lpar.kexec({ kernel: "5.4" });
    assert.deepEqual((await lpar.readLabel("region0", 5, 37)).data, first);
    const second = pattern(64, 9);
    assert.equal((await lpar.writeLabel(DRC, 1000, second)).rc, 0);

    // Mainline moves 8 bytes per command: 37 bytes = 4 × 8, then 4 + 1.
    await lpar.kexec({ kernel: "mainline" });
    await system.traceStart();
    assert.deepEqual((await lpar.readLabel("nmem0", 5, 37)).data, first);
    const reads = (await system.traceTake()).filter((t) => t.hcall === "H_SCM_READ_METADATA");
    assert.deepEqual(reads.map((t) => t.rc), Array(6).fill("H_SUCCESS"));

    // The label area lives in the hypervisor: a crash kernel sees it too.
    await lpar.panic();
    assert.equal(lpar.state, "panicked");
    const report = await lpar.kexec({ kernel: "5.3" });
    assert.ok(report.dmesg.some((l) => l.includes("elfcorehdr=")));
    assert.deepEqual((await lpar.readLabel("nmem0", 5, 37)).data, first);
    assert.deepEqual((await lpar.readLabel("nmem0", 1000, 64)).data, second);
  },
);

workerTest("label bounds: 5.4 cannot reach the last bytes, mainline and 5.2 can", async () => {
  await using system = await startSim(config("5.2"));
  const lpar = system.lpar("a");
  const tail = pattern(8, 3);

  await lpar.boot();
  // 5.2 checks each byte's offset only: the very last byte is fine.
  assert.equal((await lpar.writeLabel("nmem0", LABEL - 8, tail)).rc, 0);
  assert.deepEqual((await lpar.readLabel("nmem0", LABEL - 1, 1)).data, tail.subarray(7));

  await lpar.kexec({ kernel: "5.4" });
  // offset + length >= size: the command that ends at the last byte fails.
  for (const [offset, length] of [[LABEL - 8, 8], [LABEL - 1, 1], [LABEL - 3, 3]]) {
    assert.deepEqual(await lpar.readLabel("nmem0", offset, length), { rc: -22, error: "EINVAL" });
  }
  assert.deepEqual(await lpar.writeLabel("nmem0", LABEL - 8, tail), { rc: -22, error: "EINVAL" });
  // One byte short of the end is still readable.
  const before = new Uint8Array([0, ...tail.subarray(0, 7)]);
  assert.deepEqual((await lpar.readLabel("nmem0", LABEL - 9, 8)).data, before);

  await lpar.kexec({ kernel: "mainline" });
  assert.deepEqual((await lpar.readLabel("nmem0", LABEL - 8, 8)).data, tail);
  assert.deepEqual((await lpar.readLabel("nmem0", LABEL - 1, 1)).data, tail.subarray(7));
  assert.equal((await lpar.writeLabel("nmem0", LABEL - 2, new Uint8Array([1, 2]))).rc, 0);
  // Past the end, libnvdimm refuses before the driver is asked.
  assert.deepEqual(await lpar.readLabel("nmem0", LABEL - 4, 8), { rc: -6, error: "ENXIO" });
});
