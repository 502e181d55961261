/**
 * The guest kernel's own reads and writes of pmem when the host cannot
 * complete them (a machine check on the range): libnvdimm copies with a
 * machine-check-safe routine, so the pfn probe's read is -EIO and the
 * namespace comes up as raw pmem (drivers/nvdimm/claim.c `nsio_rw_bytes`,
 * drivers/nvdimm/pmem.c `nd_pmem_probe`), and an info block that cannot be
 * written fails `nd_pfn_init` with -EIO. The kernel boots either way.
 */
import assert from "node:assert/strict";
import { ManagedSystem } from "../actors/managed_system.ts";
import { MachineCheck } from "../core/dax.ts";
import type { Media, Namespace, Region } from "../guest/libnvdimm.ts";
import { writePfnInfo } from "../guest/labels/namespaces.ts";
import type { RuntimeKind } from "../runtime/types.ts";
import { workerTest } from "./worker_test.ts";

const A = 0x44100002;
const modes = (stdout: string) => [...stdout.matchAll(/"mode":"(\w+)"/g)].map((m) => m[1]);

async function story(runtime: RuntimeKind): Promise<string[][]> {
  const dir = Deno.makeTempDirSync({ dir: ".", prefix: ".state-test-" });
  try {
    await using system = await ManagedSystem.start({
      storage: { dir },
      lpars: [{ name: "a", kernel: "mainline", nvdimms: [{ drc: A, blocks: 8 }] }],
    }, { runtime });
    const lpar = system.lpar("a");
    await lpar.boot();
    const created = await lpar.ndctlRun(["create-namespace", "-s", "1G", "-n", "db"]);
    assert.equal(created.rc, 0, created.stderr);
    const seen = [modes((await lpar.ndctlRun(["list", "-N"])).stdout)];
    // The info block cannot be read: the next kernel still boots, the namespace raw.
    await system.setStorageFault(A, "eio");
    await lpar.kexec();
    assert.equal(lpar.state, "running");
    seen.push(modes((await lpar.ndctlRun(["list", "-N"])).stdout));
    // Nor zeroed: ndctl reports both failures and destroys nothing.
    const destroy = await lpar.ndctlRun(["destroy-namespace", "-f", "namespace0.0"]);
    assert.deepEqual([destroy.rc, destroy.stdout, destroy.stderr], [
      -6,
      "",
      "  Error: destroy-namespace: namespace0.0: failed to read info block, continuing\n\n" +
      "  Error: destroy-namespace: namespace0.0: failed to zero info block /dev/pmem0\n\n" +
      "destroyed 0 namespaces\n",
    ]);
    // The disk is back: the block was never lost, fsdax again.
    await system.setStorageFault(A, "none");
    await lpar.kexec();
    seen.push(modes((await lpar.ndctlRun(["list", "-N"])).stdout));
    assert.equal(system.failure, undefined);
    return seen;
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

workerTest("pmem media errors: an unreadable info block boots the namespace raw", async () => {
  for (const runtime of ["sim", "threads"] as const) {
    assert.deepEqual(await story(runtime), [["fsdax"], ["raw"], ["fsdax"]], runtime);
  }
});

Deno.test("pmem media errors: an info block the media cannot take is -EIO (5)", () => {
  const failing: Media = {
    read: () => new Uint8Array(4096),
    write: (addr, bytes) => {
      throw new MachineCheck(addr, bytes.length, "could not be stored");
    },
  };
  const region = { start: 1n << 40n } as Region;
  const ns = {
    dpa: 0n,
    size: 1n << 30n,
    uuid: "0f6b4d52-9e6a-4b7c-8d2e-3a1f5c7e9b10",
  } as Namespace;
  const task = writePfnInfo(region, ns, "5a2c1e3f-7b8d-4e6a-9c0b-1d2f3e4a5b6c", failing);
  const step = task.next();
  assert.deepEqual([step.done, step.value], [true, -5]);
  assert.equal(ns.pfn, undefined, "no pfn device is left described");
  const bug: Media = {
    ...failing,
    write: () => {
      throw new TypeError("a bug");
    },
  };
  assert.throws(
    () => writePfnInfo(region, ns, "5a2c1e3f-7b8d-4e6a-9c0b-1d2f3e4a5b6c", bug).next(),
    TypeError,
  );
});
