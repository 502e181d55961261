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
import {
  type DrcFacts,
  type DrcGeometry,
  type DurableDrc,
  type DurableStore,
  StorageIoError,
} from "../storage/types.ts";

const GEOMETRY: DrcGeometry = {
  index: 0x44100002,
  uuid: "44100002-5ca1-4e00-8000-441000020000",
  blockSize: 1n << 20n,
  blocks: 1,
  metadataSize: 0,
};

const ioError = (what: string) => {
  const os = `${what}: Input/output error (os error 5)`;
  return new StorageIoError(`drc: ${os}`, { guestText: os });
};

/** A FileStore device whose chosen operations fail, changing nothing. */
class FlakyDrc implements DurableDrc {
  readonly size: number;
  readonly #inner: DurableDrc;
  /** The facts' next replacement fails (`ENOSPC` on the new facts file, say). */
  failFacts = false;
  /** SCM writes at these line indexes fail. */
  readonly failLines = new Set<number>();
  /** Withdrawing an intent (a rewrite of the mark) fails. */
  failWithdraw = false;
  constructor(inner: DurableDrc) {
    this.#inner = inner;
    this.size = inner.size;
  }
  facts(): DrcFacts {
    return this.#inner.facts();
  }
  saveFacts(facts: DrcFacts): void {
    if (this.failFacts) throw ioError("replace facts");
    this.#inner.saveFacts(facts);
  }
  read(offset: number, length: number): Uint8Array {
    return this.#inner.read(offset, length);
  }
  write(offset: number, bytes: Uint8Array): void {
    if (this.failLines.has(offset / LINE_BYTES)) throw ioError(`write at ${offset}`);
    this.#inner.write(offset, bytes);
  }
  intendFlush(lines: ReadonlyMap<number, Uint8Array>): void {
    if (lines.size === 0 && this.failWithdraw) throw ioError("set the mark");
    this.#inner.intendFlush?.(lines);
  }
  label(): Uint8Array {
    return this.#inner.label();
  }
  writeLabel(offset: number, bytes: Uint8Array): void {
    this.#inner.writeLabel(offset, bytes);
  }
  usedBytes(): number {
    return this.#inner.usedBytes();
  }
  close(): void {
    this.#inner.close();
  }
}

class FlakyStore implements DurableStore {
  readonly where: string;
  readonly #inner: FileStore;
  device?: FlakyDrc;
  constructor(dir: string) {
    this.#inner = FileStore.open(dir);
    this.where = dir;
  }
  open(g: DrcGeometry): DurableDrc {
    return this.device = new FlakyDrc(this.#inner.open(g));
  }
  close(): void {
    this.#inner.close();
  }
}

const line = (value: number) => new Uint8Array(LINE_BYTES).fill(value);

/** Runs `body` on a fresh directory, then powers it on again: whether a loss was counted. */
function afterKill(body: (p: Persistence, device: FlakyDrc) => void): boolean {
  const dir = Deno.makeTempDirSync({ dir: ".", prefix: ".state-test-" });
  try {
    const store = new FlakyStore(dir);
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
    device.failFacts = true;
    // The intent [line 0] is written, line 0 arrives, the clear fails.
    assert.throws(() => scm.writeBack(), /Input\/output error/);
    assert.equal(scm.dirty.size, 0);
    device.failFacts = false;
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
    device.failLines.add(1);
    device.failWithdraw = true;
    // The intent [0, 1]; line 0 arrives, line 1 fails, the withdrawal fails.
    assert.throws(() => scm.writeBack(), /Input\/output error/);
    device.failLines.clear();
    device.failWithdraw = false;
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
    device.failLines.add(0);
    device.failWithdraw = true;
    assert.throws(() => scm.writeBack(), /write at 0: Input\/output error/);
    assert.equal(scm.dirty.size, 1);
  });
});
