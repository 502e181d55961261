/**
 * Every pair of life-cycle operations asked at once on one LPAR: each is run
 * whole, one after the other (or refused with a clear error), and the LPAR,
 * its regions and the hypervisor agree afterwards.
 */
import assert from "node:assert/strict";
import type { ManagedSystem } from "../actors/managed_system.ts";
import { ManagedSystem as System } from "../actors/managed_system.ts";
import type { StartOptions } from "../actors/managed_system.ts";
import { startSim, workerTest } from "./worker_test.ts";

const DRC = 0x44100002, SPARE = 0x44100003, PEER_DRC = 0x44100004;

type Op = (system: ManagedSystem) => Promise<unknown>;

const OPS: Record<string, Op> = {
  boot: (s) => s.lpar("a").boot(),
  kexec: (s) => s.lpar("a").kexec(),
  panic: (s) => s.lpar("a").panic(),
  reboot: (s) => s.lpar("a").reboot(),
  shutdown: (s) => s.lpar("a").shutdown(),
  dlparAdd: (s) => s.dlparAdd("a", { drc: SPARE, blocks: 4 }),
  dlparRemove: (s) => s.dlparRemove("a", DRC),
  dlparMove: (s) => s.dlparMove(DRC, "a", "b"),
};

const CONFIG = {
  lpars: [
    {
      name: "a",
      kernel: "5.4",
      nvdimms: [{ drc: DRC, blocks: 40 }],
      supervision: { onPanic: "kdump" },
    },
    { name: "b", kernel: "5.4", nvdimms: [{ drc: PEER_DRC, blocks: 4 }] },
  ],
};

/** What must hold after any operations: the machine agrees with itself. */
async function agrees(system: ManagedSystem, what: string): Promise<void> {
  assert.deepEqual(await system.invariants(), [], what);
  const table = await system.bindings();
  for (const lpar of system.lpars) {
    const held = table.filter((b) => b.lpar === lpar.name);
    if (lpar.state !== "running") {
      if (lpar.state === "shut down" || lpar.state === "not activated") {
        assert.deepEqual(held, [], `${what}: ${lpar.name} is ${lpar.state} but holds blocks`);
      }
      continue;
    }
    for (const region of await lpar.regions()) {
      // A running kernel's region is bound: its first and last bytes read.
      await lpar.read(region.dev, 0, 1);
      await lpar.read(region.dev, Number(region.size) - 1, 1);
      const mine = held.filter((b) => b.drc === region.drc);
      assert.ok(mine.length > 0, `${what}: ${lpar.name} ${region.dev} has no binding`);
    }
  }
}

async function pairs(start: (config: unknown) => Promise<ManagedSystem>, names: string[][]) {
  for (const [first, second] of names) {
    const what = `${first} with ${second}`;
    const system = await start(CONFIG);
    try {
      await system.lpar("a").boot();
      await system.lpar("b").boot();
      const outcomes = await Promise.allSettled([OPS[first](system), OPS[second](system)]);
      for (const outcome of outcomes) {
        if (outcome.status === "rejected") {
          // Refused, with a message saying why: never a TypeError or a hang.
          assert.match(String(outcome.reason), /^(Range)?Error: /, `${what}: ${outcome.reason}`);
          assert.doesNotMatch(String(outcome.reason), /TypeError|undefined/, what);
        }
      }
      await agrees(system, what);
      // One kernel panics per panic asked (each panic makes the supervisor act once).
      const asked = [first, second].filter((op) => op === "panic").length;
      const acted = system.lpar("a").supervisorActions.length;
      assert.ok(acted <= asked, `${what}: ${acted} panics handled for ${asked} asked`);
    } finally {
      await system.stop();
    }
  }
}

const ALL = Object.keys(OPS).flatMap((a) => Object.keys(OPS).map((b) => [a, b]));

workerTest("operation pairs (sim): every ordered pair of operations on one LPAR", async () => {
  await pairs(startSim, ALL);
});

workerTest("operation pairs (threads): the races the attack found", async () => {
  const threads = (config: unknown) => System.start(config, {} as StartOptions);
  await pairs(threads, [
    ["reboot", "panic"],
    ["kexec", "dlparRemove"],
    ["dlparRemove", "kexec"],
    ["kexec", "dlparMove"],
    ["shutdown", "boot"],
  ]);
});

for (const runtime of ["sim", "threads"] as const) {
  workerTest(
    `operation pairs (${runtime}): a panic asked during a reboot panics one kernel, not two`,
    async () => {
      await using system = await System.start(CONFIG, { runtime });
      const a = system.lpar("a");
      await a.boot();
      await system.lpar("b").boot();
      // The old kernel is busy shutting down when the panic is asked: it panics at its
      // next hcall, the reboot goes on, and the new kernel is left alone.
      const rebooting = a.reboot();
      const panicking = a.panic();
      await Promise.all([rebooting, panicking]);
      assert.equal(a.state, "running");
      assert.deepEqual(a.supervisorActions, [], "no second kernel panicked");
      const dmesg = await a.dmesg();
      assert.ok(
        !dmesg.some((l) => l.includes("Kernel panic") || l.includes("elfcorehdr=")),
        dmesg.join("\n"),
      );
      await agrees(system, "reboot with panic");
    },
  );
}
