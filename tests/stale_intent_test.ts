/**
 * A flush intent left in the mark file after a failure must not outlive the
 * stores it does not list: when the write that would withdraw it (a failed
 * batch) or clear it (a batch that arrived) fails too, a store that lands
 * afterwards is not in the intent, and a kill must still count it lost.
 * The failing writes are injected as write_back_failure_test.ts does: a
 * durable device that throws a StorageIoError where the file would, with
 * no change (as FileStore's `io()` throws before it records anything).
 */
import assert from "node:assert/strict";
import { LINE_BYTES } from "../storage/cpu_cache.ts";
import { FileStore } from "../storage/file_store.ts";
import { Persistence } from "../storage/persistence.ts";
import type { DrcGeometry } from "../storage/types.ts";
import { type FailingDrc, FailingStore } from "./failing_drc.ts";

const GEOMETRY: DrcGeometry = {
  index: 0x44100002,
  uuid: "44100002-5ca1-4e00-8000-441000020000",
  blockSize: 1n << 20n,
  blocks: 1,
  metadataSize: 0,
};

const line = (value: number) => new Uint8Array(LINE_BYTES).fill(value);

/** Runs `body` on a fresh directory, then powers it on again: whether a loss was counted. */
function afterKill(body: (p: Persistence, device: FailingDrc) => void): boolean {
  const dir = Deno.makeTempDirSync({ dir: ".", prefix: ".state-test-" });
  try {
    const store = new FailingStore(FileStore.open(dir));
    const p = new Persistence(store, { cacheLines: 16 });
    p.powerOn(GEOMETRY);
    body(p, store.device!);
    p.kill();
    const again = new Persistence(FileStore.open(dir));
    const on = again.powerOn(GEOMETRY);
    again.powerOff();
    return on.dirtyShutdown;
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("a flush intent whose clear failed does not cover a later store: a kill counts it", () => {
  const lost = afterKill((p, device) => {
    const scm = p.memory(GEOMETRY.index)!;
    scm.write(0, line(1));
    device.when = { facts: () => true };
    // The intent [line 0] is written, line 0 arrives, the clear fails.
    assert.throws(() => scm.writeBack(), /Input\/output error/);
    assert.equal(scm.dirty.size, 0);
    device.when = {};
    // A new store, not in the intent, then the kill.
    scm.write(LINE_BYTES, line(2));
  });
  assert.equal(lost, true, "line 1 was volatile at the kill: a loss");
});

Deno.test("a flush intent whose withdrawal failed does not cover a later store: a kill counts it", () => {
  const lost = afterKill((p, device) => {
    const scm = p.memory(GEOMETRY.index)!;
    scm.write(0, line(1));
    scm.write(LINE_BYTES, line(2));
    // Line 1's write fails, and so does the withdrawal (the plain mark again).
    device.when = { write: (offset) => offset === LINE_BYTES, mark: (lines) => lines === 0 };
    // The intent [0, 1]; line 0 arrives, line 1 fails, the withdrawal fails.
    assert.throws(() => scm.writeBack(), /Input\/output error/);
    device.when = {};
    // A store not in the intent lands (or is refused, then nothing is volatile but line 1)...
    let landed = true;
    try {
      scm.write(2 * LINE_BYTES, line(3));
    } catch {
      landed = false;
    }
    // ...and line 1 goes to the media by eviction: every intent line is there.
    assert.equal(scm.evictOne(), true);
    assert.equal(scm.dirty.has(1), false);
    assert.equal(landed && scm.dirty.has(2), true, "the store landed");
  });
  assert.equal(lost, true, "line 2 was volatile at the kill: a loss");
});

Deno.test("a failed withdrawal keeps the batch's own error for the asker", () => {
  afterKill((p, device) => {
    const scm = p.memory(GEOMETRY.index)!;
    scm.write(0, line(1));
    device.when = { write: (offset) => offset === 0, mark: (lines) => lines === 0 };
    assert.throws(() => scm.writeBack(), /write at 0: Input\/output error/);
    assert.equal(scm.dirty.size, 1);
  });
});
