/**
 * Every papr_scm version under powervm (sim runtime): the exact hcall
 * sequence and the default-level dmesg lines of boot, kexec, kdump, clean
 * reboot, shutdown and DLPAR remove; then, for each version-gated behaviour,
 * a test that it is absent in the version before and present from its own;
 * and the 2022 regression pair (5.19-rc1 panics at probe where 5.19 boots).
 */
import assert from "node:assert/strict";
import type { ManagedSystem } from "../actors/managed_system.ts";
import { atLeast, KERNEL_VERSIONS, type KernelVersion } from "../guest/papr_scm/mod.ts";
import { probeReads } from "./label_reads.ts";
import { startSim, workerTest } from "./worker_test.ts";

const DRC = 0x44100002;
const P = "papr_scm ibm,persistent-memory:ibm,pmemory@44100002: ";

const BIND = "H_SCM_BIND_MEM:H_SUCCESS";
const OVERLAP = "H_SCM_BIND_MEM:H_OVERLAP";
const QUERY = "H_SCM_QUERY_BLOCK_MEM_BINDING:H_SUCCESS";
const STATS = "H_SCM_PERFORMANCE_STATS:H_SUCCESS";
const HEALTH = "H_SCM_HEALTH:H_SUCCESS";
/** One H_SCM_FLUSH as powervm runs it: two long-busy polls (2 ms), then done. */
const FLUSH = [
  "H_SCM_FLUSH:H_LONG_BUSY_ORDER_1_MSEC",
  "H_SCM_FLUSH:H_LONG_BUSY_ORDER_1_MSEC",
  "H_SCM_FLUSH:H_SUCCESS",
];

/** What each version's probe issues after its bind (powervm, statistics collected). */
const PROBE_TAIL: Record<KernelVersion, string[]> = {
  "5.2": [],
  "5.3": [],
  "5.4": [],
  "5.5": [],
  "5.7": [],
  "5.8": [],
  // 2d02bf835e57: the stats size query ends papr_scm_nvdimm_init.
  "5.9": [STATS],
  // adb68c38d8d4: health before the dimm is created; the stats query still last.
  "5.13": [HEALTH, STATS],
  // 5.14: the stats query moves before papr_scm_nvdimm_init.
  "5.14": [STATS, HEALTH],
  // 4c08d4bbc089: the PMU lists the statistics after papr_scm_nvdimm_init.
  "5.18": [STATS, HEALTH, STATS],
  "5.19-rc1": [STATS, HEALTH, STATS],
  "5.19": [STATS, HEALTH, STATS],
  mainline: [STATS, HEALTH, STATS],
};

/** What a successful probe issues after its bind: the driver's tail, then libnvdimm's label reads. */
const probeTail = (v: KernelVersion) => [...PROBE_TAIL[v], ...probeReads(v)];

/** The probe of a kernel that finds its blocks still bound (after kexec or kdump). */
function rebind(v: KernelVersion): string[] {
  if (v === "5.2") return [OVERLAP]; // bind err: -68, the probe fails
  if (v === "5.3") return [OVERLAP, "H_SCM_UNBIND_ALL:H_SUCCESS", BIND, ...probeTail(v)];
  return [OVERLAP, QUERY, QUERY, ...probeTail(v)];
}

/** device_shutdown() of a running kernel: H_SCM_FLUSH from 5.13 (ibm,hcall-flush-required). */
const shutdownFlush = (v: KernelVersion) => (atLeast(v, "5.13") ? FLUSH : []);

const strip = (lines: string[]) => lines.map((l) => l.replace(/^\[[ \d]+\.\d{6}\] /, ""));

/** The banner every boot prints first, all stamped 0.000000. */
function assertBanner(lines: string[], v: KernelVersion, kdump: boolean) {
  assert.match(lines[0], /^\[ {4}0\.000000\] Using pSeries machine description$/);
  assert.match(
    lines[1],
    /^\[ {4}0\.000000\] Linux version 5\.\d+\.0(-rc1)?-papr-scm-sim \(sim@papr-scm-sim\) \(gcc \(GCC\) 9\.3\.0\) #1 SMP \w{3} \w{3} \d+ [\d:]+ UTC 20\d\d$/,
  );
  const release = v === "mainline" ? "5.19.0" : v === "5.19-rc1" ? "5.19.0-rc1" : `${v}.0`;
  assert.ok(lines[1].includes(`Linux version ${release}-`), lines[1]);
  assert.match(lines[2], /^\[ {4}0\.000000\] Kernel command line: BOOT_IMAGE=/);
  assert.equal(lines[2].includes(" elfcorehdr="), kdump, lines[2]);
}

async function traced(system: ManagedSystem, step: () => Promise<unknown>): Promise<string[]> {
  await system.traceStart();
  await step();
  return (await system.traceTake()).map((h) => `${h.hcall}:${h.rc}`);
}

for (const v of KERNEL_VERSIONS) {
  workerTest(
    `${v} on powervm: hcalls and default-level dmesg of boot, kexec, kdump, reboot, shutdown, DLPAR remove`,
    async () => {
      await using system = await startSim({
        lpars: [{
          name: "a",
          kernel: v,
          nvdimms: [{ drc: DRC, blocks: 4, hcallFlushRequired: true }],
          supervision: { onPanic: "stay-down" },
        }],
      });
      const lpar = system.lpar("a");
      const dmesg = async () => await lpar.dmesg();
      const body = async () => strip(await dmesg()).slice(3);

      assert.deepEqual(await traced(system, () => lpar.boot()), [BIND, ...probeTail(v)]);
      assertBanner(await dmesg(), v, false);
      assert.deepEqual(await body(), []);

      const rebound = v === "5.2"
        ? [P + "bind err: -68"]
        : v === "5.3"
        ? [P + "Retrying bind after unbinding"]
        : [];
      assert.deepEqual(
        await traced(system, () => lpar.kexec()),
        [...shutdownFlush(v), ...rebind(v)],
        "kexec: device_shutdown flushes, then the new kernel's probe",
      );
      assertBanner(await dmesg(), v, false);
      assert.deepEqual(await body(), rebound);

      // kdump: the panicked kernel runs no device_shutdown, so no flush.
      assert.deepEqual(
        await traced(system, async () => {
          await lpar.panic();
          await lpar.kexec();
        }),
        v === "5.2" ? [OVERLAP] : rebind(v),
      );
      assertBanner(await dmesg(), v, true);
      assert.deepEqual(await body(), rebound);

      // A clean reboot: device_shutdown (a flush only if a region is registered), then a
      // fresh bind after the partition restart released everything.
      const hadRegion = (await lpar.regions()).length > 0;
      assert.deepEqual(
        await traced(system, () => lpar.reboot()),
        [...(hadRegion ? shutdownFlush(v) : []), BIND, ...probeTail(v)],
      );
      assertBanner(await dmesg(), v, false);
      assert.deepEqual(await body(), []);

      assert.deepEqual(await traced(system, () => lpar.shutdown()), shutdownFlush(v));
      assert.deepEqual(await body(), ["reboot: Power down"]);
      assert.deepEqual(await traced(system, () => lpar.boot()), [BIND, ...probeTail(v)]);

      // DLPAR remove: papr_scm's .remove unbinds (5.2: UNBIND_MEM of the range; 5.3 on: UNBIND_ALL).
      const unbind = v === "5.2" ? "H_SCM_UNBIND_MEM:H_SUCCESS" : "H_SCM_UNBIND_ALL:H_SUCCESS";
      assert.deepEqual(await traced(system, () => system.dlparRemove("a", DRC)), [unbind]);
      assert.deepEqual(await body(), [
        "pseries-pmem: Successfully removed PMEM with drc index: 44100002",
      ]);
      // Timestamps after the banner come from the (virtual) clock, in [%5lu.%06lu] form.
      assert.ok((await dmesg()).every((l) => /^\[ {0,4}\d+\.\d{6}\] /.test(l)));
    },
  );
}

/** One LPAR of `kernel` with one 4-block nvdimm; `hv` adds hypervisor settings. */
function one(kernel: KernelVersion, nvdimm: Record<string, unknown> = {}, hv = {}) {
  return startSim({
    hypervisor: { personality: "powervm", ...hv },
    lpars: [{
      name: "a",
      kernel,
      nvdimms: [{ drc: DRC, blocks: 4, metadataSize: 1 << 17, ...nvdimm }],
      supervision: { onPanic: "stay-down" },
    }],
  });
}

const NO_COLLECTION = { performanceCollection: false };

workerTest(
  "5.5: the last bytes of the label area are readable (612ee81b9461); 5.4 refuses them",
  async () => {
    for (const [v, ok] of [["5.4", false], ["5.5", true]] as const) {
      await using system = await one(v);
      const lpar = system.lpar("a");
      await lpar.boot();
      const r = await lpar.readLabel("nmem0", (1 << 17) - 8, 8);
      assert.equal(r.rc === 0, ok, `${v}: ${r.error}`);
      if (!ok) assert.equal(r.error, "EINVAL");
    }
  },
);

workerTest("5.7: persistence_domain memory_controller and the region align attribute", async () => {
  for (const v of ["5.5", "5.7"] as const) {
    await using system = await one(v);
    const lpar = system.lpar("a");
    await lpar.boot();
    const [region] = await lpar.ndctlJson({ regions: true }) as Record<string, unknown>[];
    if (v === "5.5") {
      assert.equal(region.persistence_domain, "unknown");
      assert.ok(!("align" in region));
      await assert.rejects(lpar.sysfs("region0/align"), /no such file/);
      assert.equal(await lpar.sysfs("region0/persistence_domain"), "");
    } else {
      assert.equal(region.persistence_domain, "memory_controller");
      assert.equal(region.align, 16777216n);
      assert.equal(await lpar.sysfs("region0/align"), "0x1000000");
      assert.equal(await lpar.sysfs("region0/persistence_domain"), "memory_controller");
    }
  }
});

workerTest(
  "5.18: a region smaller than 16 MiB is aligned to a page (d9d290d7e659); 5.14 says 16 MiB",
  async () => {
    for (const [v, align] of [["5.14", 16777216n], ["5.18", 65536n]] as const) {
      await using system = await one(v, { blockSize: 1 << 20 }); // 4 MiB
      const lpar = system.lpar("a");
      await lpar.boot();
      const [region] = await lpar.ndctlJson({ regions: true }) as Record<string, unknown>[];
      assert.equal(region.align, align, v);
    }
  },
);

workerTest("5.8: papr/flags and the PDSM health from H_SCM_HEALTH, flags cached 60 s", async () => {
  {
    await using system = await one("5.7");
    const lpar = system.lpar("a");
    await lpar.boot();
    await assert.rejects(lpar.papr("nmem0", "flags"), /has no papr\/flags; it has: none/);
    assert.deepEqual(await lpar.ndctlJson({ dimms: true, health: true }), [{ dev: "nmem0" }]);
  }
  await using system = await one("5.8", { persistenceFailedCount: 3 });
  const lpar = system.lpar("a");
  await lpar.boot();
  await system.setHealth(DRC, ["SHUTDOWN_DIRTY"]);
  // 5.8's probe reads no health: the first flags read asks, the next one within 60 s does not.
  assert.deepEqual(
    await traced(system, async () => {
      assert.equal(await lpar.papr("nmem0", "flags"), "flush_fail \n");
    }),
    [HEALTH],
  );
  await system.setHealth(DRC, []);
  assert.deepEqual(
    await traced(system, async () => {
      assert.equal(await lpar.papr("nmem0", "flags"), "flush_fail \n", "the cached bits");
    }),
    [],
  );
  // The PDSM health always asks; 5.8 has no fuel gauge and no dirty-shutdown count.
  assert.deepEqual(await lpar.ndctlJson({ dimms: true, health: true }), [{
    dev: "nmem0",
    flag_failed_flush: true,
    health: { health_state: "ok", shutdown_state: "clean" },
  }]);
});

workerTest(
  "5.9: performance statistics, the fuel gauge, and the probe's message without them",
  async () => {
    {
      await using system = await one("5.8");
      const lpar = system.lpar("a");
      await lpar.boot();
      await assert.rejects(lpar.papr("nmem0", "perf_stats"), /no papr\/perf_stats/);
      await assert.rejects(lpar.perfStats("nmem0"), /the 5\.8 driver does not read/);
    }
    {
      await using system = await one("5.9");
      const lpar = system.lpar("a");
      await lpar.boot();
      assert.match(await lpar.papr("nmem0", "perf_stats"), /^CtlResCt = 0x0{16}\n/);
      const [dimm] = await lpar.ndctlJson({ dimms: true, health: true }) as Record<
        string,
        Record<string, unknown>
      >[];
      assert.equal(dimm.health.life_used_percentage, 0);
    }
    // Collection off: every failure is an error in 5.9, then the info line; perf_stats fails.
    await using system = await one("5.9", {}, NO_COLLECTION);
    const lpar = system.lpar("a");
    await lpar.boot();
    assert.deepEqual(strip(await lpar.dmesg()).slice(3), [
      P + "Failed to query performance stats, Err:-10",
      P + "Dimm performance stats unavailable",
    ]);
    await assert.rejects(lpar.papr("nmem0", "perf_stats"), /ENOENT/);
  },
);

workerTest("5.13: H_SCM_FLUSH regions, and an unarmed dimm's region is read-only", async () => {
  for (const v of ["5.9", "5.13"] as const) {
    await using system = await one(v, { hcallFlushRequired: true });
    await system.setHealth(DRC, ["UNARMED"]);
    const lpar = system.lpar("a");
    await lpar.boot();
    assert.equal(await lpar.flush("region0"), v === "5.9" ? "none" : "H_SUCCESS");
    assert.equal(await lpar.sysfs("region0/read_only"), v === "5.9" ? "0" : "1");
    const write = lpar.write("region0", 0, new Uint8Array([1, 2, 3]));
    if (v === "5.9") await write;
    else await assert.rejects(write, /region0 is read-only \(EROFS\): its dimm nmem0 is not armed/);
  }
});

workerTest(
  "5.14: dirty_shutdown, perf_stats hidden without statistics, H_AUTHORITY at info level",
  async () => {
    {
      await using system = await one("5.13", { persistenceFailedCount: 7 }, NO_COLLECTION);
      const lpar = system.lpar("a");
      await lpar.boot();
      await assert.rejects(lpar.papr("nmem0", "dirty_shutdown"), /no papr\/dirty_shutdown/);
      await assert.rejects(lpar.papr("nmem0", "perf_stats"), /ENOENT/); // there, but failing
      assert.ok(
        strip(await lpar.dmesg()).includes(P + "Failed to query performance stats, Err:-10"),
      );
    }
    await using system = await one("5.14", { persistenceFailedCount: 7 }, NO_COLLECTION);
    const lpar = system.lpar("a");
    await lpar.boot();
    assert.equal(await lpar.papr("nmem0", "dirty_shutdown"), "7\n");
    await assert.rejects(lpar.papr("nmem0", "perf_stats"), /has no papr\/perf_stats/);
    assert.deepEqual(strip(await lpar.dmesg()).slice(3), [
      P + "Permission denied while accessing performance stats",
    ]);
    const [dimm] = await lpar.ndctlJson({ dimms: true, health: true }) as Record<
      string,
      Record<string, unknown>
    >[];
    assert.equal(dimm.health.shutdown_count, 7);
  },
);

workerTest(
  "5.18: SMART inject through the PDSM, health_bitmap_inject, the PMU's probe message",
  async () => {
    {
      await using system = await one("5.14", {}, NO_COLLECTION);
      const lpar = system.lpar("a");
      await lpar.boot();
      await assert.rejects(
        lpar.smartInject("nmem0", { fatal: true }),
        /the 5\.14 driver has no PAPR_PDSM_SMART_INJECT/,
      );
      await assert.rejects(lpar.papr("nmem0", "health_bitmap_inject"), /no papr\/health/);
      assert.ok(!(await lpar.dmesg()).some((l) => l.includes("nvdimm pmu")));
    }
    await using system = await one("5.18", {}, NO_COLLECTION);
    const lpar = system.lpar("a");
    await lpar.boot();
    assert.deepEqual(strip(await lpar.dmesg()).slice(3), [
      P + "Permission denied while accessing performance stats",
      P + "nvdimm pmu didn't register rc=-2",
    ]);
    assert.equal(await lpar.papr("nmem0", "health_bitmap_inject"), "0\n");
    assert.deepEqual(await lpar.smartInject("nmem0", { fatal: true, unsafeShutdown: true }), {
      fatal: true,
      unsafeShutdown: true,
    });
    assert.equal(await lpar.papr("nmem0", "health_bitmap_inject"), "0x4400000000000000\n");
    // The inject drops the cache: the next flags read asks, and shows the injected bits.
    assert.deepEqual(
      await traced(system, async () => {
        assert.equal(await lpar.papr("nmem0", "flags"), "flush_fail smart_notify \n");
      }),
      [HEALTH],
    );
    await lpar.smartInject("nmem0", { fatal: false });
    assert.equal(await lpar.papr("nmem0", "health_bitmap_inject"), "0x4000000000000000\n");
    await assert.rejects(
      lpar.smartInject("nmem0", { fatal: "yes" } as unknown as { fatal: boolean }),
      /smartInject: fatal "yes": expected true or false/,
    );
    await assert.rejects(
      lpar.smartInject("nmem0", { melt: true } as unknown as { fatal: boolean }),
      /unknown key "melt"; accepted: fatal, unsafeShutdown/,
    );
  },
);

workerTest(
  "the 2022 regression: with collection off 5.19-rc1 panics at probe, 5.19 boots",
  async () => {
    {
      await using system = await one("5.19-rc1", {}, NO_COLLECTION);
      const lpar = system.lpar("a");
      // The size query (H_AUTHORITY), the health, then the oops before any further hcall.
      assert.deepEqual(await traced(system, () => lpar.boot()), [
        BIND,
        "H_SCM_PERFORMANCE_STATS:H_AUTHORITY",
        HEALTH,
      ]);
      assert.equal(lpar.state, "panicked");
      assert.deepEqual(strip(await lpar.dmesg()).slice(3), [
        P + "Permission denied while accessing performance stats",
        "BUG: Kernel NULL pointer dereference on write at 0x0000001c",
        "Oops: Kernel access of bad area, sig: 11 [#1]",
        "NIP [c008000001b90844] drc_pmem_query_stats+0x5c/0x270 [papr_scm]",
        "LR [c008000001b92794] papr_scm_probe+0x2ac/0x6ec [papr_scm]",
        "Kernel panic - not syncing: Fatal exception",
      ]);
    }
    {
      // With collection on, the broken version has statistics and boots.
      await using system = await one("5.19-rc1");
      const lpar = system.lpar("a");
      await lpar.boot();
      assert.equal(lpar.state, "running");
    }
    for (const v of ["5.19", "mainline"] as const) {
      await using system = await one(v, {}, NO_COLLECTION);
      const lpar = system.lpar("a");
      assert.deepEqual(await traced(system, () => lpar.boot()), [
        BIND,
        "H_SCM_PERFORMANCE_STATS:H_AUTHORITY",
        HEALTH,
        ...probeReads(v),
      ]);
      assert.equal(lpar.state, "running");
      assert.deepEqual(strip(await lpar.dmesg()).slice(3), [
        P + "Permission denied while accessing performance stats",
        P + "nvdimm pmu didn't register rc=-2",
      ]);
      assert.equal((await lpar.regions()).length, 1);
    }
  },
);

workerTest("config: hypervisor.performanceCollection must be a boolean", async () => {
  await assert.rejects(
    one("5.19", {}, { performanceCollection: "off" }),
    /config\.hypervisor\.performanceCollection: "off" is not valid; expected true or false/,
  );
});
