/**
 * A property test of the cache model under failing host I/O: several
 * devices (normal and hcall-flush) on one small cache, stores, write-backs,
 * H_SCM_FLUSH commits and evictions at random, with every device's SCM reads
 * and writes failing at random. After every step: the cache's `used` is the
 * dirty lines its members hold and never past its capacity, a device that
 * holds anything volatile has its unflushed mark set, and every byte a store
 * that succeeded left is read back (no line dropped, none rolled back by a
 * failure). At the end the faults stop and an orderly flush makes every
 * stored byte durable. Seeded: a failure names its seed.
 */
import assert from "node:assert/strict";
import { CachedScm, CpuCache, LINE_BYTES } from "../storage/cpu_cache.ts";
import { MemoryStore } from "../storage/memory_store.ts";
import { SeededRandom } from "../runtime/sim/random.ts";
import { StorageError, StorageIoError } from "../storage/types.ts";
import { FailingDrc } from "./failing_drc.ts";

const DEVICE_LINES = 32;

/** One seeded run; the I/O failures it injected. */
function run(seed: number, steps: number): number {
  const random = new SeededRandom(seed);
  const store = new MemoryStore();
  const capacity = 1 + random.below(12);
  const cache = new CpuCache(capacity);
  const marks = new Map<number, boolean>();
  const devices = Array.from({ length: 3 }, (_, i) => {
    const index = i + 1;
    const durable = new FailingDrc(store.open({
      index,
      uuid: `u${index}`,
      blockSize: BigInt(DEVICE_LINES * LINE_BYTES),
      blocks: 1,
      metadataSize: 0,
    }));
    // SCM reads and writes fail at random (seeded).
    const flaky = new SeededRandom(seed, index), rate = [0, 0.1, 0.5][random.below(3)];
    const fails = () => rate > 0 && flaky.chance(rate);
    durable.when = { read: fails, write: fails };
    const scm = new CachedScm(index, durable, random.chance(0.5), cache, {
      holding: (drc, holding) => marks.set(drc, holding),
      stored: () => {},
      durable: () => {},
    });
    // What the guest stored and was not refused: what it must read back.
    const shadow = new Uint8Array(DEVICE_LINES * LINE_BYTES);
    return { durable, scm, shadow };
  });
  const check = (step: string) => {
    const where = `seed ${seed}, ${step}`;
    let dirty = 0;
    for (const member of cache.members) dirty += member.dirty.size;
    assert.equal(cache.used, dirty, `${where}: used is the dirty lines held`);
    assert(cache.used <= capacity, `${where}: used ${cache.used} within ${capacity}`);
    for (const { durable, scm, shadow } of devices) {
      if (scm.holding) assert.equal(marks.get(scm.index), true, `${where}: holding, unmarked`);
      // Through the cache, without the fault: the media plus the volatile lines.
      const seen = durable.inner.read(0, scm.size);
      for (const [line, bytes] of scm.volatileLines()) seen.set(bytes, line * LINE_BYTES);
      assert.deepEqual(seen, shadow, `${where}: drc ${scm.index} reads what was stored`);
    }
  };
  const expected = (error: unknown) => {
    if (!(error instanceof StorageIoError)) throw error;
  };
  for (let step = 0; step < steps; step++) {
    const device = devices[random.below(devices.length)];
    const op = random.below(10);
    let what = "";
    try {
      if (op < 6) {
        // One line's part: a store that fails stores nothing.
        const line = random.below(DEVICE_LINES);
        const from = random.below(LINE_BYTES);
        const length = 1 + random.below(LINE_BYTES - from);
        const bytes = new Uint8Array(length).fill(1 + random.below(255));
        const offset = line * LINE_BYTES + from;
        what = `store ${length} at ${offset}`;
        device.scm.write(offset, bytes);
        device.shadow.set(bytes, offset);
      } else if (op < 8) {
        what = "write-back";
        device.scm.writeBack();
      } else if (op < 9) {
        what = "commit";
        device.scm.commit();
      } else {
        what = "evict";
        device.scm.evictOne();
      }
    } catch (error) {
      expected(error);
    }
    check(`step ${step} (drc ${device.scm.index} ${what})`);
  }
  for (const { durable, scm, shadow } of devices) {
    durable.when = {};
    scm.writeBack();
    scm.commit();
    assert(!scm.holding, `seed ${seed}: drc ${scm.index} holds nothing after a flush`);
    assert.equal(marks.get(scm.index), false, `seed ${seed}: its mark is clear`);
    assert.deepEqual(
      durable.inner.read(0, scm.size),
      shadow,
      `seed ${seed}: every store is durable`,
    );
  }
  assert.equal(cache.used, 0);
  return devices.reduce((sum, { durable }) => sum + durable.failures, 0);
}

Deno.test("the cache model under random host I/O failures: no line lost, used exact", () => {
  let failures = 0;
  for (let seed = 1; seed <= 300; seed++) failures += run(seed, 400);
  assert(failures > 1000, `only ${failures} injected failures`);
});

Deno.test("the fuzz's device does fail (the property is not vacuous)", () => {
  const durable = new FailingDrc(
    new MemoryStore().open({ index: 1, uuid: "u", blockSize: 4096n, blocks: 1, metadataSize: 0 }),
  );
  durable.when = { read: () => true, write: () => true };
  assert.throws(() => durable.write(0, new Uint8Array(1)), StorageIoError);
  assert.throws(() => durable.read(0, 1), StorageIoError);
  assert.equal(durable.failures, 2);
  assert(!(new StorageError("x") instanceof StorageIoError));
});
