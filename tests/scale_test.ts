/**
 * Scale: 64 LPARs with 2 nvdimms each boot, bind, kexec and bind again, all
 * at once, on one managed system (bench/scale.ts). Checks correctness only;
 * wall time and memory are reported by the benchmark.
 * @module
 */
import assert from "node:assert/strict";
import { runScale, scaleDrc } from "../bench/scale.ts";
import { workerTest } from "./worker_test.ts";

const LPARS = 64, NVDIMMS = 2, BLOCKS = 2, BLOCK = 1 << 20;

workerTest("scale: 64 LPARs x 2 nvdimms boot, kexec and bind again", async (t) => {
  const report = await runScale({
    lpars: LPARS,
    nvdimms: NVDIMMS,
    blocks: BLOCKS,
    blockSize: BLOCK,
  });
  console.log(
    `scale: ${LPARS} LPARs x ${NVDIMMS} nvdimms in ${(report.wallMs / 1000).toFixed(2)} s, ` +
      `RSS ${report.rssMiB.toFixed(0)} MiB (peak ${report.peakRssMiB.toFixed(0)} MiB)`,
  );

  await t.step("no worker errors, every kernel running", () => {
    assert.deepEqual(report.errors, []);
    assert.equal(Object.keys(report.states).length, LPARS);
    for (const [name, state] of Object.entries(report.states)) assert.equal(state, "running", name);
  });

  await t.step("all regions back after kexec, at the same addresses", () => {
    for (let i = 0; i < LPARS; i++) {
      const name = `lpar${i + 1}`;
      const before = report.regionsBefore[name], after = report.regionsAfter[name];
      assert.equal(before.length, NVDIMMS, `${name} before`);
      assert.deepEqual(
        after.map((r) => r.drc).sort(),
        Array.from({ length: NVDIMMS }, (_, j) => scaleDrc(i, j)).sort(),
        name,
      );
      const key = (r: { drc: number }) => r.drc;
      assert.deepEqual(
        [...after].sort((a, b) => key(a) - key(b)).map((r) => [r.drc, r.start, r.size]),
        [...before].sort((a, b) => key(a) - key(b)).map((r) => [r.drc, r.start, r.size]),
        name,
      );
    }
  });

  await t.step("binding table consistent, invariants empty", () => {
    assert.deepEqual(report.invariants, []);
    assert.equal(report.bindings.length, LPARS * NVDIMMS * BLOCKS);
    const regions = new Map(
      Object.entries(report.regionsAfter).flatMap(([name, rs]) =>
        rs.map((r) => [r.drc, { name, start: r.start }] as const)
      ),
    );
    for (const b of report.bindings) {
      const owner = regions.get(b.drc);
      assert.ok(owner, `drc 0x${b.drc.toString(16)} has no region`);
      assert.equal(b.lpar, owner.name);
      assert.equal(b.state, "bound");
      assert.equal(b.address, owner.start + BigInt(b.block * BLOCK));
    }
  });
});
