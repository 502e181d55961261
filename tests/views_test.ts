/**
 * `ndctl list` object kinds and their combinations, and the sysfs-like
 * tree, on a libnvdimm filled by hand (no workers).
 */
import assert from "node:assert/strict";
import { Libnvdimm } from "../guest/libnvdimm.ts";
import { ndctlList as ndctlTask, parseNdctlArgs } from "../guest/ndctl.ts";
import { sysfsRead as sysfsTask } from "../guest/sysfs.ts";
import { done, runSync } from "../guest/task.ts";

const noHcall = () => {
  throw new Error("these views issue no hcall here");
};
const ndctlList = (...args: Parameters<typeof ndctlTask>) => runSync(ndctlTask(...args), noHcall);
const sysfsRead = (...args: Parameters<typeof sysfsTask>) => runSync(sysfsTask(...args), noHcall);

function lib(): Libnvdimm {
  const l = new Libnvdimm();
  for (
    const [i, [drc, start]]
      of ([[0x44100002, 0x10000000000n], [0x44100003, 0x20000000000n]] as const)
        .entries()
  ) {
    const bus = l.registerBus(`ibm,persistent-memory:ibm,pmemory@${drc.toString(16)}`);
    const dimm = l.createDimm(bus, { drcIndex: drc, papr: { flags: () => done("flush_fail ") } });
    const region = l.createRegion(bus, {
      start,
      size: 1n << 30n,
      volatile: false,
      isetId: -2n,
      persistenceDomain: "memory_controller",
      align: 16n << 20n,
      dimm,
    });
    // What a region probe makes of one label spanning the region (raw: no info block).
    region.enabled = true;
    region.namespaces = [{
      dev: `namespace${i}.0`,
      id: 0,
      uuid: `00000000-0000-4000-8000-00000000000${i}`,
      name: "",
      dpa: 0n,
      size: 1n << 30n,
      lbasize: 0,
      claim: "none",
      enabled: true,
    }];
  }
  return l;
}

const keys = (v: unknown) => Object.keys(v as object);

Deno.test("ndctl list: flag parsing as ndctl takes them", () => {
  assert.deepEqual(parseNdctlArgs(["list", "-RDH"]), { regions: true, dimms: true, health: true });
  assert.deepEqual(parseNdctlArgs(["-D", "-R"]), { dimms: true, regions: true });
  assert.deepEqual(parseNdctlArgs(["--namespaces"]), { namespaces: true });
  assert.deepEqual(parseNdctlArgs([]), { namespaces: true }, "no flag lists namespaces");
  assert.throws(() => parseNdctlArgs(["-Z"]), /unsupported option "-Z"; accepted: -R -D -H -N/);
  assert.deepEqual(parseNdctlArgs(["-Nu", "-r", "0", "--mode=raw"]), {
    namespaces: true,
    human: true,
    region: "0",
    mode: "raw",
  });
  assert.deepEqual(
    parseNdctlArgs(["-d", "nmem1"]),
    { dimm: "nmem1", dimms: true },
    "-d lists dimms",
  );
  assert.deepEqual(parseNdctlArgs(["-vv"]), { verbose: 2, namespaces: true });
  assert.throws(() => parseNdctlArgs(["-r"]), /-r needs a value/);
  assert.throws(
    () => parseNdctlArgs(["-m", "fast"]),
    /invalid mode: 'fast'; accepted: memory, fsdax/,
  );
  assert.throws(() => parseNdctlArgs(["-vvv"]), /-vvv \(capabilities\) is not modelled/);
});

Deno.test("ndctl list: one kind is a flat array", () => {
  const l = lib();
  const regions = ndctlList(l, { regions: true }) as Record<string, unknown>[];
  assert.deepEqual(keys(regions[0]), [
    "dev",
    "size",
    "align",
    "available_size",
    "max_available_extent",
    "type",
    "iset_id",
    "persistence_domain",
  ]);
  const namespaces = ndctlList(l, { namespaces: true }) as Record<string, unknown>[];
  assert.deepEqual(namespaces[1], {
    dev: "namespace1.0",
    mode: "raw",
    size: 1n << 30n,
    uuid: "00000000-0000-4000-8000-000000000001",
    sector_size: 512,
    blockdev: "pmem1",
  });
  const dimms = ndctlList(l, { dimms: true }) as Record<string, unknown>[];
  assert.deepEqual(dimms[0], { dev: "nmem0", flag_failed_flush: true });
});

Deno.test("ndctl list: kinds nest as ndctl nests them", () => {
  const l = lib();
  for (const flags of [parseNdctlArgs(["-RD"]), parseNdctlArgs(["-DR"])]) {
    const v = ndctlList(l, flags) as Record<string, Record<string, unknown>[]>;
    assert.deepEqual(keys(v), ["dimms", "regions"]);
    assert.deepEqual(keys(v.regions[0]).slice(6), ["iset_id", "mappings", "persistence_domain"]);
    assert.deepEqual(v.regions[1].mappings, [{
      dimm: "nmem1",
      offset: 0n,
      length: 1n << 30n,
      position: 0,
    }]);
  }
  // list.c counts the last region's namespaces as a second kind: -RN prints {"regions":[...]}.
  const rn = ndctlList(l, parseNdctlArgs(["-RN"])) as Record<string, Record<string, unknown>[]>;
  assert.deepEqual(keys(rn), ["regions"]);
  assert.deepEqual(keys(rn.regions[0]).at(-1), "namespaces");
  assert.equal((rn.regions[0].namespaces as { dev: string }[])[0].dev, "namespace0.0");
  const dn = ndctlList(l, parseNdctlArgs(["-DN"]));
  assert.deepEqual(keys(dn), ["dimms", "namespaces"]);
  const rdn = ndctlList(l, parseNdctlArgs(["-RDN"])) as Record<string, Record<string, unknown>[]>;
  assert.deepEqual(keys(rdn), ["dimms", "regions"]);
  assert.ok("mappings" in rdn.regions[0] && "namespaces" in rdn.regions[0]);
  assert.deepEqual(
    ndctlList(new Libnvdimm(), parseNdctlArgs(["-RD"])),
    [],
    "nothing: prints nothing",
  );
});

Deno.test("sysfs: listings and files", () => {
  const l = lib();
  assert.equal(
    sysfsRead(l),
    [
      "namespace0.0/",
      "namespace1.0/",
      "ndbus0/",
      "ndbus1/",
      "nmem0/",
      "nmem1/",
      "region0/",
      "region1/",
    ]
      .join("\n"),
  );
  assert.equal(sysfsRead(l, "/sys/bus/nd/devices/region1/resource"), "0x20000000000");
  assert.equal(sysfsRead(l, "region0/size"), "1073741824");
  assert.equal(sysfsRead(l, "region0/mapping0"), "nmem0,0,1073741824,0");
  assert.equal(sysfsRead(l, "region0/set_cookie"), "0xfffffffffffffffe");
  assert.equal(sysfsRead(l, "nmem0/papr"), "flags");
  assert.equal(sysfsRead(l, "nmem0/papr/flags"), "flush_fail ");
  assert.equal(sysfsRead(l, "namespace1.0/mode"), "raw");
  assert.equal(sysfsRead(l, "ndbus0/provider"), "ibm,persistent-memory:ibm,pmemory@44100002");
  assert.throws(
    () => sysfsRead(l, "nmem0/papr/perf_stats"),
    /\/sys\/bus\/nd\/devices\/nmem0\/papr\/perf_stats: no such file or directory; .* has: flags/,
  );
});
