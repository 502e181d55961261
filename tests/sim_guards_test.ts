/**
 * Guards of the runtimes against bad guest code and misuse: a bad effect
 * fails its own call only; a runaway call is stopped; a stop ends a sleep;
 * both runtimes hand callers copies and the same kind of errors; seeds do
 * not collide; a forced release forgets the unbinds in progress.
 */
import assert from "node:assert/strict";
import { BIND_ANY_ADDR, H, OP, UNBIND_SCOPE } from "../abi/hcalls.ts";
import { resolveConfig } from "../actors/config.ts";
import { ManagedSystem } from "../actors/managed_system.ts";
import { ChannelStopped, GuestPort } from "../channel/guest_port.ts";
import { channelViews, createChannel, createDoorbell, STOP } from "../channel/layout.ts";
import { HypervisorCore } from "../core/hypervisor.ts";
import { PaprScm54 } from "../guest/papr_scm/v5_4.ts";
import type { Task } from "../guest/task.ts";
import { SeededRandom } from "../runtime/sim/random.ts";
import { Scheduler, SimPartition } from "../runtime/sim/scheduler.ts";
import { runBlocking } from "../workers/lpar_worker.ts";
import { startSim, workerTest } from "./worker_test.ts";

const DRC = 0x44100002;

/** A 5.4 driver whose probe yields `effect` before it binds. */
function yielding(effect: unknown) {
  return class BadYield extends PaprScm54 {
    override *probe(): Task<number> {
      // deno-lint-ignore no-explicit-any
      yield effect as any;
      return yield* super.probe();
    }
  };
}

for (
  const [what, effect, message] of [
    ["a sleep of NaN ms", { kind: "sleep", ms: NaN }, /sleep of NaN ms: expected a time from 0/],
    ["a sleep of forever", { kind: "sleep", ms: Infinity }, /sleep of Infinity ms/],
    ["a number as a register", {
      kind: "hcall",
      opcode: OP.H_SCM_HEALTH,
      args: [DRC],
    }, /hcall argument r4: expected a bigint/],
    ["an unknown effect", { kind: "yield" }, /unknown effect kind "yield"/],
  ] as const
) {
  workerTest(`sim: ${what} fails that partition's call only`, async () => {
    await using system = await ManagedSystem.start({
      lpars: [
        { name: "bad", kernel: "5.4", nvdimms: [{ drc: DRC, blocks: 2 }] },
        { name: "good", kernel: "5.3", nvdimms: [{ drc: 0x44100003, blocks: 2 }] },
      ],
    }, { runtime: "sim", drivers: { "5.4": yielding(effect) } });
    const [bad, good] = system.lpars;
    const [a, b] = await Promise.allSettled([bad.boot(), good.boot()]);
    assert.equal(a.status, "rejected");
    assert.match(String((a as PromiseRejectedResult).reason), message);
    assert.equal(b.status, "fulfilled");
    assert.equal((await good.regions()).length, 1);
    assert.equal(system.failure, undefined);
  });
}

Deno.test("threads: runBlocking throws a bad effect back into the task", () => {
  const port = new GuestPort(createChannel(), createDoorbell());
  function* task(): Task<string> {
    try {
      yield { kind: "sleep", ms: -1 };
      return "slept";
    } catch (error) {
      return (error as Error).message;
    }
  }
  assert.match(runBlocking(task(), port), /sleep of -1 ms: expected a time from 0 to 3600000 ms/);
});

Deno.test("threads: a sleeping guest wakes with ChannelStopped once the channel is stopped", () => {
  const channel = createChannel();
  const port = new GuestPort(channel, createDoorbell());
  port.sleep(1);
  Atomics.store(channelViews(channel).header, STOP, 1);
  assert.throws(() => port.sleep(3_600_000), ChannelStopped);
});

workerTest("threads: stop ends a guest in a long-busy sleep (a 60 s flush)", async () => {
  const system = await ManagedSystem.start({
    hypervisor: { flushLatencyMs: 60_000 },
    lpars: [{
      name: "l",
      kernel: "mainline",
      nvdimms: [{ drc: DRC, blocks: 2, hcallFlushRequired: true }],
    }],
  });
  const lpar = system.lpars[0];
  await lpar.boot();
  const flushing = lpar.flush("region0").then(() => "flushed", (error: Error) => error.message);
  // Its first answer is a 10 s long busy, which the guest sleeps; stop then. (On a machine
  // too slow to have asked by now, the stop comes first: it must end the call all the same.)
  await new Promise((resolve) => setTimeout(resolve, 300));
  await system.stop();
  assert.match(await flushing, /was stopped/);
});

Deno.test("sim: a runaway call is stopped at the effect limit; the partition goes on", async () => {
  const partition = new SimPartition(1, "p", 100);
  const scheduler = new Scheduler(new SeededRandom(1), () => ({
    result: { rc: H.BUSY, rets: new Array(9).fill(0n) },
    elapsedNs: 0,
  }));
  scheduler.add(partition);
  let cleaned = false;
  const runaway = partition.submit(function* (): Task<never> {
    try {
      for (;;) yield { kind: "hcall", opcode: OP.H_SCM_HEALTH, args: [] };
    } finally {
      cleaned = true;
    }
  });
  const next = partition.submit(() => "next");
  while (scheduler.step() !== "idle");
  await assert.rejects(
    runaway,
    /p: a call yielded more than 100 hcalls and sleeps; stopped as a runaway loop/,
  );
  assert.equal(await next, "next");
  assert.ok(cleaned, "the abandoned task's finally ran");
});

workerTest(
  "sim: an H_BUSY unbind does its work inside the call (bounded hcalls, real cost)",
  async () => {
    await using system = await startSim({
      hypervisor: {
        unbindContinue: "busy",
        unbindSliceBlocks: 4,
        costs: { unbindMsPerBlock: 100 },
      },
      lpars: [{ name: "l", kernel: "5.3", nvdimms: [{ drc: DRC, blocks: 16 }] }],
    });
    const lpar = system.lpars[0];
    await lpar.boot();
    await system.traceStart();
    const t0 = system.clock();
    await lpar.kexec();
    const unbinds = (await system.traceTake()).filter((t) => t.hcall === "H_SCM_UNBIND_ALL");
    assert.deepEqual(unbinds.map((t) => t.rc), ["H_BUSY", "H_BUSY", "H_BUSY", "H_SUCCESS"]);
    // 16 blocks at 100 ms, plus 1 µs per hcall (6 of them, and 64 label reads at probe).
    assert.equal(system.clock() - t0, 1600e6 + 6000 + 64_000);
  },
);

workerTest("sim: callers get copies and errors as the threads runtime gives them", async () => {
  await using system = await startSim({
    lpars: [{ name: "l", kernel: "5.4", nvdimms: [{ drc: DRC, blocks: 2 }] }],
  });
  const lpar = system.lpars[0];
  await lpar.boot();
  const data = new Uint8Array([1, 2, 3, 4]);
  const writing = lpar.write("region0", 0, data);
  data.fill(9);
  await writing;
  assert.deepEqual(await lpar.read("region0", 0, 4), new Uint8Array([1, 2, 3, 4]));
  const failed = await lpar.hcall("H_SCM_HEALTH", 0x12345678);
  assert.equal(failed.rcName, "H_PARAMETER");
  failed.rets[0] = 1n; // the caller's own copy
  const error = await lpar.sysfs("nope").catch((e) => e);
  assert.ok(!(error instanceof RangeError), "comlink sends errors as plain Errors");
  assert.equal(error.name, "RangeError");
});

Deno.test("sim: seeds do not collide, however large", () => {
  const first = (seed: number) => new SeededRandom(seed).random64();
  assert.notEqual(first(0), first(2 ** 32 + 1));
  assert.notEqual(first(5), first(5 * 2 ** 32));
  assert.notEqual(new SeededRandom(7, 1).random64(), new SeededRandom(7, 2).random64());
  assert.equal(first(Number.MAX_SAFE_INTEGER), first(Number.MAX_SAFE_INTEGER));
});

Deno.test("sim: scmBudgetBytes must be a whole number of bytes", async () => {
  await assert.rejects(
    ManagedSystem.start({ lpars: [{ name: "l" }] }, { runtime: "sim", scmBudgetBytes: NaN }),
    /scmBudgetBytes null: expected a whole number of bytes from 0/,
  );
});

Deno.test("core: a forced release forgets the unbind in progress (it cannot free a new binding)", () => {
  const core = new HypervisorCore({ personality: "powervm", powervm: { unbindSliceBlocks: 2 } });
  core.addDrc({ index: DRC, blockSize: 1n << 20n, blocks: 8, metadataSize: 1 << 17, uuid: "u" });
  core.assign(DRC, 1);
  const bind = () => core.hcall(1, OP.H_SCM_BIND_MEM, [BigInt(DRC), 0n, 8n, BIND_ANY_ADDR, 0n]);
  assert.equal(bind().rc, H.SUCCESS);
  const started = core.hcall(1, OP.H_SCM_UNBIND_ALL, [BigInt(UNBIND_SCOPE.DRC), BigInt(DRC), 0n]);
  assert.equal(started.rc, H.LONG_BUSY_ORDER_1_MSEC);
  core.unassign(DRC, 1); // forced release
  core.assign(DRC, 1);
  assert.equal(bind().rc, H.SUCCESS);
  const resumed = core.hcall(1, OP.H_SCM_UNBIND_ALL, [
    BigInt(UNBIND_SCOPE.DRC),
    BigInt(DRC),
    started.rets[0],
  ]);
  assert.equal(resumed.rc, H.P3, "the old token is gone");
  assert.equal(core.bindings().length, 8);
});

workerTest("sim: dlpar moves an nvdimm larger than the threads runtime could hold", async () => {
  const big = { drc: DRC, blocks: 80 }; // 20 GiB
  await using system = await startSim({
    lpars: [{ name: "a", nvdimms: [big] }, { name: "b" }],
  });
  const [a, b] = system.lpars;
  await a.boot();
  await b.boot();
  await system.dlparMove(DRC, "a", "b");
  assert.deepEqual(a.nvdimms, []);
  assert.equal(b.nvdimms[0].drc, DRC);
  assert.equal((await b.regions())[0].size, 20n * 2n ** 30n);
});

Deno.test("config: costs are refused on the threads runtime (they are virtual time)", () => {
  const config = {
    hypervisor: { costs: { unbindMsPerBlock: 10 } },
    lpars: [{ name: "l" }],
  };
  assert.throws(
    () => resolveConfig(config, "threads"),
    /config\.hypervisor\.costs: costs are virtual time, spent only on the sim runtime/,
  );
  assert.equal(resolveConfig(config, "sim").hypervisor.costs.unbindMsPerBlock, 10);
  assert.throws(
    () => resolveConfig({ guest: { bootMs: 1 }, lpars: [{ name: "l" }] }, "threads"),
    /config\.guest: costs are virtual time/,
  );
  assert.throws(
    () => resolveConfig({ guest: { bootMs: -1 }, lpars: [{ name: "l" }] }, "sim"),
    /config\.guest\.bootMs: -1 is not valid; expected a number of milliseconds from 0 to 3600000/,
  );
});

Deno.test("sim: one LPAR writing all over its nvdimm leaves its neighbour's share of the SCM budget", async () => {
  const PAGE = 64 * 1024;
  // Two 256 MiB nvdimms and a budget of four pages: two pages each.
  await using system = await ManagedSystem.start({
    lpars: [
      { name: "greedy", nvdimms: [{ drc: 0x44100011, blocks: 1 }] },
      { name: "neighbour", nvdimms: [{ drc: 0x44100012, blocks: 1 }] },
    ],
  }, { runtime: "sim", scmBudgetBytes: 4 * PAGE });
  const [greedy, neighbour] = system.lpars;
  await Promise.all([greedy.boot(), neighbour.boot()]);
  await greedy.write("region0", 0, new Uint8Array(2 * PAGE).fill(1));
  await assert.rejects(
    greedy.write("region0", 2 * PAGE, new Uint8Array(1).fill(1)),
    /this nvdimm's share of the simulated SCM is spent: it holds 131072 bytes of pages, its share is 131072 \(of 262144, divided among the nvdimms before any partition ran, the smaller ones whole\), and this write needs 65536 more/,
  );
  assert.deepEqual(await greedy.read("region0", 2 * PAGE, 1), new Uint8Array(1), "nothing written");
  // The neighbour's two pages are still there for it.
  const data = new Uint8Array(2 * PAGE).map((_, i) => i % 253);
  await neighbour.write("region0", 0, data);
  assert.deepEqual(await neighbour.read("region0", 0, data.length), data);
});
