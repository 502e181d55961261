/**
 * Driver checks that only show in unusual binding states, on real workers.
 */
import assert from "node:assert/strict";
import { BIND_ANY_ADDR } from "../abi/hcalls.ts";
import { startSim, workerTest } from "./worker_test.ts";
import { probeReads } from "./label_reads.ts";

const MiB = 1 << 20;

workerTest("5.4: first and last block bound but not contiguously → unbind, then bind", async () => {
  const drc = 0x44100002;
  await using system = await startSim({
    lpars: [{
      name: "a",
      kernel: "5.4",
      paprScm: false,
      nvdimms: [{ drc, blocks: 4, blockSize: MiB }],
    }],
  });
  const lpar = system.lpar("a");
  await lpar.boot();
  // Bind block 0 and blocks 1..3 at addresses that leave a hole between them.
  const base = 0x100_0000_0000n;
  assert.equal((await lpar.hcall("H_SCM_BIND_MEM", drc, 0, 1, base, 0)).rcName, "H_SUCCESS");
  const rest = await lpar.hcall("H_SCM_BIND_MEM", drc, 1, 3, base + 16n * BigInt(MiB), 0);
  assert.equal(rest.rcName, "H_SUCCESS");
  await system.traceStart();
  const report = await lpar.kexec({ paprScm: true });
  const trace = (await system.traceTake()).map((t) => `${t.hcall}:${t.rc}`);
  // Both queries succeed, but last - first is not 3 blocks: the driver must not reuse it.
  assert.deepEqual(trace.slice(0, 3), [
    "H_SCM_BIND_MEM:H_OVERLAP",
    "H_SCM_QUERY_BLOCK_MEM_BINDING:H_SUCCESS",
    "H_SCM_QUERY_BLOCK_MEM_BINDING:H_SUCCESS",
  ]);
  assert.ok(trace.includes("H_SCM_UNBIND_ALL:H_SUCCESS"), trace.join(", "));
  assert.equal(trace.at(-65), "H_SCM_BIND_MEM:H_SUCCESS");
  assert.deepEqual(trace.slice(-64), probeReads("5.4"), "then the dimm probe reads its labels");
  assert.ok(
    report.dmesg.some((l) => l.endsWith("Failed to query, trying an unbind followed by bind")),
    report.dmesg.join("\n"),
  );
  const [region] = await lpar.regions();
  assert.equal(region.size, 4n * BigInt(MiB));
  const bound = (await system.bindings()).map((b) => b.address).sort((x, y) => (x < y ? -1 : 1));
  bound.forEach((address, i) => assert.equal(address, region.start + BigInt(i * MiB)));
});

workerTest(
  "5.3: a second H_OVERLAP fails the probe with -EBUSY; papr_scm is silent, the driver core warns",
  async () => {
    const shared = { drc: 0x44200000, blocks: 8, blockSize: MiB };
    await using system = await startSim({
      lpars: [
        { name: "owner", paprScm: false, nvdimms: [shared] },
        { name: "late", kernel: "5.3", nvdimms: [shared] },
      ],
    });
    const owner = system.lpar("owner"), late = system.lpar("late");
    await owner.boot();
    const bind = await owner.hcall(
      "H_SCM_BIND_MEM",
      shared.drc,
      0,
      shared.blocks,
      BIND_ANY_ADDR,
      0,
    );
    assert.equal(bind.rcName, "H_SUCCESS");
    await system.traceStart();
    const report = await late.boot();
    const trace = (await system.traceTake()).filter((t) => t.lpar === "late");
    // UNBIND_ALL only releases the caller's own blocks, so the retry meets H_OVERLAP again.
    assert.deepEqual(trace.map((t) => `${t.hcall}:${t.rc}`), [
      "H_SCM_BIND_MEM:H_OVERLAP",
      "H_SCM_UNBIND_ALL:H_SUCCESS",
      "H_SCM_BIND_MEM:H_OVERLAP",
    ]);
    const scm = report.dmesg.filter((l) => l.includes("papr_scm"));
    assert.equal(scm.length, 2, scm.join("\n"));
    assert.ok(scm[0].endsWith("Retrying bind after unbinding"));
    // drivers/base/dd.c warns of a probe failure other than -ENODEV and -ENXIO.
    assert.match(
      scm[1],
      /\] papr_scm: probe of ibm,persistent-memory:ibm,pmemory@44200000 failed with error -16$/,
    );
    assert.deepEqual(await late.regions(), []);
    assert.ok((await system.bindings()).every((b) => b.lpar === "owner"));
  },
);

workerTest("probe failures the driver core keeps quiet: 5.2 and 5.4 fail with -ENXIO", async () => {
  for (const kernel of ["5.2", "5.4"] as const) {
    await using system = await startSim({
      lpars: [{ name: "l", kernel, nvdimms: [{ drc: 0x44100002, blocks: 4 }] }],
    });
    const lpar = system.lpar("l");
    await lpar.boot();
    // A kexec of 5.2 meets H_OVERLAP: bind err, and no driver-core warning.
    const report = await lpar.kexec({ kernel: "5.2" });
    assert.ok(report.dmesg.some((l) => l.endsWith("bind err: -68")), kernel);
    assert.ok(!report.dmesg.some((l) => l.includes("probe of")), report.dmesg.join("\n"));
    assert.ok(report.dmesg.some((l) => l.endsWith("Using pSeries machine description")));
  }
});
