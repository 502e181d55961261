/**
 * One device's failing backing must not fail another device's stores: the
 * CPU cache is the machine's, shared by every LPAR's nvdimms, and when a
 * neighbour's failing file holds every line the cache has, a store of a
 * healthy device still lands (the cache writes it through to its own media,
 * as a store the cache cannot hold goes to memory). Before, the healthy
 * device's store was refused with the neighbour's I/O error (a machine check
 * to an LPAR whose device works, naming another device's offset).
 */
import assert from "node:assert/strict";
import { CachedScm, CpuCache, LINE_BYTES } from "../storage/cpu_cache.ts";
import { MemoryStore } from "../storage/memory_store.ts";
import { FailingDrc } from "./failing_drc.ts";

const line = (value: number) => new Uint8Array(LINE_BYTES).fill(value);

function machine(capacity: number, hcallFlush: boolean) {
  const store = new MemoryStore();
  const cache = new CpuCache(capacity);
  const marks = new Map<number, boolean>();
  const device = (index: number, hcallFlush: boolean) => {
    const durable = new FailingDrc(
      store.open({ index, uuid: `u${index}`, blockSize: 4096n, blocks: 1, metadataSize: 0 }),
    );
    const scm = new CachedScm(index, durable, hcallFlush, cache, {
      holding: (drc, holding) => marks.set(drc, holding),
      stored: () => {},
      durable: () => {},
    });
    return { durable, scm };
  };
  // The failing device is a normal one: its eviction must write its file.
  return { cache, marks, failing: device(1, false), healthy: device(2, hcallFlush) };
}

for (const hcallFlush of [false, true]) {
  Deno.test(`a neighbour's failing file holding the whole cache: a healthy device's store lands (hcall flush ${hcallFlush})`, () => {
    const { cache, failing, healthy } = machine(2, hcallFlush);
    // The healthy device has an older copy of line 0 written back (in the host's
    // buffer when it needs flush hcalls): a later store must not be undone by it.
    healthy.scm.write(0, line(7));
    healthy.scm.writeBack();
    failing.scm.write(0, line(1));
    failing.scm.write(LINE_BYTES, line(2));
    failing.durable.failWrites();
    assert.equal(cache.used, 2, "still full of the failing device's lines");
    healthy.scm.write(0, line(3));
    healthy.scm.write(LINE_BYTES + 8, new Uint8Array([9, 9]));
    assert.equal(cache.used, 2, "no line past the capacity");
    assert.deepEqual(healthy.scm.read(0, LINE_BYTES), line(3));
    const second = line(0);
    second.set([9, 9], 8);
    assert.deepEqual(healthy.scm.read(LINE_BYTES, LINE_BYTES), second);
    // Nothing of the failing device was dropped.
    assert.deepEqual(failing.scm.read(0, 2 * LINE_BYTES), new Uint8Array([...line(1), ...line(2)]));
    // Every store of the healthy device is durable once it flushes; no stale buffer overwrites.
    healthy.scm.writeBack();
    healthy.scm.commit();
    assert.deepEqual(healthy.durable.read(0, LINE_BYTES), line(3));
    assert.deepEqual(healthy.durable.read(LINE_BYTES, LINE_BYTES), second);
    failing.durable.failWrites(false);
    failing.scm.writeBack();
    failing.scm.commit();
    assert.deepEqual(failing.durable.read(0, LINE_BYTES), line(1));
    assert.equal(cache.used, 0);
  });
}

Deno.test("a store written through to the writer's own failing file is the writer's error", () => {
  const { cache, failing, healthy } = machine(1, false);
  failing.scm.write(0, line(1));
  failing.durable.failWrites();
  healthy.durable.failWrites();
  assert.throws(
    () => healthy.scm.write(0, line(2)),
    (error: Error) => error.message === "drc: write at 0: Input/output error (os error 5)",
    "its own file's error, not the neighbour's",
  );
  assert.deepEqual(healthy.scm.read(0, LINE_BYTES), line(0), "the refused store did not land");
  assert.equal(cache.used, 1);
  assert.equal(healthy.scm.holding, false);
});
