/**
 * A load whose every line is in the CPU cache (or the host's buffer of an
 * hcall-flush device) does not touch the media, so the media's failing
 * cannot fail it: only a load that needs a line from the media is a
 * machine check when the media fails.
 */
import assert from "node:assert/strict";
import { CachedScm, CpuCache, LINE_BYTES } from "../storage/cpu_cache.ts";
import { MemoryStore } from "../storage/memory_store.ts";
import { FaultyDrc } from "../storage/io_fault.ts";

const line = (value: number) => new Uint8Array(LINE_BYTES).fill(value);

for (const hcallFlush of [false, true]) {
  Deno.test(`a load of cached lines does not read the failing media (hcall flush ${hcallFlush})`, () => {
    const durable = new FaultyDrc(
      new MemoryStore().open({ index: 1, uuid: "u", blockSize: 4096n, blocks: 1, metadataSize: 0 }),
      "drc 0x1",
    );
    const scm = new CachedScm(1, durable, hcallFlush, new CpuCache(8), {
      holding: () => {},
      stored: () => {},
      durable: () => {},
    });
    scm.write(0, line(1));
    if (hcallFlush) scm.writeBack(); // line 0 into the host's buffer
    scm.write(LINE_BYTES, line(2));
    durable.fault = "eio";
    assert.deepEqual(
      scm.read(8, 2 * LINE_BYTES - 16),
      new Uint8Array([...line(1), ...line(2)]).subarray(8, 2 * LINE_BYTES - 8),
    );
    assert.deepEqual(scm.read(0, 0), new Uint8Array(0));
    // A line not cached comes from the media: that load fails.
    assert.throws(() => scm.read(LINE_BYTES, 2 * LINE_BYTES), /Input\/output error/);
  });
}
