/**
 * Dimm health on real workers: the mainline driver's H_SCM_HEALTH (r4 & r5),
 * `papr/flags`, and what `ndctl list -D` / `-DH` show, with health injected
 * at run time through the managed system.
 */
import assert from "node:assert/strict";
import { startSim, workerTest } from "./worker_test.ts";

const DRC = 0x44100002;

function config(kernel: string, personality: "powervm" | "qemu" = "powervm") {
  return {
    hypervisor: { personality },
    lpars: [{
      name: "a",
      kernel,
      nvdimms: [{ drc: DRC, blocks: 2, blockSize: 1 << 20, persistenceFailedCount: 3 }],
    }],
  };
}

workerTest(
  "health injection shows in papr/flags and ndctl list -D / -DH (mainline, powervm)",
  async () => {
    await using system = await startSim(config("mainline"));
    const lpar = system.lpar("a");
    await lpar.boot();

    assert.equal(await lpar.papr("nmem0", "flags"), "");
    assert.equal(await lpar.papr("nmem0", "dirty_shutdown"), "3\n");
    assert.deepEqual(await lpar.ndctlJson({ dimms: true }), [{ dev: "nmem0" }]);
    assert.deepEqual(await lpar.ndctlJson({ dimms: true, health: true }), [{
      dev: "nmem0",
      health: {
        health_state: "ok",
        life_used_percentage: 0,
        shutdown_state: "clean",
        shutdown_count: 3,
      },
    }]);

    await system.setHealth(DRC, ["SHUTDOWN_DIRTY", "HEALTH_FATAL"]);
    // papr/flags answers from the health the probe read, for 60 s (MIN_HEALTH_QUERY_INTERVAL);
    // an empty PAPR_PDSM_SMART_INJECT (5.18) drops that cache.
    assert.equal(await lpar.papr("nmem0", "flags"), "");
    await lpar.smartInject("nmem0", {});
    assert.equal(await lpar.papr("nmem0", "flags"), "flush_fail smart_notify \n");
    const fatal = await lpar.ndctlJson({ dimms: true, health: true });
    assert.deepEqual(fatal, [{
      dev: "nmem0",
      flag_failed_flush: true,
      flag_smart_event: true,
      health: {
        health_state: "fatal",
        life_used_percentage: 100,
        shutdown_state: "dirty",
        shutdown_count: 3,
      },
    }]);
    // Key order is ndctl's: dev, flags, then health; inside health as json-smart.c adds them.
    assert.deepEqual(Object.keys((fatal as Record<string, unknown>[])[0]), [
      "dev",
      "flag_failed_flush",
      "flag_smart_event",
      "health",
    ]);
    const text = await lpar.ndctl({ dimms: true, health: true });
    assert.ok(text.indexOf('"health_state"') < text.indexOf('"shutdown_state"'), text);

    await system.setHealth(DRC, ["HEALTH_UNHEALTHY", "EMPTY", "ENCRYPTED", "SCRUBBED_AND_LOCKED"]);
    await lpar.smartInject("nmem0", {});
    assert.equal(
      await lpar.papr("nmem0", "flags"),
      "not_armed restore_fail encrypted smart_notify scrubbed locked \n",
    );
    const [dimm] = await lpar.ndctlJson({ dimms: true, health: true }) as Record<string, unknown>[];
    assert.deepEqual(Object.keys(dimm), [
      "dev",
      "flag_failed_arm",
      "flag_failed_restore",
      "flag_smart_event",
      "health",
    ]);
    assert.equal((dimm.health as Record<string, unknown>).health_state, "non-critical");

    await system.setHealth(DRC, ["HEALTH_CRITICAL"]);
    const [critical] = await lpar.ndctlJson({ dimms: true, health: true }) as Record<
      string,
      Record<string, unknown>
    >[];
    assert.equal(critical.health.health_state, "critical");
    assert.equal(critical.health.life_used_percentage, 95);
  },
);

workerTest(
  "health under qemu: only UNARMED is valid (r4 & r5); 5.4 has no health at all",
  async () => {
    await using system = await startSim(config("mainline", "qemu"));
    const lpar = system.lpar("a");
    await lpar.boot();
    await system.setHealth(DRC, ["UNARMED", "HEALTH_FATAL", "SHUTDOWN_DIRTY"]);
    await lpar.smartInject("nmem0", {}); // drops the health cache the probe filled
    assert.equal(await lpar.papr("nmem0", "flags"), "not_armed \n");
    // QEMU has no statistics: no fuel gauge, and perf_stats is hidden.
    assert.deepEqual(await lpar.ndctlJson({ dimms: true, health: true }), [{
      dev: "nmem0",
      flag_failed_arm: true,
      health: { health_state: "ok", shutdown_state: "clean", shutdown_count: 3 },
    }]);
    await assert.rejects(lpar.papr("nmem0", "perf_stats"), /no papr\/perf_stats/);

    await lpar.kexec({ kernel: "5.4" });
    assert.deepEqual(await lpar.ndctlJson({ dimms: true, health: true }), [{ dev: "nmem0" }]);
    await assert.rejects(lpar.papr("nmem0", "flags"), /no papr\/flags/);
  },
);
