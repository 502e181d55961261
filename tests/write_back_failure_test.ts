/**
 * A write-back that fails (an I/O error on the device's file) loses no
 * line: the line stays in the cache, the one who asked gets the error, and
 * a later write-back that succeeds writes it. Before, an evicted line was
 * taken out of the cache before its write, so a failed write dropped it.
 * The failure is injected as flush_intent_test.ts injects a kill: a
 * durable device that throws where the file would.
 */
import assert from "node:assert/strict";
import { CachedScm, CpuCache, LINE_BYTES } from "../storage/cpu_cache.ts";
import { FileStore } from "../storage/file_store.ts";
import { MemoryStore } from "../storage/memory_store.ts";
import type { DrcGeometry } from "../storage/types.ts";
import { FailingDrc } from "./failing_drc.ts";

const geometry = (index: number): DrcGeometry => ({
  index,
  uuid: `u${index}`,
  blockSize: 65536n,
  blocks: 1,
  metadataSize: 0,
});

/** Devices on one cache, each behind a FailingDrc; `marks` is each one's unflushed mark. */
function devices(count: number, capacity: number, hcallFlush = false) {
  const store = new MemoryStore();
  const cache = new CpuCache(capacity);
  const marks = new Map<number, boolean>();
  const made = Array.from({ length: count }, (_, i) => {
    const durable = new FailingDrc(store.open(geometry(i + 1)));
    const scm = new CachedScm(i + 1, durable, hcallFlush, cache, {
      holding: (drc, holding) => marks.set(drc, holding),
      stored: () => {},
      durable: () => {},
    });
    return { durable, scm };
  });
  return { cache, marks, made };
}

const line = (value: number) => new Uint8Array(LINE_BYTES).fill(value);
const IO_ERROR = /Input\/output error/;

Deno.test("a failed eviction keeps the line cached; the writer hears the error; a retry writes it", () => {
  const { cache, made: [{ durable, scm }] } = devices(1, 2);
  scm.write(0, line(1));
  scm.write(LINE_BYTES, line(2));
  durable.failWrites();
  // The cache is full: the store must evict line 0, whose write fails.
  assert.throws(() => scm.write(2 * LINE_BYTES, line(3)), IO_ERROR);
  assert.deepEqual([...scm.dirty.keys()], [0, 1], "line 0 is still cached, still oldest");
  assert.deepEqual(scm.read(0, LINE_BYTES), line(1), "its data is there");
  assert.deepEqual(durable.read(0, LINE_BYTES), line(0), "and not on the media");
  assert.deepEqual(scm.read(2 * LINE_BYTES, LINE_BYTES), line(0), "the store did not land");
  assert.equal(cache.used, 2);
  // The file works again: the same store evicts line 0 to the media and lands.
  durable.failWrites(false);
  scm.write(2 * LINE_BYTES, line(3));
  assert.deepEqual(durable.read(0, LINE_BYTES), line(1));
  assert.deepEqual([...scm.dirty.keys()], [1, 2]);
  assert.equal(cache.used, 2);
});

Deno.test("a failed write-back keeps the lines it did not write; a retry writes them", () => {
  const { cache, marks, made: [{ durable, scm }] } = devices(1, 8);
  for (let i = 0; i < 3; i++) scm.write(i * LINE_BYTES, line(i + 1));
  durable.failWrites();
  assert.throws(() => scm.writeBack(), IO_ERROR);
  assert.equal(scm.dirty.size, 3);
  assert.equal(cache.used, 3);
  assert.equal(marks.get(1), true, "the device still holds them: its mark stays");
  durable.failWrites(false);
  assert.equal(scm.writeBack(), 3);
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(durable.read(i * LINE_BYTES, LINE_BYTES), line(i + 1));
  }
  assert.equal(cache.used, 0);
  assert.equal(marks.get(1), false);
});

Deno.test("hcall-flush devices: a failed flush keeps its lines pending; so does the host's buffer", () => {
  const { cache, made: [{ durable, scm }] } = devices(1, 2, true);
  scm.write(0, line(1));
  scm.writeBack(); // into the host's buffer
  durable.failWrites();
  assert.throws(() => scm.commit(), IO_ERROR);
  assert.deepEqual([...scm.pending.keys()], [0]);
  // The host's buffer is full (as many lines as the cache): taking one more
  // writes its oldest back, which fails: the line stays dirty instead.
  scm.write(LINE_BYTES, line(2));
  scm.writeBack();
  scm.write(2 * LINE_BYTES, line(3));
  assert.throws(() => scm.writeBack(), IO_ERROR);
  assert.deepEqual([...scm.pending.keys()], [0, 1]);
  assert.deepEqual([...scm.dirty.keys()], [2]);
  assert.equal(cache.used, 1);
  for (let i = 0; i < 3; i++) assert.deepEqual(scm.read(i * LINE_BYTES, LINE_BYTES), line(i + 1));
  durable.failWrites(false);
  scm.writeBack();
  scm.commit();
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(durable.read(i * LINE_BYTES, LINE_BYTES), line(i + 1));
  }
  assert(!scm.holding);
});

Deno.test("a neighbour's failing file: its lines stay, another's line makes room, else the store goes through", () => {
  const { cache, marks, made: [failing, fine, writer] } = devices(3, 2);
  failing.scm.write(0, line(1));
  fine.scm.write(0, line(2));
  failing.durable.failWrites();
  // The writer holds nothing: the failing device's line cannot go, the fine one's can.
  writer.scm.write(0, line(3));
  assert.deepEqual(fine.durable.read(0, LINE_BYTES), line(2));
  assert.deepEqual(failing.scm.read(0, LINE_BYTES), line(1));
  assert.equal(cache.used, 2);
  // Now only the failing device's line and the writer's own: the writer's goes.
  writer.scm.write(LINE_BYTES, line(4));
  assert.deepEqual(writer.durable.read(0, LINE_BYTES), line(3));
  // The fine device holds nothing now, and every line it could evict fails:
  // its store is not refused for another's file; it goes to its media.
  const before = writer.scm.dirty.size;
  writer.durable.failWrites();
  fine.scm.write(LINE_BYTES, line(5));
  assert.deepEqual(fine.durable.read(LINE_BYTES, LINE_BYTES), line(5), "written through");
  assert.equal(writer.scm.dirty.size, before);
  assert.deepEqual(failing.scm.read(0, LINE_BYTES), line(1), "nothing was dropped");
  assert.equal(cache.used, 2);
  assert.equal(marks.get(2), false, "a device left holding nothing has its mark cleared");
});

Deno.test("a failed settling flush withdraws its intent: the mark is plain again", () => {
  const dir = Deno.makeTempDirSync({ dir: ".", prefix: ".state-test-" });
  try {
    const store = FileStore.open(dir);
    const durable = new FailingDrc(store.open(geometry(0x44100002)));
    const scm = new CachedScm(0x44100002, durable, false, new CpuCache(8), {
      holding: (_, holding) => durable.saveFacts({ ...durable.facts(), unflushed: holding }),
      stored: () => {},
      durable: () => {},
    });
    const kind = () => Deno.readFileSync(`${dir}/drc-44100002.unflushed`)[4];
    scm.write(0, line(1));
    scm.write(LINE_BYTES, line(2));
    assert.equal(kind(), 1, "a plain mark while lines are dirty");
    durable.failWrites();
    assert.throws(() => scm.writeBack(), IO_ERROR);
    // The intent (kind 2) listed these lines only; a store after it would not be in it.
    assert.equal(kind(), 1, "the intent was withdrawn");
    durable.failWrites(false);
    scm.writeBack();
    assert.equal(kind(), 0, "cleared once nothing is volatile");
    durable.close();
    store.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
