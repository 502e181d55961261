/**
 * The persistence-failed count is exact under a kill inside a flush: a
 * settling flush records its lines in the unflushed mark first, and the
 * power-on judges them against the SCM file (storage/flush_intent.ts). A
 * kill is simulated by a durable store that stops at a chosen call, as a
 * killed process would, and the directory is then powered on afresh.
 */
import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
import { ManagedSystem } from "../actors/managed_system.ts";
import { FileStore } from "../storage/file_store.ts";
import {
  clearRecord,
  INTENT_MAX_LINES,
  intentRecord,
  MARK_BYTES,
  markRecord,
} from "../storage/flush_intent.ts";
import { Persistence } from "../storage/persistence.ts";
import {
  type DrcFacts,
  type DrcGeometry,
  type DurableDrc,
  type DurableStore,
  StorageError,
} from "../storage/types.ts";

const GEOMETRY: DrcGeometry = {
  index: 0x44100002,
  uuid: "44100002-5ca1-4e00-8000-441000020000",
  blockSize: 1n << 20n,
  blocks: 1,
  metadataSize: 0,
};
const MARK = "drc-44100002.unflushed";
const SCM = "drc-44100002.scm";

class Killed extends Error {}

/**
 * A durable device that dies before its `at`-th change counted from when it
 * is armed (or, armed with "clear", before its next facts change: the
 * mark's clear): that change and every later one never happen.
 */
class DyingDrc implements DurableDrc {
  readonly size: number;
  readonly #inner: DurableDrc;
  #left = Infinity;
  #atClear = false;
  /** Whether it died. */
  died = false;
  constructor(inner: DurableDrc) {
    this.#inner = inner;
    this.size = inner.size;
  }
  arm(at: number | "clear"): void {
    this.#atClear = at === "clear";
    this.#left = at === "clear" ? Infinity : at;
  }
  #change(facts = false): void {
    if (this.#left <= 0 || (facts && this.#atClear)) {
      this.died = true;
      this.#left = 0;
      throw new Killed("killed");
    }
    this.#left--;
  }
  facts(): DrcFacts {
    return this.#inner.facts();
  }
  saveFacts(facts: DrcFacts): void {
    this.#change(true);
    this.#inner.saveFacts(facts);
  }
  read(offset: number, length: number): Uint8Array {
    return this.#inner.read(offset, length);
  }
  write(offset: number, bytes: Uint8Array): void {
    this.#change();
    this.#inner.write(offset, bytes);
  }
  intendFlush(lines: ReadonlyMap<number, Uint8Array>): void {
    this.#change();
    this.#inner.intendFlush?.(lines);
  }
  label(): Uint8Array {
    return this.#inner.label();
  }
  writeLabel(offset: number, bytes: Uint8Array): void {
    this.#change();
    this.#inner.writeLabel(offset, bytes);
  }
  usedBytes(): number {
    return this.#inner.usedBytes();
  }
  close(): void {
    this.#inner.close();
  }
}

/** A FileStore whose devices can be told to die. */
class DyingStore implements DurableStore {
  readonly where: string;
  readonly #inner: FileStore;
  device?: DyingDrc;
  constructor(dir: string) {
    this.#inner = FileStore.open(dir);
    this.where = dir;
  }
  open(g: DrcGeometry): DurableDrc {
    return this.device = new DyingDrc(this.#inner.open(g));
  }
  close(): void {
    this.#inner.close();
  }
}

function withDir(body: (dir: string) => Promise<void> | void): () => Promise<void> {
  return async () => {
    const dir = Deno.makeTempDirSync({ dir: ".", prefix: ".state-test-" });
    try {
      await body(dir);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  };
}

/** Line `n`'s content: never all zero, so a line that did not arrive differs. */
function content(n: number): Uint8Array {
  return new Uint8Array(64).map((_, i) => (n * 13 + i * 3 + 1) & 0xFF || 1);
}

/** Lines of the device that differ on the media (the SCM file) from what was stored. */
function linesMissing(dir: string, lines: number): number {
  const scm = Deno.readFileSync(`${dir}/${SCM}`);
  let missing = 0;
  for (let n = 0; n < lines; n++) {
    const want = content(n);
    if (want.some((v, i) => v !== scm[n * 64 * 3 + i])) missing++;
  }
  return missing;
}

/** Powers the directory on afresh (a new process): whether it found a loss, and the count. */
function powerOnAfresh(dir: string): { dirty: boolean; count: number } {
  const persistence = new Persistence(FileStore.open(dir));
  try {
    const on = persistence.powerOn(GEOMETRY);
    return { dirty: on.dirtyShutdown, count: on.persistenceFailedCount };
  } finally {
    persistence.powerOff();
  }
}

/**
 * Stores `lines` lines (every third line of the device), then flushes, the
 * store dying before its `at`-th change of the flush; the process is then
 * gone (the cache with it).
 */
function flushKilledAt(dir: string, lines: number, at: number, hcallFlush: boolean): void {
  const store = new DyingStore(dir);
  const persistence = new Persistence(store);
  const memory = persistence.powerOn({ ...GEOMETRY, hcallFlushRequired: hcallFlush }).memory;
  for (let n = 0; n < lines; n++) memory.write(n * 64 * 3, content(n));
  if (hcallFlush) memory.writeBack(); // into the host's buffer: nothing durable yet
  store.device!.arm(at);
  try {
    if (hcallFlush) memory.commit();
    else memory.writeBack();
  } catch (error) {
    if (!(error instanceof Killed)) throw error;
  }
  persistence.kill();
}

for (const hcallFlush of [false, true]) {
  const flush = hcallFlush ? "a completed H_SCM_FLUSH" : "a write-back";
  Deno.test(
    `a kill at each point of ${flush}: the count rises exactly when a line did not reach the file`,
    async (t) => {
      const lines = 3;
      // The flush's changes: the intent, each line, the clear; `lines + 2` is no kill at all.
      for (let at = 0; at <= lines + 2; at++) {
        await t.step(
          `killed before change ${at}`,
          withDir((dir) => {
            powerOnAfresh(dir); // creates the device, count 0
            flushKilledAt(dir, lines, at, hcallFlush);
            const missing = linesMissing(dir, lines);
            assert.equal(missing, Math.max(0, lines - Math.max(0, at - 1)));
            const after = powerOnAfresh(dir);
            assert.equal(after.dirty, missing > 0, `${missing} lines missing`);
            assert.equal(after.count, missing > 0 ? 1 : 0);
            // The judgement cleared the mark: the next power-on counts nothing more.
            assert.equal(powerOnAfresh(dir).count, after.count);
            assert.deepEqual(
              Deno.readFileSync(`${dir}/${MARK}`).subarray(0, 16),
              clearRecord(),
            );
          }),
        );
      }
    },
  );
}

Deno.test(
  "a settling flush of more lines than an intent holds keeps the plain mark: counted",
  async (t) => {
    for (const lines of [INTENT_MAX_LINES, INTENT_MAX_LINES + 1]) {
      await t.step(
        `${lines} lines, killed after the last one, before the clear`,
        withDir((dir) => {
          powerOnAfresh(dir);
          flushKilledAt(dir, lines, lines + 1, false);
          assert.equal(linesMissing(dir, lines), 0);
          // Nothing was lost; past the limit the store cannot tell, and counts.
          assert.equal(powerOnAfresh(dir).count, lines > INTENT_MAX_LINES ? 1 : 0);
        }),
      );
    }
  },
);

Deno.test("a torn or garbled flush intent is judged as a plain mark: counted", async (t) => {
  const garble: Array<[string, number]> = [
    ["a line's content", 16 + 8 + 5],
    ["a line's index", 16 + 1],
    ["the checksum", 13],
    ["the epoch", 0],
  ];
  for (const [what, at] of garble) {
    await t.step(
      what,
      withDir((dir) => {
        powerOnAfresh(dir);
        flushKilledAt(dir, 3, 4, false); // every line on the media, the intent still there
        assert.equal(linesMissing(dir, 3), 0);
        const page = Deno.readFileSync(`${dir}/${MARK}`);
        page[at] ^= 0x40;
        Deno.writeFileSync(`${dir}/${MARK}`, page);
        const after = powerOnAfresh(dir);
        // A garbled epoch names no epoch of this device: like an old mark, not counted.
        assert.equal(after.count, what === "the epoch" ? 0 : 1);
      }),
    );
  }
});

Deno.test("a torn header is a torn mark, whatever its fields say: counted", async (t) => {
  // Garbled kind or line count: the CRC fails, so it is torn, not a record to refuse.
  const garble: Array<[string, number, number]> = [
    ["the kind", 4, 0x40],
    ["the line count, past the page", 8 + 3, 0x80],
    ["the line count, to none", 8, 0x03],
  ];
  for (const [what, at, bits] of garble) {
    await t.step(
      what,
      withDir((dir) => {
        powerOnAfresh(dir);
        flushKilledAt(dir, 3, 4, false); // every line on the media, the intent still there
        const page = Deno.readFileSync(`${dir}/${MARK}`);
        page[at] ^= bits;
        Deno.writeFileSync(`${dir}/${MARK}`, page);
        // It names this epoch: a plain mark's judgement, a loss.
        assert.equal(powerOnAfresh(dir).count, 1);
        assert.equal(powerOnAfresh(dir).count, 1, "counted once");
      }),
    );
  }
});

/** Sets a record's CRC (bytes 12..16) to what its header and entries give. */
function seal(view: DataView): void {
  const bytes = new Uint8Array(view.buffer);
  const entries = Math.min(view.getUint32(8, true), INTENT_MAX_LINES);
  const crc = crc32(bytes.subarray(16, 16 + entries * (8 + 64)), crc32(bytes.subarray(0, 12)));
  view.setUint32(12, crc, true);
}

Deno.test("a mark file of the wrong size or shape is refused, naming it", async (t) => {
  const open = (dir: string) => {
    const store = FileStore.open(dir);
    try {
      store.open(GEOMETRY).close();
    } finally {
      store.close();
    }
  };
  const refused = (dir: string, bytes: Uint8Array, message: RegExp) => {
    open(dir);
    Deno.writeFileSync(`${dir}/${MARK}`, bytes);
    assert.throws(
      () => open(dir),
      (e: Error) =>
        e instanceof StorageError && e.message.startsWith(`${dir}/${MARK}: `) &&
        message.test(e.message) && /it is not an unflushed mark/.test(e.message),
    );
  };
  // Each record's CRC holds (torn bytes are no error): its fields are what is wrong.
  const page = (record: Uint8Array, change?: (view: DataView) => void) => {
    const bytes = new Uint8Array(MARK_BYTES);
    bytes.set(record);
    const view = new DataView(bytes.buffer);
    change?.(view);
    seal(view);
    return bytes;
  };
  const one = new Map([[0, content(0)]]);
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ["empty", new Uint8Array(0), /is 0 bytes, expected 4096 \(a mark record\) or 4 \(the older/],
    ["a page and a byte", new Uint8Array(MARK_BYTES + 1), /is 4097 bytes, expected 4096/],
    [
      "an unknown kind",
      page(markRecord(1), (v) => v.setUint32(4, 9, true)),
      /kind 9 at byte 4: expected 0 \(clear\), 1 \(mark\) or 2 \(flush intent\)/,
    ],
    [
      "an intent of too many lines",
      page(intentRecord(1, one)!, (v) => v.setUint32(8, INTENT_MAX_LINES + 1, true)),
      /line count 57 at byte 8: expected 1 to 56 for kind 2/,
    ],
    [
      "a plain mark with lines",
      page(markRecord(1), (v) => v.setUint32(8, 1, true)),
      /line count 1 at byte 8: expected 0 for kind 1/,
    ],
    [
      "an intent of a count past the page",
      page(intentRecord(1, one)!, (v) => v.setUint32(8, 0xFFFF_FFFF, true)),
      /line count 4294967295 at byte 8: expected 1 to 56 for kind 2/,
    ],
    ["a mark of epoch 0", page(markRecord(0)), /epoch 0 in a kind 1 record: expected an epoch/],
    [
      "a clear record naming an epoch",
      page(clearRecord(), (v) => v.setUint32(0, 5, true)),
      /epoch 5 in a clear record: expected 0/,
    ],
    [
      "an intent for a line outside the device",
      page(intentRecord(1, new Map([[1 << 14, content(0)]]))!),
      /flush intent entry 0 names line 16384: expected a line below 16384/,
    ],
  ];
  for (const [what, bytes, message] of cases) {
    await t.step(what, withDir((dir) => refused(dir, bytes, message)));
  }
});

Deno.test("the older 4-byte mark is read as before and rewritten as a page", async (t) => {
  for (const current of [true, false]) {
    await t.step(
      current ? "naming this epoch: counted" : "clear: not counted",
      withDir((dir) => {
        powerOnAfresh(dir);
        const epoch = JSON.parse(Deno.readTextFileSync(`${dir}/drc-44100002.json`)).epoch;
        const legacy = new Uint8Array(4);
        new DataView(legacy.buffer).setUint32(0, current ? epoch : 0, true);
        Deno.writeFileSync(`${dir}/${MARK}`, legacy);
        assert.equal(powerOnAfresh(dir).count, current ? 1 : 0);
        assert.equal(Deno.statSync(`${dir}/${MARK}`).size, MARK_BYTES);
        assert.equal(powerOnAfresh(dir).count, current ? 1 : 0, "counted once");
      }),
    );
  }
});

Deno.test(
  "end to end: a kill inside lpar.flush after the lines arrived leaves the count at 0",
  withDir(async (dir) => {
    const config = {
      storage: { dir },
      lpars: [{
        name: "lpar1",
        kernel: "mainline" as const,
        nvdimms: [{ drc: GEOMETRY.index, blocks: 16, blockSize: 1 << 20 }],
      }],
    };
    {
      const store = new DyingStore(dir);
      const system = await ManagedSystem.start({ ...config, storage: undefined }, {
        runtime: "sim",
        store,
      });
      const lpar = system.lpar("lpar1");
      await lpar.boot();
      await lpar.write("region0", 4096, content(1));
      await lpar.write("region0", 1 << 20, content(2));
      store.device!.arm("clear");
      await assert.rejects(() => lpar.flush("region0"), /killed/);
      assert(store.device!.died, "the store died inside the flush");
      // The process is gone: the cache with it.
      await system.injectHypervisorFailure("killed");
      await system.stop();
    }
    // The intent is still there (kind 2), and every line reached the file.
    assert.equal(Deno.readFileSync(`${dir}/drc-44100002.unflushed`)[4], 2);
    await using system = await ManagedSystem.start(config, { runtime: "sim" });
    const lpar = system.lpar("lpar1");
    await lpar.boot();
    assert.deepEqual(await lpar.read("region0", 4096, 64), content(1));
    assert.deepEqual(await lpar.read("region0", 1 << 20, 64), content(2));
    assert.equal(await lpar.papr("nmem0", "dirty_shutdown"), "0\n");
  }),
);
