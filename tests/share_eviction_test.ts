/**
 * A MemoryStore's page budget seen through the cache model: a store that
 * would take a device past its share is refused to the one who stores, at
 * once; it is not taken into the cache to fail later, in the write-back of
 * another device's store that evicts it (which failed that other LPAR's
 * store and dropped the line: found by an attack on the per-nvdimm shares).
 */
import assert from "node:assert/strict";
import { CachedScm, CpuCache, LINE_BYTES } from "../storage/cpu_cache.ts";
import { MemoryStore } from "../storage/memory_store.ts";

const PAGE = 64 * 1024;

Deno.test("a store past its device's share is refused to the storer, never to a neighbour", () => {
  // Two 256 MiB nvdimms and four pages of budget: two pages each.
  const store = new MemoryStore(4 * PAGE);
  const geometry = (index: number) => ({
    index,
    uuid: `u${index}`,
    blockSize: 256n * 1024n * 1024n,
    blocks: 1,
    metadataSize: 0,
  });
  const cache = new CpuCache(8);
  const holding: Array<[number, boolean]> = [];
  const events = {
    holding: (drc: number, on: boolean) => holding.push([drc, on]),
    stored: () => {},
    durable: () => {},
  };
  const neighbour = new CachedScm(1, store.open(geometry(1)), false, cache, events);
  const greedy = new CachedScm(2, store.open(geometry(2)), false, cache, events);
  // The greedy device's two pages, durable; then it fills the cache within them.
  greedy.write(0, new Uint8Array(2 * PAGE).fill(7));
  greedy.writeBack();
  const line = new Uint8Array(LINE_BYTES).fill(9);
  for (let i = 0; i < 8; i++) greedy.write(i * LINE_BYTES, line);
  assert.equal(cache.used, 8);
  // A store on a third page is refused to it, changing nothing.
  const marksBefore = holding.length;
  assert.throws(
    () => greedy.write(2 * PAGE, line),
    /this nvdimm's share of the simulated SCM is spent: it holds 131072 bytes of pages, its share is 131072/,
  );
  assert.equal(greedy.dirty.size, 8);
  assert.equal(holding.length, marksBefore);
  assert.deepEqual(greedy.read(2 * PAGE, 4), new Uint8Array(4));
  // The neighbour's store evicts one of the greedy device's lines: it lands
  // in the page already held, and both stores are kept.
  neighbour.write(0, new Uint8Array([1]));
  assert.deepEqual(neighbour.read(0, 1), new Uint8Array([1]));
  assert.equal(greedy.dirty.size, 7);
  for (let i = 0; i < 8; i++) assert.deepEqual(greedy.read(i * LINE_BYTES, LINE_BYTES), line);
  // Its own pages are there for it.
  neighbour.write(PAGE, new Uint8Array(LINE_BYTES).fill(3));
  neighbour.writeBack();
  assert.deepEqual(neighbour.read(PAGE, 2), new Uint8Array([3, 3]));
});
