/**
 * Issue 10: limits. A partition's resource limit answers that partition (an
 * hcall's return code) and never fails the hypervisor; the configuration
 * refuses what is past a limit, naming the field, the value and the limit.
 */
import assert from "node:assert/strict";
import { BIND_ANY_ADDR, H, OP } from "../abi/hcalls.ts";
import {
  ConfigError,
  MAX_BLOCKS_PER_NVDIMM,
  MAX_LPARS,
  MAX_NVDIMMS_PER_LPAR,
  MAX_NVDIMMS_PER_SYSTEM,
  MAX_RESTARTS,
  resolveConfig,
  resolveNvdimm,
} from "../actors/config.ts";
import { ManagedSystem, type StartOptions } from "../actors/managed_system.ts";
import { HypervisorCore } from "../core/hypervisor.ts";
import { MAX_LPAR_MAPPINGS } from "../core/state.ts";
import { SIM, workerTest } from "./worker_test.ts";

const DRC = 0x44100002;
const BS = 65536n;

function core(personality: "powervm" | "qemu" = "powervm", blocks = 2 * MAX_LPAR_MAPPINGS + 8) {
  const hv = new HypervisorCore({ personality });
  hv.addDrc({ index: DRC, blockSize: BS, blocks, metadataSize: 1 << 17, uuid: "u" });
  hv.assign(DRC, 1);
  return hv;
}

Deno.test("limits: an LPAR may hold as many nvdimms as it may have mappings", () => {
  assert.equal(MAX_NVDIMMS_PER_LPAR, MAX_LPAR_MAPPINGS);
});

Deno.test("limits: a bind past the LPAR's mapping limit answers H_RESOURCE (core)", () => {
  const hv = core();
  // Every other block: no two bindings merge into one mapping.
  for (let i = 0; i < MAX_LPAR_MAPPINGS; i++) {
    const { rc } = hv.hcall(1, OP.H_SCM_BIND_MEM, [BigInt(DRC), BigInt(2 * i), 1n, BIND_ANY_ADDR]);
    assert.equal(rc, H.SUCCESS, `bind ${i}`);
  }
  assert.equal(hv.mappings(1).length, MAX_LPAR_MAPPINGS);
  const first = BigInt(2 * MAX_LPAR_MAPPINGS);
  const over = hv.hcall(1, OP.H_SCM_BIND_MEM, [BigInt(DRC), first, 1n, BIND_ANY_ADDR]);
  assert.equal(over.rc, H.RESOURCE);
  assert.equal(hv.bindings().length, MAX_LPAR_MAPPINGS, "nothing of the refused bind is left");
  assert.deepEqual(hv.invariants(), []);
  // A bind that extends an existing mapping needs no new entry: still accepted.
  const base = hv.mappings(1).at(-1)!.base;
  const last = BigInt(2 * (MAX_LPAR_MAPPINGS - 1));
  const grow = hv.hcall(1, OP.H_SCM_BIND_MEM, [BigInt(DRC), last + 1n, 1n, base + BS]);
  assert.equal(grow.rc, H.SUCCESS);
  assert.equal(hv.mappings(1).length, MAX_LPAR_MAPPINGS);
  assert.deepEqual(hv.invariants(), []);
});

Deno.test("limits: an unbind that would split a mapping past the limit answers H_RESOURCE", () => {
  const hv = core();
  // One mapping of 3 blocks, then 255 single ones: 256 in all.
  assert.equal(hv.hcall(1, OP.H_SCM_BIND_MEM, [BigInt(DRC), 0n, 3n, BIND_ANY_ADDR]).rc, H.SUCCESS);
  for (let i = 1; i < MAX_LPAR_MAPPINGS; i++) {
    const b = BigInt(2 + 2 * i);
    assert.equal(hv.hcall(1, OP.H_SCM_BIND_MEM, [BigInt(DRC), b, 1n, BIND_ANY_ADDR]).rc, H.SUCCESS);
  }
  assert.equal(hv.mappings(1).length, MAX_LPAR_MAPPINGS);
  const middle = hv.hcall(1, OP.H_SCM_QUERY_BLOCK_MEM_BINDING, [BigInt(DRC), 1n]).rets[0];
  const split = hv.hcall(1, OP.H_SCM_UNBIND_MEM, [BigInt(DRC), middle, 1n]);
  assert.equal(split.rc, H.RESOURCE);
  assert.equal(hv.bindings().length, 3 + MAX_LPAR_MAPPINGS - 1, "nothing was unbound");
  assert.deepEqual(hv.invariants(), []);
  // Unbinding the end of a mapping splits nothing.
  const end = hv.hcall(1, OP.H_SCM_UNBIND_MEM, [BigInt(DRC), middle + BS, 1n]);
  assert.equal(end.rc, H.SUCCESS);
  assert.deepEqual(hv.invariants(), []);
});

Deno.test("limits: an LPAR holds at most MAX_LPAR_MAPPINGS nvdimms (qemu maps each at once)", () => {
  const hv = new HypervisorCore({ personality: "qemu" });
  for (let i = 0; i <= MAX_LPAR_MAPPINGS; i++) {
    hv.addDrc({
      index: DRC + i,
      blockSize: 256n << 20n,
      blocks: 1,
      metadataSize: 1 << 17,
      uuid: "u",
    });
  }
  for (let i = 0; i < MAX_LPAR_MAPPINGS; i++) hv.assign(DRC + i, 1);
  assert.throws(
    () => hv.assign(DRC + MAX_LPAR_MAPPINGS, 1),
    (e: Error) => e instanceof RangeError && /at most 256/.test(e.message),
  );
  assert.equal(hv.mappings(1).length, MAX_LPAR_MAPPINGS);
  assert.equal(hv.hcall(1, OP.H_SCM_HEALTH, [BigInt(DRC)]).rc, H.SUCCESS);
  // Giving one back makes room for exactly one more; assigning it twice changes nothing.
  hv.unassign(DRC, 1);
  hv.unassign(DRC, 1);
  hv.assign(DRC + MAX_LPAR_MAPPINGS, 1);
  hv.assign(DRC + MAX_LPAR_MAPPINGS, 1);
  assert.throws(() => hv.assign(DRC, 1), /already holds 256 nvdimms/);
});

/** 257 raw one-block binds by one LPAR: the last answers H_RESOURCE, the system runs on. */
async function rawBindsPastTheLimit(options: StartOptions) {
  await using system = await ManagedSystem.start({
    lpars: [
      {
        name: "greedy",
        paprScm: false,
        nvdimms: [{ drc: DRC, blocks: 2 * MAX_LPAR_MAPPINGS + 8, blockSize: Number(BS) }],
      },
      { name: "other", nvdimms: [{ drc: 0x44100003, blocks: 2, blockSize: Number(BS) }] },
    ],
  }, options);
  const greedy = system.lpar("greedy");
  await greedy.boot();
  for (let i = 0; i < MAX_LPAR_MAPPINGS; i++) {
    const { rcName } = await greedy.hcall("H_SCM_BIND_MEM", DRC, 2 * i, 1, BIND_ANY_ADDR, 0);
    assert.equal(rcName, "H_SUCCESS", `bind ${i}`);
  }
  const over = await greedy.hcall(
    "H_SCM_BIND_MEM",
    DRC,
    2 * MAX_LPAR_MAPPINGS,
    1,
    BIND_ANY_ADDR,
    0,
  );
  assert.equal(over.rcName, "H_RESOURCE");
  // The hypervisor still serves everyone.
  assert.equal(system.failure, undefined);
  const q = await greedy.hcall("H_SCM_QUERY_BLOCK_MEM_BINDING", DRC, 0);
  assert.equal(q.rcName, "H_SUCCESS");
  const other = system.lpar("other");
  await other.boot();
  assert.equal((await other.regions()).length, 1);
  assert.deepEqual(await system.invariants(), []);
}

workerTest("limits: raw binds past the mapping limit answer the LPAR (sim)", async () => {
  await rawBindsPastTheLimit(SIM);
});

workerTest("limits: raw binds past the mapping limit answer the LPAR (threads)", async () => {
  await rawBindsPastTheLimit({ runtime: "threads" });
});

function refused(config: unknown, pattern: RegExp, runtime: "sim" | "threads" = "sim") {
  assert.throws(
    () => resolveConfig(config, runtime),
    (e: Error) => e instanceof ConfigError && pattern.test(e.message),
  );
}

Deno.test("limits: the configuration refuses what is past each limit, naming it", () => {
  const nvdimms = (n: number, from = 0) =>
    Array.from({ length: n }, (_, i) => ({ drc: 0x44100000 + from + i, blocks: 1 }));
  // nvdimms per LPAR, under both personalities (qemu failed at its first hcall).
  for (const personality of ["powervm", "qemu"]) {
    refused(
      { hypervisor: { personality }, lpars: [{ name: "a", nvdimms: nvdimms(257) }] },
      /config\.lpars\[0\]\.nvdimms: 257 nvdimms .* at most 256 \(MAX_NVDIMMS_PER_LPAR/,
    );
    resolveConfig({ hypervisor: { personality }, lpars: [{ name: "a", nvdimms: nvdimms(256) }] });
  }
  // LPARs per system.
  const lpars = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `l${i}` }));
  refused(
    { lpars: lpars(MAX_LPARS + 1) },
    /config\.lpars: 1001 LPARs .* at most 1000 \(MAX_LPARS\)/,
  );
  resolveConfig({ lpars: lpars(MAX_LPARS) });
  // Blocks per nvdimm.
  const big = { drc: 1, blocks: MAX_BLOCKS_PER_NVDIMM + 1, blockSize: 4096 };
  refused(
    { lpars: [{ name: "a", nvdimms: [big] }] },
    /nvdimms\[0\]\.blocks: 1048577 is not valid; expected at most 1048576 \(MAX_BLOCKS_PER_NVDIMM\)/,
  );
  assert.throws(() => resolveNvdimm("nvdimm", big, "sim"), /MAX_BLOCKS_PER_NVDIMM/);
  resolveNvdimm("nvdimm", { ...big, blocks: MAX_BLOCKS_PER_NVDIMM }, "sim");
  // Restarts per window.
  refused(
    { lpars: [{ name: "a", supervision: { onPanic: "reboot", maxRestarts: 1e15 } }] },
    /supervision\.maxRestarts: 1000000000000000 is not valid; expected an integer from 0 to 100 \(MAX_RESTARTS\)/,
  );
  resolveConfig({ lpars: [{ name: "a", supervision: { maxRestarts: MAX_RESTARTS } }] });
  // Distinct nvdimms per system (a shared DRC counts once).
  const per = MAX_NVDIMMS_PER_LPAR;
  const spread = (extra: number) =>
    Array.from({ length: Math.ceil((MAX_NVDIMMS_PER_SYSTEM + extra) / per) }, (_, i) => ({
      name: `l${i}`,
      nvdimms: nvdimms(Math.min(per, MAX_NVDIMMS_PER_SYSTEM + extra - i * per), i * per),
    }));
  refused(
    { lpars: spread(1) },
    /drc 0x44101000 is nvdimm 4097 .* at most 4096 \(MAX_NVDIMMS_PER_SYSTEM\)/,
  );
  const shared = spread(0);
  shared.push({ name: "sharer", nvdimms: nvdimms(1) });
  resolveConfig({ lpars: shared });
});

workerTest(
  "limits: a kernel that panics at every boot is restarted MAX_RESTARTS times at most",
  async () => {
    await using system = await ManagedSystem.start({
      lpars: [{
        name: "flaky",
        nvdimms: [{ drc: DRC, blocks: 2 }],
        faults: { panicAt: { hcall: "H_SCM_BIND_MEM", nth: 1 } },
        supervision: { onPanic: "reboot", maxRestarts: MAX_RESTARTS, windowSeconds: 3600 },
      }],
    }, SIM);
    const flaky = system.lpar("flaky");
    await flaky.boot();
    assert.equal(flaky.state, "panicked");
    assert.match(system.events.at(-1)!, /restart budget spent \(100 restarts/);
  },
);

Deno.test("bind cost: each slice's work is bounded by the slice, not by the DRC", () => {
  // 2^18 blocks in slices of 16, reading the mappings after every slice as the
  // threads runtime's page table does: 16,384 slices, each answered from the
  // slice's own bookkeeping (when every slice scanned the whole DRC this took
  // minutes; the time is a benchmark's business, this checks the answers).
  const blocks = 1 << 18;
  const hv = new HypervisorCore({ personality: "powervm", powervm: { bindSliceBlocks: 16 } });
  hv.addDrc({ index: DRC, blockSize: 4096n, blocks, metadataSize: 1 << 17, uuid: "u" });
  hv.assign(DRC, 1);
  let r = hv.hcall(1, OP.H_SCM_BIND_MEM, [BigInt(DRC), 0n, BigInt(blocks), BIND_ANY_ADDR, 0n]);
  let slices = 1;
  while (r.rc === H.BUSY) {
    assert.equal(hv.mappings(1).length, 1);
    r = hv.hcall(1, OP.H_SCM_BIND_MEM, [BigInt(DRC), 0n, BigInt(blocks), BIND_ANY_ADDR, r.rets[0]]);
    slices++;
  }
  assert.equal(r.rc, H.SUCCESS);
  assert.equal(slices, blocks / 16);
  assert.deepEqual(hv.mappings(1), [{
    base: r.rets[1],
    size: BigInt(blocks) * 4096n,
    drc: DRC,
    offset: 0n,
  }]);
});

workerTest(
  "limits: a DLPAR add past an LPAR's nvdimm limit is refused before anything is created",
  async () => {
    const nvdimms = Array.from({ length: MAX_NVDIMMS_PER_LPAR }, (_, i) => ({
      drc: 0x44500000 + i,
      blocks: 1,
      blockSize: 4096,
    }));
    await using system = await ManagedSystem.start({
      lpars: [{ name: "full", nvdimms }, { name: "other" }],
    }, SIM);
    await assert.rejects(
      system.dlparAdd("full", { drc: 0x44600000, blocks: 1, blockSize: 4096 }),
      /dlparAdd: full has 256 nvdimms; at most 256 \(MAX_NVDIMMS_PER_LPAR\)/,
    );
    // Nothing was created: the same DRC can go to another LPAR, described anew.
    const added = await system.dlparAdd("other", { drc: 0x44600000, blocks: 2, blockSize: 4096 });
    assert.equal(added.drc, 0x44600000);
  },
);
