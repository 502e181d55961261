/**
 * Namespaces in the label area, through the ndctl commands as a user types
 * them: empty labels, init-labels, create-namespace (fsdax, raw, --size),
 * read-labels -j, destroy-, enable- and disable-namespace, every error path
 * ndctl reports, the probe's READ_METADATA per driver version, and
 * namespaces that survive kexec, kdump and reboot on both runtimes.
 */
import assert from "node:assert/strict";
import { ManagedSystem, type StartOptions } from "../actors/managed_system.ts";
import type { KernelVersion } from "../guest/papr_scm/mod.ts";
import { SIM, startSim, workerTest } from "./worker_test.ts";
import { probeReadCount } from "./label_reads.ts";
import { encodeIndex, encodeLabel, indexLayout } from "../guest/labels/format.ts";

const DRC = 0x44100002;
const GiB = 1n << 30n;

function config(kernel: KernelVersion, blocks = 16) {
  return { lpars: [{ name: "a", kernel, nvdimms: [{ drc: DRC, blocks }] }] };
}

type System = ManagedSystem;

/** Runs one ndctl command line; returns its output and the metadata hcalls it made. */
async function ndctl(system: System, ...args: string[]) {
  await system.traceStart();
  const out = await system.lpar("a").ndctlRun(args);
  const trace = await system.traceTake();
  const count = (name: string) => trace.filter((t) => t.hcall === name).length;
  return { ...out, reads: count("H_SCM_READ_METADATA"), writes: count("H_SCM_WRITE_METADATA") };
}

const json = (text: string) => JSON.parse(text);

workerTest("empty labels: no namespace, the whole region available, the seed idle", async () => {
  await using system = await startSim(config("mainline"));
  await system.lpar("a").boot();
  const list = await ndctl(system, "list", "-N");
  assert.deepEqual([list.rc, list.stdout, list.stderr], [0, "", ""]);
  const [region] = json((await ndctl(system, "list", "-R")).stdout);
  assert.equal(region.size, 4 * 2 ** 30);
  assert.equal(region.available_size, region.size);
  assert.equal(region.max_available_extent, region.size);
  assert.deepEqual(json((await ndctl(system, "list", "-Ni")).stdout), [{
    dev: "namespace0.0",
    mode: "raw",
    size: 0,
    uuid: "00000000-0000-0000-0000-000000000000",
    sector_size: 512,
    state: "disabled",
  }]);
  // Listing reads the kernel's copy: no hcall.
  assert.equal(list.reads + list.writes, 0);
});

workerTest(
  "the dimm probe reads the label index: 512 one-byte hcalls on 5.2, 64 from 5.3",
  async () => {
    for (const kernel of ["5.2", "5.3", "5.4", "mainline"] as const) {
      await using system = await startSim(config(kernel));
      await system.traceStart();
      await system.lpar("a").boot();
      const reads = (await system.traceTake()).filter((t) => t.hcall === "H_SCM_READ_METADATA");
      assert.equal(reads.length, probeReadCount(kernel), kernel);
      assert.equal(probeReadCount(kernel), kernel === "5.2" ? 512 : 64);
    }
  },
);

workerTest("init-labels: refused while the region is active, then v1.1 index blocks", async () => {
  await using system = await startSim(config("mainline"));
  await system.lpar("a").boot();
  const active = await ndctl(system, "init-labels", "nmem0");
  assert.equal(active.rc, -16);
  assert.equal(active.stderr, "nmem0: regions active, abort label write\ninitialized 0 nmems\n");
  assert.equal(active.writes, 0);
  assert.equal((await ndctl(system, "disable-region", "region0")).stderr, "disabled 1 region\n");
  const init = await ndctl(system, "init-labels", "nmem0");
  assert.deepEqual([init.rc, init.stderr], [0, "initialized 1 nmem\n"]);
  // Two 256-byte index blocks in 8-byte writes; the read of the index, then the dimm re-probed.
  assert.equal(init.writes, 64);
  assert.equal(init.reads, 64 + 64);
  const again = await ndctl(system, "init-labels", "nmem0");
  assert.equal(again.stderr, "nmem0: error: labels already initialized\ninitialized 0 nmems\n");
  assert.equal((await ndctl(system, "init-labels", "-f", "nmem0")).rc, 0);
  const bad = await ndctl(system, "init-labels", "-V", "2.0", "nmem0");
  assert.deepEqual([bad.rc, bad.stderr], [
    -22,
    "'2.0' is not a valid label version\ninitialized 0 nmems\n",
  ]);
  await assert.rejects(
    system.lpar("a").ndctlRun(["init-labels", "dimm0"]),
    /'dimm0' is not a valid dimm name; accepted: nmemN, all/,
  );
  await assert.rejects(system.lpar("a").ndctlRun(["init-labels"]), /name a dimm/);
  assert.equal((await ndctl(system, "enable-region", "all")).stderr, "enabled 1 region\n");
  const labels = json((await ndctl(system, "read-labels", "-j", "nmem0")).stdout);
  assert.deepEqual(
    labels[0].index.map((
      i: { seq: number; minor: number; nslot: number },
    ) => [i.seq, i.minor, i.nslot]),
    [
      [3, 1, 1020],
      [2, 1, 1020],
    ],
  );
});

workerTest(
  "create-namespace: fsdax by default, raw with --mode, sizes as ndctl lists them",
  async () => {
    await using system = await startSim(config("mainline"));
    await system.lpar("a").boot();
    const fsdax = await ndctl(system, "create-namespace", "--size", "1G", "--name", "db");
    assert.equal(fsdax.rc, 0, fsdax.stderr);
    const ns0 = json(fsdax.stdout);
    assert.deepEqual(Object.keys(ns0), [
      "dev",
      "mode",
      "map",
      "size",
      "uuid",
      "sector_size",
      "align",
      "blockdev",
      "name",
    ]);
    // The info block and memmap (--map=dev) take 16 MiB of the 1 GiB.
    assert.deepEqual([ns0.dev, ns0.mode, ns0.map, ns0.size, ns0.align, ns0.blockdev], [
      "namespace0.0",
      "fsdax",
      "dev",
      2 ** 30 - 2 ** 24,
      2 ** 24,
      "pmem0",
    ]);
    // The kernel wrote the labels: index and label updates, 8 bytes at a time.
    assert.ok(fsdax.writes > 0 && fsdax.reads === 0);
    const raw = json((await ndctl(system, "create-namespace", "-s", "512M", "-m", "raw")).stdout);
    assert.deepEqual(raw, {
      dev: "namespace0.1",
      mode: "raw",
      size: 2 ** 29,
      uuid: raw.uuid,
      sector_size: 512,
      blockdev: "pmem0.1",
    });
    assert.notEqual(raw.uuid, ns0.uuid);
    assert.deepEqual(json((await ndctl(system, "list", "-N")).stdout), [ns0, raw]);
    const [region] = json((await ndctl(system, "list", "-R")).stdout);
    assert.equal(region.available_size, 4 * 2 ** 30 - 2 ** 30 - 2 ** 29);
    // With no --size, the rest of the region.
    const rest = json((await ndctl(system, "create-namespace", "-m", "raw")).stdout);
    assert.equal(rest.size, region.max_available_extent);
    assert.equal(json((await ndctl(system, "list", "-R")).stdout)[0].available_size, 0);
    // The data path: a namespace maps the region's memory at its dpa.
    const mode = await system.lpar("a").sysfs("namespace0.1/resource");
    const [r] = await system.lpar("a").regions();
    assert.equal(BigInt(mode), r.start + GiB);
  },
);

workerTest("create-namespace: the errors ndctl reports", async (t) => {
  await using system = await startSim(config("mainline"));
  await system.lpar("a").boot();
  await t.step("beyond the available size", async () => {
    const r = await ndctl(system, "create-namespace", "-s", "100G");
    assert.deepEqual([r.rc, r.stdout, r.stderr], [
      -28,
      "",
      "failed to create namespace: No space left on device\n",
    ]);
  });
  await t.step("a size that is not a multiple of the region alignment", async () => {
    const r = await ndctl(system, "create-namespace", "-s", "100M");
    assert.equal(r.rc, -22);
    assert.equal(
      r.stderr,
      "  Error: create namespace: region0: align setting is 0x1000000 size 0x6400000 is misaligned\n\n",
    );
  });
  await t.step("an unparseable size or uuid", async () => {
    const size = await ndctl(system, "create-namespace", "-s", "lots");
    assert.match(size.stderr, /Error: failed to parse namespace size 'lots'/);
    const uuid = await ndctl(system, "create-namespace", "-u", "nope");
    assert.match(uuid.stderr, /Error: failed to parse uuid: 'nope'/);
  });
  await t.step("modes and options that are not modelled are refused", async () => {
    const lpar = system.lpar("a");
    await assert.rejects(
      lpar.ndctlRun(["create-namespace", "-m", "devdax"]),
      /accepted: fsdax, raw/,
    );
    await assert.rejects(
      lpar.ndctlRun(["create-namespace", "--bogus"]),
      /unknown option "--bogus"/,
    );
    await assert.rejects(lpar.ndctlRun(["frob"]), /unknown command "frob"; accepted: list/);
    await assert.rejects(lpar.ndctlRun("list" as never), /expected an array of strings/);
  });
  await t.step("a disabled region is not a candidate", async () => {
    await ndctl(system, "disable-region", "region0");
    const r = await ndctl(system, "create-namespace", "-s", "1G");
    assert.equal(r.stderr, "failed to create namespace: No space left on device\n");
    await ndctl(system, "enable-region", "region0");
    assert.equal(json((await ndctl(system, "list", "-R")).stdout)[0].dev, "region0");
  });
  assert.equal((await ndctl(system, "list", "-N")).stdout, "", "nothing was created");
});

workerTest("destroy-, disable- and enable-namespace", async () => {
  await using system = await startSim(config("mainline"));
  await system.lpar("a").boot();
  await ndctl(system, "create-namespace", "-s", "1G");
  await ndctl(system, "create-namespace", "-s", "1G", "-m", "raw");
  const busy = await ndctl(system, "destroy-namespace", "namespace0.0");
  assert.equal(busy.rc, -16);
  assert.equal(
    busy.stderr,
    "  Error: namespace0.0 is active, specify --force for re-configuration\n\n" +
      "error destroying namespaces: Device or resource busy\ndestroyed 0 namespaces\n",
  );
  assert.equal(busy.writes, 0, "nothing changed");
  const disabled = await ndctl(system, "disable-namespace", "namespace0.1");
  assert.deepEqual([disabled.rc, disabled.stderr], [0, "disabled 1 namespace\n"]);
  const listed = json((await ndctl(system, "list", "-N")).stdout);
  assert.deepEqual(listed.map((n: { dev: string }) => n.dev), ["namespace0.0"], "-N hides it");
  const idle = json((await ndctl(system, "list", "-Ni", "-n", "namespace0.1")).stdout);
  assert.equal(idle[0].state, "disabled");
  assert.equal(idle[0].blockdev, undefined);
  assert.equal(
    (await ndctl(system, "enable-namespace", "namespace0.1")).stderr,
    "enabled 1 namespace\n",
  );
  assert.equal((await ndctl(system, "disable-namespace", "namespace0.1")).rc, 0);
  // A disabled namespace is destroyed without --force.
  const gone = await ndctl(system, "destroy-namespace", "namespace0.1");
  assert.deepEqual([gone.rc, gone.stderr], [0, "destroyed 1 namespace\n"]);
  assert.ok(gone.writes > 0, "its label freed through WRITE_METADATA");
  const forced = await ndctl(system, "destroy-namespace", "-f", "namespace0.0");
  assert.deepEqual([forced.rc, forced.stderr], [0, "destroyed 1 namespace\n"]);
  assert.equal((await ndctl(system, "list", "-N")).stdout, "");
  const [region] = json((await ndctl(system, "list", "-R")).stdout);
  assert.equal(region.available_size, region.size);
  const missing = await ndctl(system, "destroy-namespace", "namespace0.7");
  assert.deepEqual([missing.rc, missing.stderr], [
    -6,
    "error destroying namespaces: No such device or address\ndestroyed 0 namespaces\n",
  ]);
  const seed = await ndctl(system, "enable-namespace", "namespace0.0");
  assert.equal(seed.rc, -6, "a zero-size namespace does not enable");
  await assert.rejects(
    system.lpar("a").ndctlRun(["destroy-namespace"]),
    /specify a namespace to destroy, or "all"/,
  );
  // After a reboot nothing comes back: the labels were freed.
  await system.lpar("a").reboot();
  assert.equal((await ndctl(system, "list", "-N")).stdout, "");
});

workerTest("read-labels -j: the index blocks and every label slot that names itself", async () => {
  await using system = await startSim(config("mainline"));
  await system.lpar("a").boot();
  const created = json((await ndctl(system, "create-namespace", "-s", "1G", "-n", "db")).stdout);
  const r = await ndctl(system, "read-labels", "-j", "nmem0");
  assert.equal(r.rc, 0);
  assert.equal(r.stderr, "read 1 nmem\n");
  assert.equal(r.reads, 128 * 1024 / 8, "the whole label area, 8 bytes an hcall");
  const [dimm] = json(r.stdout);
  assert.deepEqual(Object.keys(dimm), ["dev", "index", "label"]);
  // The kernel initialised the index itself (no init-labels): v1.2, 256-byte labels.
  assert.deepEqual(dimm.index[0].signature, "NAMESPACE_INDEX");
  assert.deepEqual(
    dimm.index.map((i: { minor: number; labelsize: number }) => [i.minor, i.labelsize]),
    [
      [2, 256],
      [2, 256],
    ],
  );
  const active = dimm.label.find((l: { flags: number }) => l.flags === 0);
  assert.equal(active.name, "db");
  assert.equal(active.rawsize, 2 ** 30);
  assert.equal(active.abstraction_guid, "266400ba-fb9f-4677-bcb0-968f11d0d225", "claimed by pfn");
  // An fsdax namespace lists the pfn's uuid; -v adds the label's as raw_uuid.
  const [verbose] = json((await ndctl(system, "list", "-Nv")).stdout);
  assert.equal(verbose.uuid, created.uuid);
  assert.equal(verbose.raw_uuid, active.uuid);
  const human = json((await ndctl(system, "read-labels", "-u", "nmem0")).stdout);
  assert.equal(
    human[0].label.find((l: { name: string }) => l.name === "db").rawsize,
    "1024.00 MiB (1073.74 MB)",
  );
  assert.equal(
    json((await ndctl(system, "read-labels", "-j", "-I", "nmem0")).stdout)[0].label,
    undefined,
  );
  await assert.rejects(system.lpar("a").ndctlRun(["read-labels", "nmem0"]), /accepted: -j\/--json/);
});

workerTest(
  "read-labels on 5.4: the off-by-one hides the area's last bytes, so the full read fails",
  async () => {
    await using system = await startSim(config("5.4"));
    await system.lpar("a").boot();
    const full = await ndctl(system, "read-labels", "-j", "nmem0");
    assert.deepEqual([full.rc, full.stdout, full.stderr], [-22, "", "read 0 nmems\n"]);
    const index = await ndctl(system, "read-labels", "-j", "-I", "nmem0");
    assert.equal(index.rc, 0, "the index area is far from the end");
  },
);

async function survives(start: StartOptions, kernel: KernelVersion) {
  await using system = await ManagedSystem.start(config(kernel, 8), start);
  const lpar = system.lpar("a");
  await lpar.boot();
  const created = await lpar.ndctlRun(["create-namespace", "-s", "1G", "-n", "db"]);
  assert.equal(created.rc, 0, created.stderr);
  await lpar.ndctlRun(["create-namespace", "-s", "256M", "-m", "raw"]);
  const before = (await lpar.ndctlRun(["list", "-RN"])).stdout;
  assert.match(before, /"mode":"fsdax"/);
  const data = new TextEncoder().encode("survives");
  const at = 2 ** 30 + 4096; // inside namespace0.1 (dpa 1 GiB)
  await lpar.write("region0", at, data);
  const after = async (what: string) => {
    assert.equal((await lpar.ndctlRun(["list", "-RN"])).stdout, before, what);
    assert.deepEqual(await lpar.read("region0", at, data.length), data, what);
  };
  await lpar.kexec();
  await after("kexec");
  await lpar.panic();
  await lpar.kexec({ kernel }); // the kdump kernel
  await after("kdump");
  await lpar.reboot();
  await after("reboot");
  await lpar.shutdown();
  await lpar.boot();
  await after("shutdown and activate");
}

workerTest("namespaces survive kexec, kdump and reboot (sim, 5.4 and mainline)", async () => {
  await survives(SIM, "5.4");
  await survives(SIM, "mainline");
});

workerTest("namespaces survive kexec, kdump and reboot (threads)", async () => {
  await survives({}, "mainline");
});

workerTest("ndctl list: -u, -B, -D, filters and -v as ndctl prints them", async () => {
  await using system = await startSim({
    lpars: [{
      name: "a",
      kernel: "mainline",
      nvdimms: [{ drc: DRC, blocks: 16 }, { drc: DRC + 1, blocks: 8 }],
    }],
  });
  await system.lpar("a").boot();
  await ndctl(system, "create-namespace", "-r", "region1", "-s", "1G", "-m", "raw");
  // -u: a single result is printed as its object, sizes human, hex where ndctl uses hex.
  const human = json((await ndctl(system, "list", "-Nu")).stdout);
  assert.equal(human.size, "1024.00 MiB (1073.74 MB)");
  const regions = json((await ndctl(system, "list", "-Ru")).stdout);
  assert.equal(regions.length, 2);
  assert.match(regions[0].iset_id, /^0x[0-9a-f]+$/);
  assert.equal(regions[1].available_size, "1024.00 MiB (1073.74 MB)");
  // Filters: by region, dimm, namespace, mode and bus.
  assert.equal(json((await ndctl(system, "list", "-r", "1")).stdout)[0].dev, "region1");
  assert.deepEqual(json((await ndctl(system, "list", "-d", "nmem0")).stdout), [{ dev: "nmem0" }]);
  assert.equal(json((await ndctl(system, "list", "-N", "-r", "region1")).stdout).length, 1);
  assert.equal((await ndctl(system, "list", "-N", "-r", "region0")).stdout, "");
  assert.equal((await ndctl(system, "list", "-N", "-m", "fsdax")).stdout, "");
  assert.equal(json((await ndctl(system, "list", "-n", "1.0")).stdout)[0].dev, "namespace1.0");
  const bus = json((await ndctl(system, "list", "-B", "--bus", "ndbus1", "-DRN")).stdout);
  assert.deepEqual(bus.map((b: Record<string, unknown>) => Object.keys(b)), [[
    "provider",
    "dev",
    "dimms",
    "regions",
  ]]);
  assert.equal(bus[0].regions[0].namespaces[0].dev, "namespace1.0");
  // -vv lists buses, dimms, regions and namespaces, with numa_node and target_node.
  const vv = json((await ndctl(system, "list", "-vv")).stdout);
  assert.equal(vv.length, 2);
  assert.equal(vv[1].regions[0].numa_node, 0);
  // -M and -F add nothing here: no media errors are modelled, papr dimms have no firmware command.
  assert.equal(
    (await ndctl(system, "list", "-DMF")).stdout,
    (await ndctl(system, "list", "-D")).stdout,
  );
});

workerTest(
  "a label in the last slot: 5.4's dimm probe fails (off-by-one), 5.5's fix reads it",
  async () => {
    await using system = await startSim(config("mainline"));
    const lpar = system.lpar("a");
    await lpar.boot();
    const cookie = BigInt((await lpar.sysfs("region0/set_cookie")).trim());
    // Index blocks and one label in the very last slot (1019), written by hand.
    const layout = indexLayout(128 * 1024, 128);
    const free = encodeIndex(layout, 0, 1).subarray(72);
    free[1019 >> 3] &= ~(1 << (1019 & 7));
    const at = 2 * layout.indexSize + 1019 * 128;
    const label = encodeLabel({
      uuid: "5e1f0c2a-1111-4222-8333-444455556666",
      name: "last",
      flags: 0,
      nlabel: 1,
      position: 0,
      isetcookie: cookie,
      lbasize: 0n,
      dpa: 0n,
      rawsize: 1n << 30n,
      slot: 1019,
    }, 128);
    assert.equal((await lpar.writeLabel("nmem0", at, label)).rc, 0);
    assert.equal((await lpar.writeLabel("nmem0", 0, encodeIndex(layout, 0, 1, free))).rc, 0);
    assert.equal((await lpar.writeLabel("nmem0", 256, encodeIndex(layout, 1, 0, free))).rc, 0);
    const report = await lpar.kexec({ kernel: "5.4" });
    // The driver core's warning for the dimm driver's failed probe (drivers/base/dd.c).
    assert.ok(
      report.dmesg.some((l) => l.endsWith("nvdimm: probe of nmem0 failed with error -22")),
      report.dmesg.join("\n"),
    );
    // The dimm and its labelled region are disabled: nothing is listed without -i.
    assert.equal((await ndctl(system, "list", "-DRN")).stdout, "");
    const idle = json((await ndctl(system, "list", "-DRi")).stdout);
    assert.equal(idle.dimms[0].state, "disabled");
    assert.equal(idle.regions[0].state, "disabled");
    await lpar.kexec({ kernel: "mainline" });
    const [ns] = json((await ndctl(system, "list", "-N")).stdout);
    assert.deepEqual([ns.name, ns.size, ns.mode], ["last", 2 ** 30, "raw"]);
    // A newer index (sequence 2 follows 1) that is corrupt is ignored: index 0 stays current.
    const corrupt = encodeIndex(layout, 1, 2);
    corrupt[100] ^= 0xFF;
    assert.equal((await lpar.writeLabel("nmem0", 256, corrupt)).rc, 0);
    await lpar.reboot();
    assert.equal(json((await ndctl(system, "list", "-N")).stdout)[0].name, "last");
    // The same index, intact, wins: every slot free, so no namespace.
    assert.equal((await lpar.writeLabel("nmem0", 256, encodeIndex(layout, 1, 2))).rc, 0);
    await lpar.reboot();
    assert.equal((await ndctl(system, "list", "-N")).stdout, "");
  },
);
