/**
 * Durable state (storage/): when a store becomes durable, power loss, the
 * dirty-shutdown chain from the hypervisor's count to `ndctl list -DH`.
 */
import assert from "node:assert/strict";
import { ManagedSystem } from "../actors/managed_system.ts";
import { MemoryStore } from "../storage/memory_store.ts";
import type { SystemConfig } from "../actors/config.ts";

const DRC = 0x44100002;

function config(hcallFlushRequired = false): SystemConfig {
  return {
    lpars: [{
      name: "lpar1",
      kernel: "mainline",
      nvdimms: [{ drc: DRC, blocks: 2, blockSize: 1 << 20, hcallFlushRequired }],
    }],
  };
}

async function start(store: MemoryStore, seed = 1, hcallFlush = false) {
  const system = await ManagedSystem.start(config(hcallFlush), { runtime: "sim", seed, store });
  const lpar = system.lpar("lpar1");
  await lpar.boot();
  return { system, lpar };
}

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

async function dimmHealth(lpar: ReturnType<ManagedSystem["lpar"]>) {
  const json = await lpar.ndctlJson({ dimms: true, health: true }) as
    | Array<
      { health?: { shutdown_state?: string; shutdown_count?: number } }
    >
    | { health?: { shutdown_state?: string; shutdown_count?: number } };
  const dimm = Array.isArray(json) ? json[0] : json;
  return dimm.health!;
}

Deno.test("flushed stores survive a power loss, unflushed ones are lost and counted", async () => {
  const store = new MemoryStore();
  {
    const { system, lpar } = await start(store);
    await lpar.write("region0", 0, bytes("flushed!"));
    await lpar.flush("region0");
    await lpar.write("region0", 4096, bytes("volatile"));
    // Before the loss the guest reads its own store from the cache.
    assert.equal(text(await lpar.read("region0", 4096, 8)), "volatile");
    assert.equal((await dimmHealth(lpar)).shutdown_count, 0);
    const report = await system.powerLoss("none");
    assert.deepEqual(report.drcs, [{ drc: DRC, unflushedLines: 1, lostLines: 1 }]);
  }
  const { system, lpar } = await start(store);
  try {
    assert.equal(text(await lpar.read("region0", 0, 8)), "flushed!");
    assert.deepEqual([...await lpar.read("region0", 4096, 8)], [0, 0, 0, 0, 0, 0, 0, 0]);
    const health = await dimmHealth(lpar);
    assert.equal(health.shutdown_count, 1);
    assert.equal(health.shutdown_state, "dirty");
    assert.equal(await lpar.papr("nmem0", "dirty_shutdown"), "1\n");
  } finally {
    await system.stop();
  }
});

Deno.test("a power loss that keeps every line loses nothing: the count stays", async () => {
  const store = new MemoryStore();
  {
    const { system, lpar } = await start(store);
    await lpar.write("region0", 100, bytes("kept"));
    const report = await system.powerLoss("all");
    assert.equal(report.drcs[0].lostLines, 0);
  }
  const { system, lpar } = await start(store);
  try {
    assert.equal(text(await lpar.read("region0", 100, 4)), "kept");
    const health = await dimmHealth(lpar);
    assert.equal(health.shutdown_count, 0);
    assert.equal(health.shutdown_state, "clean");
  } finally {
    await system.stop();
  }
});

Deno.test("an orderly stop writes caches back; the count changes only at a power-on", async () => {
  const store = new MemoryStore();
  {
    const { system, lpar } = await start(store);
    await lpar.write("region0", 0, bytes("orderly"));
    // kexec is no power-on: the count the kernel reads is the same.
    await lpar.kexec();
    assert.equal(text(await lpar.read("region0", 0, 7)), "orderly");
    await system.stop();
  }
  const { system, lpar } = await start(store);
  try {
    assert.equal(text(await lpar.read("region0", 0, 7)), "orderly");
    assert.equal((await dimmHealth(lpar)).shutdown_count, 0);
  } finally {
    await system.stop();
  }
});

Deno.test("hcall-flush devices: written-back lines are durable only when H_SCM_FLUSH completes", async (t) => {
  await t.step("flushed through the hcall: durable", async () => {
    const store = new MemoryStore();
    {
      const { system, lpar } = await start(store, 1, true);
      await lpar.write("region0", 0, bytes("hcall"));
      assert.equal(await lpar.flush("region0"), "H_SUCCESS");
      await system.powerLoss("none");
    }
    const { system, lpar } = await start(store, 1, true);
    assert.equal(text(await lpar.read("region0", 0, 5)), "hcall");
    assert.equal((await dimmHealth(lpar)).shutdown_count, 0);
    await system.stop();
  });
  await t.step("the flush failed (H_HARDWARE): lost at the power loss", async () => {
    const store = new MemoryStore();
    {
      const { system, lpar } = await start(store, 1, true);
      await system.setFlushFailure(DRC, true);
      await lpar.write("region0", 0, bytes("hcall"));
      assert.equal(await lpar.flush("region0"), "H_HARDWARE");
      const report = await system.powerLoss("none");
      assert.equal(report.drcs[0].lostLines, 1);
    }
    const { system, lpar } = await start(store, 1, true);
    assert.deepEqual([...await lpar.read("region0", 0, 5)], [0, 0, 0, 0, 0]);
    assert.equal((await dimmHealth(lpar)).shutdown_count, 1);
    await system.stop();
  });
});

Deno.test("the label area is durable when WRITE_METADATA returns", async () => {
  const store = new MemoryStore();
  {
    const { system, lpar } = await start(store);
    const r = await lpar.writeLabel("nmem0", 256, bytes("namespace-index"));
    assert.equal(r.rc, 0);
    await system.powerLoss("none");
  }
  const { system, lpar } = await start(store);
  try {
    const r = await lpar.readLabel("nmem0", 256, 15);
    assert.equal(text(r.data!), "namespace-index");
    // Nothing was in the cache: no data lost, the count stays.
    assert.equal((await dimmHealth(lpar)).shutdown_count, 0);
  } finally {
    await system.stop();
  }
});

Deno.test("power-loss modes: subset and torn keep a seeded choice, the same for the same seed", async () => {
  async function run(mode: "subset" | "torn", seed: number) {
    const store = new MemoryStore();
    const { system, lpar } = await start(store, seed);
    const data = new Uint8Array(64 * 16).map((_, i) => (i % 251) + 1);
    await lpar.write("region0", 0, data);
    const report = await system.powerLoss(mode);
    const after = await start(store, seed);
    const back = await after.lpar.read("region0", 0, data.length);
    await after.system.stop();
    return { report, back };
  }
  for (const mode of ["subset", "torn"] as const) {
    const a = await run(mode, 7), b = await run(mode, 7);
    assert.deepEqual(a.back, b.back, `${mode}: same seed, same image`);
    assert.equal(a.report.drcs[0].unflushedLines, 16);
    const unit = mode === "subset" ? 64 : 8;
    let keptUnits = 0, lostUnits = 0;
    for (let at = 0; at < a.back.length; at += unit) {
      const piece = [...a.back.subarray(at, at + unit)];
      const zero = piece.every((v) => v === 0);
      const kept = piece.every((v, i) => v === ((at + i) % 251) + 1);
      assert(zero || kept, `${mode}: unit at ${at} is all old or all new`);
      if (kept) keptUnits++;
      else lostUnits++;
    }
    assert(keptUnits > 0 && lostUnits > 0, `${mode}: some kept, some lost`);
    assert(a.report.drcs[0].lostLines > 0);
  }
});

Deno.test("powerLoss without durable state is refused with what to do", async () => {
  const system = await ManagedSystem.start(config(), { runtime: "sim" });
  try {
    await assert.rejects(() => system.powerLoss(), /storage: \{ dir \}.*MemoryStore/);
    await assert.rejects(
      () => system.powerLoss("some" as never),
      /power-loss mode "some": accepted: none, all, subset, torn/,
    );
  } finally {
    await system.stop();
  }
});

Deno.test("swarm: a power loss keeps what was flushed, the model follows the media", async () => {
  const { runCase } = await import("../swarm/run.ts");
  const { parseCases } = await import("../swarm/case_file.ts");
  const { CASE_FORMAT, FAULT_KINDS } = await import("../swarm/types.ts");
  const faults = Object.fromEntries(FAULT_KINDS.map((k) => [k, k === "powerLoss"]));
  const c = {
    swarm: CASE_FORMAT,
    seed: 5,
    system: {
      lpars: [{
        name: "lpar1",
        kernel: "mainline",
        nvdimms: [{ drc: "0x44100000", blocks: 2, blockSize: 65536 }],
      }],
    },
    spares: [],
    faults,
    ops: [
      { op: "boot", lpar: "lpar1" },
      { op: "write", lpar: "lpar1", pick: 0, offset: 0, length: 300, byte: 9 },
      { op: "flush", lpar: "lpar1", pick: 0 },
      { op: "write", lpar: "lpar1", pick: 0, offset: 4096, length: 200, byte: 3 },
      { op: "powerLoss", mode: "torn" },
      { op: "boot", lpar: "lpar1" },
      { op: "read", lpar: "lpar1", pick: 0 },
      { op: "read", lpar: "lpar1", pick: 1 },
    ],
  };
  const [parsed] = parseCases(JSON.stringify(c), "inline");
  const result = await runCase(parsed);
  assert.equal(result.verdict, "pass", JSON.stringify(result.failure));
  const again = await runCase(parsed);
  assert.equal(again.traceHash, result.traceHash, "the same case, the same trace");
  assert.throws(
    () =>
      parseCases(
        JSON.stringify({ ...c, ops: [{ op: "powerLoss", mode: "some" }] }),
        "inline",
      ),
    /mode: "some" is not valid; expected "none", "all", "subset" or "torn"/,
  );
});

Deno.test("the count is the power-on's: kexec and reboot keep it, DLPAR keeps the device's state", async () => {
  const store = new MemoryStore();
  {
    const { system, lpar } = await start(store);
    await lpar.write("region0", 0, bytes("lost"));
    await system.powerLoss("none");
  }
  const { system, lpar } = await start(store);
  try {
    assert.equal((await dimmHealth(lpar)).shutdown_count, 1);
    await lpar.kexec();
    assert.equal((await dimmHealth(lpar)).shutdown_count, 1);
    await lpar.reboot();
    assert.equal((await dimmHealth(lpar)).shutdown_count, 1);
    await lpar.write("region0", 64, bytes("kept"));
    await lpar.flush("region0");
    // Out and back in by DLPAR: the same device, its data and count.
    await system.dlparRemove("lpar1", DRC);
    await system.dlparAdd("lpar1", { drc: DRC, blocks: 2, blockSize: 1 << 20 });
    // The hot-plugged region is the kernel's next one.
    assert.equal(text(await lpar.read("region1", 64, 4)), "kept");
    assert.equal((await dimmHealth(lpar)).shutdown_count, 1);
  } finally {
    await system.stop();
  }
});

Deno.test("threads: a store object cannot cross to the hypervisor's thread; no storage, no power loss", async () => {
  await assert.rejects(
    () => ManagedSystem.start(config(), { store: new MemoryStore() }),
    /StartOptions store: a store object lives in this thread; .* keeps durable state in storage.dir/,
  );
  const system = await ManagedSystem.start(config());
  try {
    await assert.rejects(
      () => system.powerLoss(),
      /powerLoss needs durable state: .*storage: \{ dir \}/,
    );
  } finally {
    await system.stop();
  }
});

Deno.test("the count reaches the guest as its kernel shows it: papr/dirty_shutdown from 5.14", async () => {
  const store = new MemoryStore();
  {
    const { system, lpar } = await start(store);
    await lpar.write("region0", 0, bytes("lost"));
    await system.powerLoss("none");
  }
  const system = await ManagedSystem.start(config(), { runtime: "sim", store });
  try {
    const lpar = system.lpar("lpar1");
    await lpar.boot({ kernel: "5.13" });
    await assert.rejects(() => lpar.papr("nmem0", "dirty_shutdown"), /has no papr\/dirty_shutdown/);
    assert.equal((await dimmHealth(lpar)).shutdown_count, undefined);
    await lpar.kexec({ kernel: "5.14" });
    assert.equal(await lpar.papr("nmem0", "dirty_shutdown"), "1\n");
    assert.equal((await dimmHealth(lpar)).shutdown_count, 1);
  } finally {
    await system.stop();
  }
});
