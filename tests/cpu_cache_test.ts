/**
 * The cache model alone: what a store, a write-back, a flush hcall and a
 * full cache do to what is durable.
 */
import assert from "node:assert/strict";
import { CachedScm, CpuCache } from "../storage/cpu_cache.ts";
import { MemoryStore } from "../storage/memory_store.ts";

function device(hcallFlush: boolean, capacity: number) {
  const durable = new MemoryStore().open({
    index: 1,
    uuid: "u",
    blockSize: 65536n,
    blocks: 1,
    metadataSize: 0,
  });
  const marks: boolean[] = [];
  const made: number[] = [];
  const cache = new CpuCache(capacity);
  const scm = new CachedScm(1, durable, hcallFlush, cache, {
    holding: (_, holding) => marks.push(holding),
    stored: () => {},
    durable: (_, line) => made.push(line),
  });
  return { durable, scm, cache, marks, made };
}

Deno.test("a store is visible at once and durable only after the write-back", () => {
  const { durable, scm, marks } = device(false, 16);
  scm.write(10, new Uint8Array([1, 2, 3]));
  assert.deepEqual([...scm.read(10, 3)], [1, 2, 3]);
  assert.deepEqual([...durable.read(10, 3)], [0, 0, 0]);
  assert.deepEqual(marks, [true], "the unflushed mark is set before the store lands");
  assert.equal(scm.writeBack(), 1);
  assert.deepEqual([...durable.read(10, 3)], [1, 2, 3]);
  assert.deepEqual(marks, [true, false]);
});

Deno.test("hcall-flush devices: written back is not durable until the flush completes", () => {
  const { durable, scm } = device(true, 16);
  scm.write(0, new Uint8Array([7]));
  scm.writeBack();
  assert.equal(durable.read(0, 1)[0], 0);
  assert.equal(scm.read(0, 1)[0], 7, "the guest still reads its store");
  assert(scm.holding);
  assert.equal(scm.commit(), 1);
  assert.equal(durable.read(0, 1)[0], 7);
  assert(!scm.holding);
});

Deno.test("a full cache evicts its oldest line to where a write-back would put it", () => {
  const { durable, scm, cache, made } = device(false, 2);
  for (let line = 0; line < 3; line++) scm.write(line * 64, new Uint8Array([line + 1]));
  assert.deepEqual(made, [0], "line 0 was evicted, durable");
  assert.equal(durable.read(0, 1)[0], 1);
  assert.equal(cache.used, 2);
  // Storing a cached line again moves it to the back.
  scm.write(64, new Uint8Array([9]));
  scm.write(3 * 64, new Uint8Array([4]));
  assert.deepEqual(made, [0, 2]);
  assert.equal(cache.used, 2);
});

Deno.test("the cache refuses a capacity it cannot have", () => {
  assert.throws(() => new CpuCache(0), /cache capacity 0: expected a whole number of lines from 1/);
});

Deno.test("out-of-range accesses are refused, naming the device size", () => {
  const { scm } = device(false, 4);
  assert.throws(
    () => scm.write(65530, new Uint8Array(8)),
    /65530\+8 is outside the device \(65536 bytes\)/,
  );
  assert.throws(() => scm.read(-1, 2), /outside the device/);
});
