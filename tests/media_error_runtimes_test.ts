/**
 * A machine check for the host's I/O failing says the same on both
 * runtimes, for an access of any length: the sim's engine names the whole
 * access, so the threads runtime, which copies through its 64 KiB bounce
 * buffer in chunks, must too (as it already does for an unmapped range),
 * not only the chunk that failed.
 */
import assert from "node:assert/strict";
import { ManagedSystem } from "../actors/managed_system.ts";
import type { RuntimeKind } from "../runtime/types.ts";
import { workerTest } from "./worker_test.ts";

const A = 0x44100002;

async function said(runtime: RuntimeKind): Promise<string[]> {
  const dir = Deno.makeTempDirSync({ dir: ".", prefix: ".state-test-" });
  const messages: string[] = [];
  try {
    await using system = await ManagedSystem.start({
      storage: { dir },
      lpars: [{
        name: "a",
        kernel: "mainline",
        nvdimms: [{ drc: A, blocks: 1, blockSize: 1 << 20 }],
      }],
    }, { runtime, seed: 7 });
    const a = system.lpar("a");
    await a.boot();
    await system.setStorageFault(A, "eio");
    // Longer than the bounce buffer: a load and a store in more than one chunk.
    for (
      const access of [
        a.read("region0", 0, 100_000),
        a.write("region0", 0, new Uint8Array(100_000)),
      ]
    ) {
      await access.then(
        () => assert.fail(`${runtime}: expected a machine check`),
        (error: Error) => messages.push(error.message),
      );
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
  return messages;
}

/** The machine check itself, without the host's error (threads' hypervisor reads in chunks). */
const range = (message: string) => message.replace(/ \(.*$/, "");

workerTest(
  "a media error names the same range on both runtimes, past the bounce buffer",
  async () => {
    const sim = await said("sim"), threads = await said("threads");
    assert.deepEqual(sim.map(range), [
      "machine check: 100000 bytes at 0x40000000000 could not be loaded: uncorrectable error",
      "machine check: 100000 bytes at 0x40000000000 could not be stored: uncorrectable error",
    ]);
    assert.deepEqual(threads.map(range), sim.map(range));
    for (const message of threads) assert.match(message, /Input\/output error/);
  },
);
