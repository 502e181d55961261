/**
 * A DAX access in flight does not outlive a forced release: once the
 * hypervisor has taken a DRC's blocks from an LPAR, no byte of them is read or
 * written by that LPAR, even by a copy that had already begun.
 */
import assert from "node:assert/strict";
import { setTimeout as delay } from "node:timers/promises";
import { ManagedSystem } from "../actors/managed_system.ts";
import { workerTest } from "./worker_test.ts";

const DRC = 0x44100002;
const MiB = 1 << 20;

workerTest(
  "dax (threads): a write in flight stops at a forced release; the new owner's data stays",
  async () => {
    const shared = { drc: DRC, blocks: 256, blockSize: MiB };
    await using system = await ManagedSystem.start({
      lpars: [
        { name: "a", kernel: "5.4", nvdimms: [shared] },
        { name: "b", kernel: "5.4", nvdimms: [shared] },
      ],
    });
    const [a, b] = system.lpars;
    await a.boot();
    await a.panic(); // stays down: the release will be forced
    let settled = false;
    const writing = a.write("region0", 0, new Uint8Array(255 * MiB).fill(0xAA)).then(
      () => "finished",
      (e: Error) => e.message,
    ).finally(() => (settled = true));
    const removing = system.dlparRemove("a", DRC);
    // As soon as the hypervisor has released A's blocks, B takes the DRC and writes,
    // for as long as A's copy may still run: each of B's writes must stay as written.
    while ((await system.bindings()).some((x) => x.lpar === "a")) await delay(1);
    await b.boot();
    const written = new Map<number, number>();
    for (let i = 0; !settled && i < 10_000; i++) {
      const at = (128 + (i % 127)) * MiB;
      await b.write("region0", at, new Uint8Array(4096).fill(i & 0xFF));
      written.set(at, i & 0xFF);
    }
    const outcome = await writing;
    await removing;
    // A's copy either ended before the release or was cut off by it (a machine check).
    assert.match(outcome, /^(finished|.*machine check: .* are not mapped)$/, outcome);
    for (const [at, value] of written) {
      const back = await b.read("region0", at, 4096);
      assert.ok(
        back.every((x) => x === value),
        `A's old write reached B's data at ${at} (${outcome})`,
      );
    }
  },
);
