/**
 * The two runtimes over one machine: the same stories give the same answers
 * on `threads` and `sim`; `sim` is deterministic per seed, really interleaves
 * partitions, keeps virtual time and sparse SCM, and scales to PowerVM's
 * thousand partitions.
 */
import assert from "node:assert/strict";
import { ManagedSystem } from "../actors/managed_system.ts";
import { runScale } from "../bench/scale.ts";
import { type MatrixRow, runMatrix } from "../scenarios/matrix.ts";
import { runContention } from "../scenarios/contention.ts";
import { PAGE_BYTES } from "../runtime/sim/sparse_scm.ts";
import { SIM, startSim, workerTest } from "./worker_test.ts";
import { probeReads } from "./label_reads.ts";

const DRC = 0x44100002;

/** What a matrix row says, without anything that depends on timing. */
const answers = (rows: MatrixRow[]) =>
  rows.map((r) => ({
    kernel: r.kernel,
    hypervisor: r.hypervisor,
    mode: r.mode,
    ok: r.ok,
    error: r.error,
    regionBack: r.regionBack,
    addressReused: r.addressReused,
    data: r.data,
    hcallTrace: r.hcallTrace,
    messages: r.messages,
  }));

workerTest("runtimes: the whole matrix gives the same answers on threads and on sim", async () => {
  const threads = await runMatrix();
  const sim = await runMatrix({ start: SIM });
  assert.equal(sim.rows.length, threads.rows.length);
  assert.ok(sim.rows.every((r) => r.ok), JSON.stringify(sim.rows.filter((r) => !r.ok)));
  assert.deepEqual(answers(sim.rows), answers(threads.rows));
});

/** Two LPARs race for a shared DRC at boot; who wins is the scheduler's choice. */
async function race(seed: number) {
  const shared = { drc: 0x44200000, blocks: 8, blockSize: 1 << 20 };
  await using system = await ManagedSystem.start({
    hypervisor: { bindSliceBlocks: 1 },
    lpars: [
      { name: "a", kernel: "5.4", nvdimms: [shared] },
      { name: "b", kernel: "5.4", nvdimms: [shared] },
    ],
  }, { runtime: "sim", seed });
  const [a, b] = system.lpars;
  await Promise.all([a.boot(), b.boot()]);
  const winners = [];
  for (const l of system.lpars) if ((await l.regions()).length) winners.push(l.name);
  return {
    winners,
    dmesg: [...await a.dmesg(), ...await b.dmesg()],
    hash: system.simulation()!.traceHash,
    invariants: await system.invariants(),
  };
}

workerTest("sim: a seed replays exactly; seeds differ in how partitions interleave", async () => {
  const seen = new Set<string>();
  const hashes = new Set<string>();
  for (let seed = 1; seed <= 24; seed++) {
    const first = await race(seed), again = await race(seed);
    assert.deepEqual(again, first, `seed ${seed} replays`);
    assert.equal(first.winners.length, 1, `seed ${seed}: exactly one LPAR binds the shared DRC`);
    assert.deepEqual(first.invariants, []);
    seen.add(first.winners[0]);
    hashes.add(first.hash);
  }
  // The seeded scheduler really interleaves: both LPARs win for some seed.
  assert.deepEqual([...seen].sort(), ["a", "b"]);
  assert.ok(hashes.size > 1);
});

workerTest("sim: contention of 8 LPARs gives every LPAR its exact H_BUSY count", async () => {
  const report = await runContention({ lpars: 8, start: SIM });
  const again = await runContention({ lpars: 8, start: SIM });
  assert.deepEqual(again, report, "the same seed gives the same report, timings included");
  // Own nvdimm: 64 blocks in slices of 2, so 31 H_BUSY; a shared one adds 7 for its winner.
  for (const l of report.perLpar) {
    const won = report.shared.some((s) => s.winner === l.name);
    assert.equal(l.busy, won ? 31 + 7 : 31, l.name);
  }
  assert.ok(report.shared.every((s) => s.holders.length === 1 && s.loserSawOverlap));
  assert.deepEqual(report.invariants, []);
});

workerTest("sim: virtual time follows the costs; long busy says how long to wait", async () => {
  await using system = await startSim({
    hypervisor: { unbindSliceBlocks: 4, costs: { bindMsPerBlock: 10, unbindMsPerBlock: 250 } },
    guest: { bootMs: 2000 },
    lpars: [{ name: "l", kernel: "5.3", nvdimms: [{ drc: DRC, blocks: 8 }] }],
  });
  const lpar = system.lpars[0];
  const t0 = system.clock();
  await lpar.boot();
  // 2 s of boot, 8 blocks bound at 10 ms (in one slice of 16), then the dimm
  // probe's 64 READ_METADATA of the label index: 65 hcalls of 1 µs.
  assert.equal(system.clock() - t0, 2_000e6 + 80e6 + 65_000);
  await system.traceStart();
  const t1 = system.clock();
  await lpar.kexec();
  const trace = await system.traceTake();
  // Unbinding is two slices of 4 blocks at 250 ms: each 1 s, answered with a 1 s long busy.
  assert.deepEqual(trace.map((t) => `${t.hcall}→${t.rc}`), [
    "H_SCM_BIND_MEM→H_OVERLAP",
    "H_SCM_UNBIND_ALL→H_LONG_BUSY_ORDER_1_SEC",
    "H_SCM_UNBIND_ALL→H_LONG_BUSY_ORDER_1_SEC",
    "H_SCM_UNBIND_ALL→H_SUCCESS",
    "H_SCM_BIND_MEM→H_SUCCESS",
    ...probeReads("5.3", "→"),
  ]);
  const seconds = (system.clock() - t1) / 1e9;
  assert.ok(Math.abs(seconds - (2 + 2 + 0.08)) < 0.001, `${seconds} s`);
  // dmesg stamps come from the virtual clock.
  const retry = (await lpar.dmesg()).find((l) => l.includes("Retrying bind"));
  assert.match(retry!, /^\[\s+2\.000001\] /);
});

workerTest("sim: a 60 GiB nvdimm takes memory only for the pages written", async () => {
  await using system = await ManagedSystem.start({
    lpars: [{ name: "l", nvdimms: [{ drc: DRC, blocks: 240 }] }],
  }, { runtime: "sim", scmBudgetBytes: 4 * PAGE_BYTES });
  const lpar = system.lpars[0];
  await lpar.boot();
  const [region] = await lpar.regions();
  assert.equal(region.size, 60n * 2n ** 30n);
  const data = new Uint8Array(3 * PAGE_BYTES).map((_, i) => i % 251);
  const far = 59 * 2 ** 30;
  await lpar.write("region0", far, data);
  assert.deepEqual(await lpar.read("region0", far, data.length), data);
  assert.deepEqual(await lpar.read("region0", 0, 16), new Uint8Array(16), "never written: zero");
  // The budget is four pages, all this nvdimm's share: a write needing two more fails, says
  // why, and writes nothing.
  await assert.rejects(
    lpar.write("region0", 2 ** 30, new Uint8Array(PAGE_BYTES + 1).fill(7)),
    /this nvdimm's share of the simulated SCM is spent: it holds 196608 bytes of pages, its share is 262144 \(of 262144, divided among the nvdimms before any partition ran, the smaller ones whole\), and this write needs 131072 more/,
  );
  assert.deepEqual(await lpar.read("region0", 2 ** 30, 8), new Uint8Array(8));
});

workerTest("sim: 1,000 LPARs x 2 nvdimms boot, kexec and bind again", async () => {
  const report = await runScale({ lpars: 1000, start: SIM });
  assert.deepEqual(report.invariants, []);
  assert.deepEqual(report.errors, []);
  assert.equal(report.bindings.length, 1000 * 2 * 2);
  for (const [name, regions] of Object.entries(report.regionsAfter)) {
    assert.equal(regions.length, 2, name);
    assert.deepEqual(regions.map((r) => r.start), report.regionsBefore[name].map((r) => r.start));
  }
});

workerTest("sim: the tracer handed in hears every record the hash is made of", async () => {
  const run = async () => {
    const lines: string[] = [];
    await using system = await ManagedSystem.start({
      lpars: [{ name: "l", kernel: "5.3", nvdimms: [{ drc: DRC, blocks: 4 }] }],
    }, { runtime: "sim", seed: 3, tracer: (line) => lines.push(line) });
    await system.lpars[0].boot();
    return { lines, hash: system.simulation()!.traceHash };
  };
  const { lines, hash } = await run();
  // H_SCM_BIND_MEM (0x3ec) of the whole DRC at any address, answered H_SUCCESS (0).
  assert.ok(lines.some((l) => /^\d+ 1 h3ec 44100002,0,4,ffffffffffffffff,0 0 /.test(l)));
  assert.ok(lines.some((l) => / 1 boot done$/.test(l)));
  assert.deepEqual(await run(), { lines, hash });
  // Untraced, the hash is folded from the numbers directly: it must be the same.
  await using quiet = await ManagedSystem.start({
    lpars: [{ name: "l", kernel: "5.3", nvdimms: [{ drc: DRC, blocks: 4 }] }],
  }, { runtime: "sim", seed: 3 });
  await quiet.lpars[0].boot();
  assert.equal(quiet.simulation()!.traceHash, hash);
});
