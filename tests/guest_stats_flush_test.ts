/**
 * Performance statistics and flushes from the mainline driver on real
 * workers: SCMSTATS through the LPAR's real memory, media counters fed by
 * DAX loads and stores, and H_SCM_FLUSH through long busy.
 */
import assert from "node:assert/strict";
import { startSim, workerTest } from "./worker_test.ts";

const DRC = 0x44100002;
const PLAIN = 0x44100003;
const IDS = [
  "CtlResCt",
  "CtlResTm",
  "PonSecs ",
  "MemLife ",
  "CritRscU",
  "HostLCnt",
  "HostSCnt",
  "HostSDur",
  "HostLDur",
  "MedRCnt ",
  "MedWCnt ",
  "MedRDur ",
  "MedWDur ",
  "CchRHCnt",
  "CchWHCnt",
  "FastWCnt",
];

function config(personality: "powervm" | "qemu") {
  return {
    hypervisor: { personality },
    lpars: [{
      name: "a",
      kernel: "mainline",
      nvdimms: [
        { drc: DRC, blocks: 2, blockSize: 1 << 20, hcallFlushRequired: true },
        { drc: PLAIN, blocks: 2, blockSize: 1 << 20 },
      ],
    }],
  };
}

workerTest("statistics change after DAX I/O (mainline, powervm)", async () => {
  await using system = await startSim(config("powervm"));
  const lpar = system.lpar("a");
  await lpar.boot();
  const before = new Map((await lpar.perfStats("nmem0")).map((s) => [s.id, s.value]));
  assert.deepEqual([...before.keys()], IDS);

  await lpar.write("region0", 100, new Uint8Array(4096).fill(0xA5)); // 65 cache lines
  assert.deepEqual(await lpar.read("region0", 128, 128), new Uint8Array(128).fill(0xA5));
  assert.deepEqual(await system.media(DRC), { reads: 2n, writes: 65n });

  const after = new Map((await lpar.perfStats("nmem0")).map((s) => [s.id, s.value]));
  assert.equal(after.get("MedWCnt ")! - before.get("MedWCnt ")!, 65n);
  assert.equal(after.get("MedRCnt ")! - before.get("MedRCnt ")!, 2n);
  assert.ok(after.get("HostSCnt")! > before.get("HostSCnt")!);
  // The other DRC saw nothing.
  assert.deepEqual(await system.media(PLAIN), { reads: 0n, writes: 0n });

  // papr/perf_stats as the kernel prints it.
  const text = await lpar.papr("region0", "perf_stats");
  const lines = text.trimEnd().split("\n");
  assert.equal(lines.length, IDS.length);
  for (const line of lines) assert.match(line, /^[A-Za-z]{1,8} ? ? ? = 0x[0-9A-F]{16}$/);
  assert.ok(
    lines.includes(`MedWCnt  = 0x${after.get("MedWCnt ")!.toString(16).padStart(16, "0")}`),
  );
});

// QEMU answers a pending flush with H_LONG_BUSY_ORDER_10_MSEC, the powervm
// model with H_LONG_BUSY_ORDER_1_MSEC; the driver sleeps the hinted time.
const PENDING = { qemu: /^H_LONG_BUSY_ORDER_10_MSEC$/, powervm: /^H_LONG_BUSY_ORDER_1_MSEC$/ };

for (const personality of ["powervm", "qemu"] as const) {
  workerTest(`flush completes through (long) busy (mainline, ${personality})`, async () => {
    await using system = await startSim(config(personality));
    const lpar = system.lpar("a");
    await lpar.boot();
    await system.traceStart();
    assert.equal(await lpar.flush("region0"), "H_SUCCESS");
    const flushes = (await system.traceTake()).filter((t) => t.hcall === "H_SCM_FLUSH");
    assert.ok(flushes.length >= 2, JSON.stringify(flushes));
    const pending = flushes.slice(0, -1).map((t) => t.rc);
    for (const rc of pending) assert.match(rc, PENDING[personality]);
    assert.equal(flushes.at(-1)!.rc, "H_SUCCESS");
    // A region without ibm,hcall-flush-required needs no hcall.
    assert.equal(await lpar.flush("region1"), "none");
    assert.ok(!(await lpar.dmesg()).some((l) => l.includes("flush error")));
  });
}

workerTest("qemu: a flush on an nvdimm without hcall-flush-required is H_UNSUPPORTED", async () => {
  await using system = await startSim(config("qemu"));
  const lpar = system.lpar("a");
  await lpar.boot();
  assert.equal((await lpar.hcall("H_SCM_FLUSH", PLAIN, 0)).rcName, "H_UNSUPPORTED");
  // And QEMU has no statistics: the probe says so and perf_stats is hidden.
  const dmesg = await lpar.dmesg();
  assert.ok(dmesg.some((l) => l.endsWith("Failed to query performance stats, Err:-2")));
  await assert.rejects(
    lpar.perfStats("nmem0"),
    /reading the performance statistics of nmem\d+ failed: -ENOENT/,
  );
});

workerTest("flushLatencyMs: a slower flush is polled through more long-busy answers", async () => {
  const polls = async (flushLatencyMs: number) => {
    const c = config("powervm");
    await using system = await startSim({
      ...c,
      hypervisor: { ...c.hypervisor, flushLatencyMs },
    });
    const lpar = system.lpar("a");
    await lpar.boot();
    await system.traceStart();
    assert.equal(await lpar.flush("region0"), "H_SUCCESS");
    return (await system.traceTake()).filter((t) => t.hcall === "H_SCM_FLUSH").length;
  };
  // The call that starts a flush always answers "pending"; then it is done.
  assert.equal(await polls(0), 2);
  // 30 ms of flush, slept 1 ms per long busy: many more polls.
  assert.ok(await polls(30) >= 10);
});
