/**
 * A misbehaving guest (issue 10, item 3): an LPAR worker that writes random
 * words into everything it holds (its channel, the shared doorbell, its DAX
 * bounce buffer and real memory) and issues requests of random kinds with
 * random registers, while its neighbours work. Nothing it does may reach
 * them: their data, their hcalls and the hypervisor stay as they were, and
 * once a DRC has moved away from it, the DRC's memory is out of its reach.
 */
import assert from "node:assert/strict";
import { ManagedSystem } from "../actors/managed_system.ts";
import { type Lpar, lparControl } from "../actors/lpar.ts";
import {
  CHANNEL_PAD,
  channelViews,
  createChannel,
  createDaxBuffer,
  createDoorbell,
  KIND,
  KIND_HCALL,
  REQ,
  RESP,
  STOP,
} from "../channel/layout.ts";
import type { Personality } from "../core/types.ts";
import type { MisbehaveReport } from "../runtime/types.ts";
import { LparWorker } from "../workers/lpar_worker.ts";
import { workerTest } from "./worker_test.ts";

const MiB = 1 << 20;
const OWN_H = 0x44100001, OWN_A = 0x44100002, OWN_B = 0x44100003, MOVED = 0x44100004;
/** Random writes per hostile round (every eighth also issues a request). */
const WRITES = 16_000;

function pattern(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (seed * 31 + i * 7) & 0xFF;
  return out;
}

/** Writes a pattern, kexecs (rebinding), and checks the pattern read back. */
async function honestWork(lpar: Lpar, seed: number, rounds: number): Promise<void> {
  for (let r = 0; r < rounds; r++) {
    const data = pattern(seed + r, 3 * 64 * 1024 + 5);
    await lpar.write("region0", 4096 * r, data);
    await lpar.kexec();
    assert.deepEqual(await lpar.read("region0", 4096 * r, data.length), data, `${lpar.name} r${r}`);
  }
}

for (const personality of ["powervm", "qemu"] as Personality[]) {
  workerTest(
    `misbehave (threads, ${personality}): a hostile guest cannot reach its neighbours`,
    async () => {
      const nvdimm = (drc: number) => ({ drc, blocks: 4, blockSize: 256 * MiB / 64 });
      await using system = await ManagedSystem.start({
        hypervisor: { personality },
        lpars: [
          { name: "h", kernel: "5.4", nvdimms: [nvdimm(OWN_H), nvdimm(MOVED)] },
          { name: "a", kernel: "5.4", nvdimms: [nvdimm(OWN_A)] },
          { name: "b", kernel: "5.3", nvdimms: [nvdimm(OWN_B)] },
        ],
      });
      const [h, a, b] = system.lpars;
      for (const lpar of system.lpars) await lpar.boot();
      const keepA = pattern(1, 64 * 1024), keepB = pattern(2, 64 * 1024);
      await a.write("region0", MiB, keepA);
      await b.write("region0", MiB, keepB);

      // Round 1: the guest turns hostile while its neighbours kexec and move data.
      const [report] = await Promise.all([
        lparControl(h).partition.misbehaveForTest(7, WRITES),
        honestWork(a, 10, 4),
        honestWork(b, 20, 4),
      ]);
      assert.equal(report.writes > WRITES / 2, true, JSON.stringify(report));
      assert.ok(report.requests > 0, JSON.stringify(report));
      assert.deepEqual(await a.read("region0", MiB, keepA.length), keepA);
      assert.deepEqual(await b.read("region0", MiB, keepB.length), keepB);
      assert.equal(system.failure, undefined);
      assert.deepEqual(await system.invariants(), []);

      // Round 2: the DRC moves from the hostile LPAR to A, which writes its data
      // there; the hostile guest holds nothing of that DRC's memory any more.
      await system.dlparMove(MOVED, h, a);
      const moved = (await a.regions()).find((r) => r.drc === MOVED);
      assert.ok(moved, "A has a region on the moved DRC");
      const secret = pattern(3, 256 * 1024);
      await a.write(moved.dev, 0, secret);
      await lparControl(h).partition.misbehaveForTest(8, WRITES);
      assert.deepEqual(await a.read(moved.dev, 0, secret.length), secret);
      assert.deepEqual(await a.read("region0", MiB, keepA.length), keepA);
      assert.equal(system.failure, undefined);
      assert.deepEqual(await system.invariants(), []);
      await honestWork(b, 30, 1);
    },
  );
}

workerTest(
  "misbehave (threads): a partition that never answers a DLPAR remove loses the DRC at the deadline",
  async () => {
    const nvdimm = (drc: number) => ({ drc, blocks: 4, blockSize: 256 * MiB / 64 });
    await using system = await ManagedSystem.start({
      lpars: [
        { name: "h", kernel: "5.4", nvdimms: [nvdimm(OWN_H), nvdimm(MOVED)] },
        { name: "a", kernel: "5.4", nvdimms: [nvdimm(OWN_A)] },
      ],
    }, { dlparTimeoutMs: 300 });
    const [h, a] = system.lpars;
    await h.boot();
    await a.boot();
    // The hostile guest keeps its worker busy for good (until the system stops it; the
    // raw handle's call is then dropped, never answered, so nothing waits for it).
    lparControl(h).partition.misbehaveForTest(9, 2 ** 31).catch(() => undefined);
    const { removed, added } = await system.dlparMove(MOVED, h, a);
    assert.equal(removed.forced, true, removed.message);
    assert.match(removed.message, /did not answer within 300 ms/);
    assert.equal(added.region !== undefined, true, added.message);
    const moved = (await a.regions()).find((r) => r.drc === MOVED)!;
    const data = pattern(4, 4096);
    await a.write(moved.dev, 0, data);
    assert.deepEqual(await a.read(moved.dev, 0, data.length), data);
    assert.ok((await system.bindings()).every((b) => b.drc !== MOVED || b.lpar === "a"));
    assert.equal(system.failure, undefined);
  },
);

Deno.test("misbehave: dlparTimeoutMs is checked before anything starts", async () => {
  for (const bad of [0, -1, 1.5, 3_600_001, Number.NaN]) {
    await assert.rejects(
      () => ManagedSystem.start({ lpars: [] }, { dlparTimeoutMs: bad }),
      /dlparTimeoutMs .*expected whole milliseconds from 1 to 3600000/,
    );
  }
});

Deno.test("misbehave: the hostile guest spares STOP, scribbles the channel's words, and asks hcalls as hcalls", () => {
  // The worker's class on this thread, its wait for RESP answered at once by a
  // stand-in hypervisor that notes what each request was.
  const channel = createChannel();
  const { header, regs } = channelViews(channel);
  const worker = new LparWorker();
  worker.init({
    lpar: 1,
    name: "h",
    channel,
    doorbell: createDoorbell(),
    daxBuffer: createDaxBuffer(),
    realMemory: new SharedArrayBuffer(64 * 1024),
  });
  const seen = { hcalls: 0, others: 0, hcallsOfOtherKind: 0 };
  const { load } = Atomics;
  const writes = 4_000;
  let report: MisbehaveReport;
  try {
    Atomics.load = ((array: Int32Array, index: number) => {
      if (array.buffer === channel && index === RESP && header[RESP] !== header[REQ]) {
        // port.call has the opcode in r3 (0 only rarely); port.request has r3 zero.
        if (regs[0] !== 0n) {
          seen.hcalls++;
          if (header[KIND] !== KIND_HCALL) seen.hcallsOfOtherKind++;
        } else seen.others++;
        header[RESP] = header[REQ];
      }
      return load(array, index);
    }) as typeof Atomics.load;
    report = worker.misbehaveForTest(11, writes);
  } finally {
    Atomics.load = load;
  }
  assert.equal(header[STOP], 0, "the STOP word was written");
  // Every eighth write asks (one that was to write STOP asks nothing): none stopped it.
  assert.ok(report.requests > writes / 8 - 20, JSON.stringify(report));
  assert.equal(seen.hcalls + seen.others, report.requests);
  assert.ok(seen.hcalls > 0 && seen.others > 0, JSON.stringify(seen));
  // An hcall goes with KIND clear, whatever the scribbles left in it.
  assert.equal(seen.hcallsOfOtherKind, 0, JSON.stringify(seen));
  // The channel's writes went to the words either side reads, none to its padding.
  const bytes = new Uint8Array(channel);
  const padding = [...bytes.subarray(0, CHANNEL_PAD), ...bytes.subarray(-CHANNEL_PAD)];
  assert.ok(padding.every((b) => b === 0), "a write landed in the channel's padding");
});
