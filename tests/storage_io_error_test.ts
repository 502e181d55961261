/**
 * The host's storage failing under one partition (a full disk under a
 * sparse backing file, a failing disk) is that partition's error, on both
 * runtimes alike: its store, load or flush write-back is a machine check
 * naming the host's error, a flush hcall answers H_HARDWARE (QEMU's answer
 * when the backing file's fdatasync fails), and the other partitions and
 * the system go on. Before, on `threads`, the hypervisor's serve loop took
 * any error that was not a MachineCheck as its own failure and stopped
 * every partition. Only the storage layer's I/O errors (StorageIoError)
 * are the asker's: a bug anywhere else still fails the hypervisor.
 */
import assert from "node:assert/strict";
import { ManagedSystem } from "../actors/managed_system.ts";
import type { SystemConfig } from "../actors/config.ts";
import { DaxEngine, MachineCheck, MediaError, type ScmMemory } from "../core/dax.ts";
import { FileStore } from "../storage/file_store.ts";
import { Persistence } from "../storage/persistence.ts";
import { MemoryStore } from "../storage/memory_store.ts";
import { StorageIoError } from "../storage/types.ts";
import { H, OP } from "../abi/hcalls.ts";
import type { RuntimeKind } from "../runtime/types.ts";
import { workerTest } from "./worker_test.ts";

const A = 0x44100002, B = 0x44100003, C = 0x44100004;

function config(dir: string): SystemConfig {
  return {
    storage: { dir },
    lpars: [
      { name: "a", kernel: "mainline", nvdimms: [{ drc: A, blocks: 1, blockSize: 1 << 20 }] },
      { name: "b", kernel: "mainline", nvdimms: [{ drc: B, blocks: 1, blockSize: 1 << 20 }] },
      {
        name: "c",
        kernel: "mainline",
        nvdimms: [{ drc: C, blocks: 1, blockSize: 1 << 20, hcallFlushRequired: true }],
      },
    ],
  };
}

const bytes = (value: number, length = 100) => new Uint8Array(length).fill(value);

/** What went wrong, as the asker sees it: it came through the guest, so no host path is in it. */
async function failure(promise: Promise<unknown>, dir: string): Promise<string> {
  try {
    await promise;
  } catch (error) {
    const message = (error as Error).message;
    assert(!message.includes(dir), `a host path reached the guest: ${message}`);
    return message;
  }
  throw new Error("expected the call to fail");
}

/** The story on one runtime; what each failed call said. */
async function story(runtime: RuntimeKind): Promise<string[]> {
  const dir = Deno.makeTempDirSync({ dir: ".", prefix: ".state-test-" });
  const said: string[] = [];
  try {
    await using system = await ManagedSystem.start(config(dir), { runtime, seed: 7 });
    const [a, b, c] = ["a", "b", "c"].map((name) => system.lpar(name));
    await Promise.all([a.boot(), b.boot(), c.boot()]);
    /** The neighbour works: a store, its write-back and a load. */
    const neighbourWorks = async (value: number) => {
      await b.write("region0", 0, bytes(value));
      assert.equal(await b.flush("region0"), "none");
      assert.deepEqual(await b.read("region0", 0, 100), bytes(value));
    };

    // A store into a device holding nothing volatile: its mark cannot be set.
    await a.write("region0", 0, bytes(1));
    assert.equal(await a.flush("region0"), "none");
    await system.setStorageFault(A, "enospc");
    said.push(await failure(a.write("region0", 4096, bytes(2)), dir));
    await neighbourWorks(10);

    // A store that lands in the cache, then its write-back fails: the flush fails.
    await system.setStorageFault(A, "none");
    await a.write("region0", 8192, bytes(3));
    await system.setStorageFault(A, "enospc");
    said.push(await failure(a.flush("region0"), dir));
    await neighbourWorks(11);

    // A label write whose bytes cannot be written: H_HARDWARE, -EIO to libnvdimm.
    await system.traceStart();
    said.push(JSON.stringify(await a.writeLabel("nmem0", 0, new Uint8Array([5]))));
    assert.deepEqual(await system.traceTake(), [
      { lpar: "a", hcall: "H_SCM_WRITE_METADATA", rc: "H_HARDWARE" },
    ]);
    await neighbourWorks(14);

    // A failing disk: a load fails too.
    await system.setStorageFault(A, "eio");
    said.push(await failure(a.read("region0", 0, 100), dir));
    await neighbourWorks(12);

    // An hcall-flush device: the write-back lands in the host's buffer; the
    // flush hcall cannot make it durable and answers H_HARDWARE.
    await c.write("region0", 0, bytes(4));
    await system.setStorageFault(C, "enospc");
    assert.equal(await c.flush("region0"), "H_HARDWARE");
    await system.setStorageFault(C, "none");
    assert.equal(await c.flush("region0"), "H_SUCCESS");

    // The disk is back: nothing was lost, and the failed partition goes on.
    await system.setStorageFault(A, "none");
    assert.deepEqual(await a.read("region0", 0, 100), bytes(1));
    assert.deepEqual(await a.read("region0", 8192, 100), bytes(3));
    assert.equal(await a.flush("region0"), "none");
    await a.write("region0", 4096, bytes(2));
    assert.deepEqual(await a.read("region0", 4096, 100), bytes(2));
    await neighbourWorks(13);

    assert.equal(system.failure, undefined);
    assert.deepEqual(system.errors, []);
    assert.deepEqual(await system.invariants(), []);
    for (const l of [a, b, c]) assert.equal(l.state, "running");
    // Faults are checked: a name, a device and durable state.
    await assert.rejects(
      () => system.setStorageFault(A, "full" as never),
      /storage fault "full": expected one of none, enospc, eio/,
    );
    await assert.rejects(() => system.setStorageFault(0x44100009, "eio"), /no drc 0x44100009/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
  return said;
}

workerTest(
  "storage I/O errors: the asker gets a machine check, the others and the system go on, on both runtimes",
  async () => {
    const sim = await story("sim");
    const threads = await story("threads");
    assert.match(
      sim[0],
      /^machine check: 100 bytes at 0x[0-9a-f]+ could not be stored: uncorrectable error \(replace facts: No space left on device \(os error 28\) \(injected\)\)$/,
    );
    assert.match(
      sim[1],
      /^machine check: \d+ bytes at 0x[0-9a-f]+ could not be written back: uncorrectable error \(write a flush intent: No space left on device \(os error 28\) \(injected\)\)$/,
    );
    // papr_scm_meta_set gives -EINVAL for any hcall error but H_PARAMETER.
    assert.equal(sim[2], '{"rc":-22,"error":"EINVAL"}');
    assert.match(
      sim[3],
      /^machine check: 100 bytes at 0x[0-9a-f]+ could not be loaded: uncorrectable error \(read 100 bytes of SCM at 0: Input\/output error \(os error 5\) \(injected\)\)$/,
    );
    assert.deepEqual(threads, sim, "the same words on both runtimes");
  },
);

workerTest("storage I/O errors: without durable state there is no storage to fail", async () => {
  for (const runtime of ["sim", "threads"] as const) {
    await using system = await ManagedSystem.start({
      lpars: [{ name: "a", nvdimms: [{ drc: A, blocks: 1 }] }],
    }, { runtime });
    await assert.rejects(
      () => system.setStorageFault(A, "eio"),
      /setStorageFault needs durable state: start the system with storage: \{ dir \}/,
    );
  }
});

workerTest(
  "storage I/O errors: a stop with a failing disk loses what it could not write, counted at the next power-on",
  async () => {
    for (const runtime of ["sim", "threads"] as const) {
      const dir = Deno.makeTempDirSync({ dir: ".", prefix: ".state-test-" });
      try {
        {
          await using system = await ManagedSystem.start(config(dir), { runtime });
          const a = system.lpar("a");
          await a.boot();
          await a.write("region0", 0, bytes(5));
          await system.setStorageFault(A, "eio");
          await system.stop();
          assert.equal(system.failure, undefined);
          // The stop says what it could not write, and only that device.
          assert.equal(system.errors.length, 1, system.errors.join("\n"));
          assert.match(
            system.errors[0],
            /^power-off: drc 0x44100002 \(.+\): .*Input\/output error \(os error 5\) \(injected\): what it held was lost \(the next power-on counts a dirty shutdown\)$/,
          );
        }
        await using system = await ManagedSystem.start(config(dir), { runtime });
        const a = system.lpar("a"), b = system.lpar("b");
        await Promise.all([a.boot(), b.boot()]);
        assert.equal(await a.papr("nmem0", "dirty_shutdown"), "1\n", runtime);
        assert.deepEqual(await a.read("region0", 0, 100), bytes(0), "the store was lost");
        assert.equal(
          await b.papr("nmem0", "dirty_shutdown"),
          "0\n",
          "the other device lost nothing",
        );
      } finally {
        Deno.removeSync(dir, { recursive: true });
      }
    }
  },
);

Deno.test("storage I/O errors: a file store names the file and the OS error", () => {
  const dir = Deno.makeTempDirSync({ dir: ".", prefix: ".state-test-" });
  try {
    const store = FileStore.open(dir);
    const drc = store.open({ index: A, uuid: "u", blockSize: 65536n, blocks: 1, metadataSize: 8 });
    drc.close();
    // A descriptor gone (as a file the OS could no longer use) is an I/O error, not a bug.
    assert.throws(
      () => drc.write(64, bytes(1, 64)),
      (error: unknown) =>
        error instanceof StorageIoError &&
        error.message.startsWith(`${dir}/drc-44100002.scm: write 64 bytes at 64: `) &&
        // What the guest is told names the operation and the OS error, not the file.
        error.guestText.startsWith("write 64 bytes at 64: ") && !error.guestText.includes(dir),
    );
    assert.throws(() => drc.read(0, 8), StorageIoError);
    assert.throws(() => drc.writeLabel(0, bytes(1, 8)), /drc-44100002\.label: write 8 bytes at 0/);
    store.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

/** A DRC's memory that throws what it is given. */
function throwing(error: Error): ScmMemory {
  return {
    size: 65536,
    read: () => {
      throw error;
    },
    write: () => {
      throw error;
    },
    writeBack: () => {
      throw error;
    },
  };
}

Deno.test("storage I/O errors: only a StorageIoError becomes a machine check; a bug stays a bug", () => {
  const source = {
    mappings: () => [{ base: 0x1000n, size: 65536n, drc: A, offset: 0n }],
    mapVersion: () => 1,
  };
  const io = new DaxEngine(
    source,
    () => throwing(new StorageIoError("/host/dir/disk: EIO", { guestText: "write: EIO" })),
  );
  assert.throws(() => io.write(1, 0x1000n, bytes(1, 8)), (error: unknown) => {
    assert(error instanceof MediaError && error instanceof MachineCheck);
    assert.equal(error.hostError, "write: EIO", "the guest is not told the host's path");
    assert.equal(
      error.message,
      "machine check: 8 bytes at 0x1000 could not be stored: uncorrectable error (write: EIO)",
    );
    return true;
  });
  assert.throws(() => io.read(1, 0x1000n, 8), /could not be loaded/);
  assert.throws(() => io.writeBack(1, 0x1000n, 64), /64 bytes at 0x1000 could not be written back/);
  const bug = new DaxEngine(source, () => throwing(new TypeError("a bug")));
  for (const access of [() => bug.write(1, 0x1000n, bytes(1, 8)), () => bug.read(1, 0x1000n, 8)]) {
    assert.throws(access, (error: unknown) => error instanceof TypeError);
  }
});

Deno.test("storage I/O errors: a flush hcall whose lines cannot be written answers H_HARDWARE; a bug throws", () => {
  const persistence = new Persistence(new MemoryStore());
  const g = { index: A, uuid: "u", blockSize: 65536n, blocks: 1, metadataSize: 8 };
  const { memory } = persistence.powerOn({ ...g, hcallFlushRequired: true });
  memory.write(0, bytes(1, 64));
  memory.writeBack();
  const flush = () =>
    persistence.afterHcall(OP.H_SCM_FLUSH, [BigInt(A), 0n], H.SUCCESS, () => undefined);
  const label = () =>
    persistence.afterHcall(
      OP.H_SCM_WRITE_METADATA,
      [BigInt(A), 0n, 1n, 1n],
      H.SUCCESS,
      () => bytes(1, 8),
    );
  persistence.setFault(A, "enospc");
  assert.equal(flush(), H.HARDWARE);
  assert.equal(label(), H.HARDWARE);
  assert.equal(memory.pending.size, 1, "the line stays pending for the next flush");
  persistence.setFault(A, "none");
  assert.equal(flush(), H.SUCCESS);
  assert.equal(label(), H.SUCCESS);
  assert.equal(memory.pending.size, 0);
  // A failure that is not the host's I/O is not turned into an answer.
  memory.write(0, bytes(2, 64));
  memory.writeBack();
  memory.durable.write = () => {
    throw new TypeError("a bug");
  };
  assert.throws(flush, TypeError);
  persistence.kill();
});
