/**
 * Durable state in a directory: sparse files, a second system on the same
 * directory finds what was durable, and every way the directory or its
 * files can be wrong is a clear error naming the file.
 */
import assert from "node:assert/strict";
import { ManagedSystem } from "../actors/managed_system.ts";
import { FileStore } from "../storage/file_store.ts";
import { StorageError } from "../storage/types.ts";
import type { SystemConfig } from "../actors/config.ts";
import { main } from "../cli/main.ts";
import { runWatched } from "./worker_test.ts";

const GEOMETRY = {
  index: 0x44100002,
  uuid: "44100002-5ca1-4e00-8000-441000020000",
  blockSize: 1n << 20n,
  blocks: 4,
  metadataSize: 128 * 1024,
};

function tempDir(): string {
  return Deno.makeTempDirSync({ dir: ".", prefix: ".state-test-" });
}

function withDir(name: string, body: (dir: string) => Promise<void> | void) {
  Deno.test(name, async () => {
    const dir = tempDir();
    try {
      await body(dir);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  });
}

function config(dir: string, blocks = 4, blockSize = 1 << 20): SystemConfig {
  return {
    storage: { dir },
    lpars: [{
      name: "lpar1",
      kernel: "mainline",
      nvdimms: [{ drc: "0x44100002", blocks, blockSize }],
    }],
  };
}

withDir("a system started on the same directory finds what was durable", async (dir) => {
  {
    await using system = await ManagedSystem.start(config(dir), { runtime: "sim" });
    const lpar = system.lpar("lpar1");
    await lpar.boot();
    await lpar.write("region0", 8192, new TextEncoder().encode("on disk"));
    await lpar.flush("region0");
    assert.equal((await lpar.writeLabel("nmem0", 0, new Uint8Array([7, 7]))).rc, 0);
    await system.setHealth(0x44100002, ["HEALTH_NON_CRITICAL"]);
  }
  await using system = await ManagedSystem.start(config(dir), { runtime: "sim" });
  const lpar = system.lpar("lpar1");
  await lpar.boot();
  assert.equal(new TextDecoder().decode(await lpar.read("region0", 8192, 7)), "on disk");
  assert.deepEqual([...(await lpar.readLabel("nmem0", 0, 2)).data!], [7, 7]);
  const facts = JSON.parse(Deno.readTextFileSync(`${dir}/drc-44100002.json`));
  assert.equal(facts.health, (1n << 56n).toString(16));
  assert.equal(facts.persistenceFailedCount, 0);
});

withDir("sparse: a 16 GiB nvdimm with 1 MiB written takes about 1 MiB", async (dir) => {
  // 64 blocks of 256 MiB.
  {
    await using system = await ManagedSystem.start(config(dir, 64, 256 << 20), {
      runtime: "sim",
    });
    const lpar = system.lpar("lpar1");
    await lpar.boot();
    await lpar.write("region0", 5 << 30, new Uint8Array(1 << 20).fill(0xA5));
    await lpar.flush("region0");
  }
  const info = Deno.statSync(`${dir}/drc-44100002.scm`);
  assert.equal(info.size, 16 * 1024 ** 3);
  const used = (info.blocks ?? 0) * 512;
  assert(used >= 1 << 20 && used <= 2 << 20, `${used} bytes on disk`);
});

Deno.test("a directory that cannot be used is refused, naming it", async (t) => {
  await t.step("a file, not a directory", () => {
    const dir = tempDir();
    try {
      Deno.writeTextFileSync(`${dir}/plain`, "");
      assert.throws(
        () => FileStore.open(`${dir}/plain`),
        (e: Error) =>
          e instanceof StorageError && /plain: exists but is not a directory/.test(e.message),
      );
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  });
  await t.step("its parent is missing", () => {
    assert.throws(
      () => FileStore.open("./no-such-parent-dir/state"),
      /no-such-parent-dir\/state: cannot be created \(its parent must exist and be writable\)/,
    );
  });
  await t.step("not writable (outside what this process may write)", () => {
    // /proc is read-only for everyone, root included.
    assert.throws(() => FileStore.open("/proc/self"), /storage directory \/proc\/self: /);
  });
  await t.step("an empty path", () => {
    assert.throws(() => FileStore.open(""), /expected a path to a directory/);
  });
  await t.step("the CLI says so with exit code 2", async () => {
    const errors: string[] = [];
    const code = await main(["powerloss", "--state", "./no-such-parent-dir/state"], {
      print: () => {},
      error: (t) => errors.push(t),
    });
    assert.equal(code, 2);
    assert.match(errors[0], /no-such-parent-dir\/state: cannot be created/);
  });
});

withDir("corrupt or truncated state files are refused, naming the file", async (dir) => {
  const first = FileStore.open(dir);
  first.open(GEOMETRY).close();
  first.close();
  const facts = `${dir}/drc-44100002.json`;
  const scm = `${dir}/drc-44100002.scm`;
  const label = `${dir}/drc-44100002.label`;
  const good = Deno.readTextFileSync(facts);
  const reopen = () => {
    const store = FileStore.open(dir);
    try {
      return store.open(GEOMETRY);
    } finally {
      store.close();
    }
  };

  Deno.writeTextFileSync(facts, good.slice(0, 20));
  assert.throws(
    reopen,
    (e: Error) =>
      e instanceof StorageError && e.message.startsWith(`${facts}: is not valid JSON`) &&
      /corrupt or truncated/.test(e.message),
  );

  Deno.writeTextFileSync(facts, JSON.stringify({ ...JSON.parse(good), blocks: -1 }));
  assert.throws(reopen, new RegExp(`${facts}: field blocks is -1; expected a positive integer`));

  Deno.writeTextFileSync(facts, JSON.stringify({ ...JSON.parse(good), uuid: "other" }));
  assert.throws(reopen, /uuid is "other" there but the configuration asks for/);

  Deno.writeTextFileSync(facts, good);
  Deno.truncateSync(scm, 1000);
  assert.throws(reopen, new RegExp(`${scm}: is 1000 bytes, expected 4194304; it is truncated`));
  Deno.truncateSync(scm, 4 << 20);

  Deno.removeSync(label);
  assert.throws(reopen, new RegExp(`${label}: missing beside ${facts}`));
  Deno.writeFileSync(label, new Uint8Array(GEOMETRY.metadataSize));

  const mark = `${dir}/drc-44100002.unflushed`;
  Deno.writeFileSync(mark, new Uint8Array(2));
  assert.throws(
    reopen,
    (e: Error) =>
      e instanceof StorageError &&
      e.message.startsWith(`${mark}: is 2 bytes, expected 4096 (a mark record) or 4 (the older`) &&
      /it is not an unflushed mark/.test(e.message),
  );
  Deno.writeFileSync(mark, new Uint8Array(4));

  Deno.writeTextFileSync(facts, JSON.stringify({ ...JSON.parse(good), epoch: 0 }));
  assert.throws(reopen, new RegExp(`${facts}: field epoch is 0; expected an integer from 1`));

  // A start on the bad directory fails whole, with the same message.
  Deno.writeTextFileSync(facts, "{");
  await assert.rejects(
    () => ManagedSystem.start(config(dir), { runtime: "sim" }),
    new RegExp(`${facts}: is not valid JSON`),
  );
});

withDir("threads: the hypervisor's thread keeps durable state in the directory", async (dir) => {
  {
    const system = await ManagedSystem.start(config(dir));
    const lpar = system.lpar("lpar1");
    await lpar.boot();
    await lpar.write("region0", 0, new TextEncoder().encode("flushed"));
    assert.equal(await lpar.flush("region0"), "none");
    await lpar.write("region0", 4096, new Uint8Array([9]));
    assert.equal((await lpar.writeLabel("nmem0", 0, new Uint8Array([5]))).rc, 0);
    const report = await system.powerLoss("none");
    assert.deepEqual(report.drcs, [{ drc: 0x44100002, unflushedLines: 1, lostLines: 1 }]);
  }
  await using system = await ManagedSystem.start(config(dir));
  const lpar = system.lpar("lpar1");
  await lpar.boot();
  assert.equal(new TextDecoder().decode(await lpar.read("region0", 0, 7)), "flushed");
  assert.equal((await lpar.read("region0", 4096, 1))[0], 0);
  assert.deepEqual([...(await lpar.readLabel("nmem0", 0, 1)).data!], [5]);
  assert.equal(await lpar.papr("nmem0", "dirty_shutdown"), "1\n");
  // The directory is the running hypervisor's: a second system is refused.
  await assert.rejects(
    () => ManagedSystem.start(config(dir), { runtime: "sim" }),
    /in use by another running system/,
  );
});

Deno.test("config.storage is checked", async () => {
  await assert.rejects(
    () =>
      ManagedSystem.start({ ...config("./x"), storage: { dir: 3 } } as never, { runtime: "sim" }),
    /config.storage.dir: 3 is not valid; expected a path to a directory/,
  );
});

withDir(
  "a power loss and a hypervisor kill on files: the next power-on counts them",
  async (dir) => {
    const count = () =>
      JSON.parse(Deno.readTextFileSync(`${dir}/drc-44100002.json`)).persistenceFailedCount;
    {
      const system = await ManagedSystem.start(config(dir), { runtime: "sim" });
      const lpar = system.lpar("lpar1");
      await lpar.boot();
      await lpar.write("region0", 0, new Uint8Array([1]));
      await system.powerLoss("none");
    }
    assert.equal(count(), 0, "counted at the power-on, not at the loss");
    {
      const system = await ManagedSystem.start(config(dir), { runtime: "sim" });
      assert.equal(count(), 1);
      const lpar = system.lpar("lpar1");
      await lpar.boot();
      await lpar.write("region0", 0, new Uint8Array([2]));
      // The hypervisor dies with a store in the cache: as a SIGKILL, the cache is gone.
      await system.injectHypervisorFailure("killed");
    }
    await using system = await ManagedSystem.start(config(dir), { runtime: "sim" });
    assert.equal(count(), 2);
    const lpar = system.lpar("lpar1");
    await lpar.boot();
    assert.equal((await lpar.read("region0", 0, 1))[0], 0);
  },
);

withDir(
  "one system at a time on a directory: a second is refused until the first stops",
  async (dir) => {
    const first = await ManagedSystem.start(config(dir), { runtime: "sim" });
    try {
      await assert.rejects(
        () => ManagedSystem.start(config(dir), { runtime: "sim" }),
        new RegExp(
          `storage directory ${dir}: in use by another running system \\(${dir}/lock is held\\)`,
        ),
      );
    } finally {
      await first.stop();
    }
    const second = await ManagedSystem.start(config(dir), { runtime: "sim" });
    await second.stop();
    // A start that fails before its hypervisor runs gives the lock back.
    await assert.rejects(
      () => ManagedSystem.start(config(dir), { runtime: "sim", scmBudgetBytes: -1 }),
      /scmBudgetBytes -1/,
    );
    const third = await ManagedSystem.start(config(dir), { runtime: "sim" });
    await third.stop();
  },
);

/** Three nvdimms over two LPARs: a start creates their DRCs all at once. */
function several(dir: string): SystemConfig {
  const nvdimm = (drc: string) => ({ drc, blocks: 4, blockSize: 1 << 20 });
  return {
    storage: { dir },
    lpars: [
      { name: "lpar1", kernel: "5.4", nvdimms: [nvdimm("0x44100002"), nvdimm("0x44100003")] },
      { name: "lpar2", kernel: "5.4", nvdimms: [nvdimm("0x44100004")] },
    ],
  };
}

for (const runtime of ["sim", "threads"] as const) {
  withDir(
    `${runtime}: one corrupt DRC of several fails the start whole, naming it; nothing is left running`,
    (dir) =>
      runWatched(async () => {
        await (await ManagedSystem.start(several(dir), { runtime })).stop();
        // The middle one: its DRC's creation fails while the others' are in flight.
        const facts = `${dir}/drc-44100003.json`, good = Deno.readTextFileSync(facts);
        Deno.writeTextFileSync(facts, "{");
        await assert.rejects(
          () => ManagedSystem.start(several(dir), { runtime }),
          new RegExp(`${facts}: is not valid JSON`),
        );
        // The failed start stopped what it had started and gave the directory back.
        Deno.writeTextFileSync(facts, good);
        await using system = await ManagedSystem.start(several(dir), { runtime });
        for (const lpar of system.lpars) await lpar.boot();
        const drcs = (await Promise.all(system.lpars.map((l) => l.regions())))
          .flat().map((r) => r.drc).sort();
        assert.deepEqual(drcs, [0x44100002, 0x44100003, 0x44100004]);
      }),
  );
}
