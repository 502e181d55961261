/**
 * A property test of the unflushed mark under failing host I/O, against a
 * real FileStore: one device (normal or hcall-flush) takes stores,
 * write-backs, H_SCM_FLUSH commits and evictions at random while its SCM
 * writes, its facts' replacement and its mark's rewrites (a flush intent,
 * its withdrawal) fail at random, each failure changing nothing (as
 * FileStore's `io()` throws before it records anything). Then the process
 * is killed and the directory powered on again: when a line that was
 * volatile at the kill differs from the media, the power-on must count a
 * loss. (A count when nothing was lost is allowed: the mark is
 * conservative.) Seeded: a failure names its seed.
 */
import assert from "node:assert/strict";
import { LINE_BYTES } from "../storage/cpu_cache.ts";
import { FileStore } from "../storage/file_store.ts";
import { Persistence } from "../storage/persistence.ts";
import { SeededRandom } from "../runtime/sim/random.ts";
import { type DrcGeometry, StorageIoError } from "../storage/types.ts";
import { FailingStore } from "./failing_drc.ts";

const GEOMETRY: DrcGeometry = {
  index: 0x44100002,
  uuid: "44100002-5ca1-4e00-8000-441000020000",
  blockSize: 4096n,
  blocks: 1,
  metadataSize: 0,
};
const LINES = 4096 / LINE_BYTES;

/** One seeded run: whether a line was lost at the kill, whether the power-on counted one. */
function run(seed: number, steps: number): { lost: boolean; counted: boolean; failures: number } {
  const random = new SeededRandom(seed);
  const dir = Deno.makeTempDirSync({ dir: ".", prefix: ".state-test-" });
  try {
    const store = new FailingStore(FileStore.open(dir));
    const p = new Persistence(store, { cacheLines: 1 + random.below(6) });
    const scm = p.powerOn({ ...GEOMETRY, hcallFlushRequired: random.chance(0.5) }).memory;
    const device = store.device!;
    // Writes of every kind fail at random: SCM lines, the facts, the mark.
    const flaky = new SeededRandom(seed, 1), rate = [0.1, 0.3, 0.6][random.below(3)];
    const fails = () => flaky.chance(rate);
    device.when = { write: fails, facts: fails, mark: fails };
    for (let step = 0; step < steps; step++) {
      const op = random.below(10);
      try {
        if (op < 5) {
          const line = random.below(8);
          const from = random.below(LINE_BYTES);
          const bytes = new Uint8Array(1 + random.below(LINE_BYTES - from)).fill(
            1 + random.below(3),
          );
          scm.write(line * LINE_BYTES + from, bytes);
        } else if (op < 7) scm.writeBack();
        else if (op < 9) scm.commit();
        else scm.evictOne();
      } catch (error) {
        if (!(error instanceof StorageIoError)) throw error;
      }
    }
    let lost = false;
    for (const [line, bytes] of scm.volatileLines()) {
      const media = device.read(line * LINE_BYTES, LINE_BYTES);
      if (media.some((value, i) => value !== bytes[i])) lost = true;
    }
    const failures = device.failures;
    p.kill();
    const again = new Persistence(FileStore.open(dir));
    const counted = again.powerOn(GEOMETRY).dirtyShutdown;
    again.powerOff();
    assert(LINES > 8);
    return { lost, counted, failures };
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("a kill after failed flushes never claims nothing lost when a line was lost", () => {
  let losses = 0, failures = 0;
  for (let seed = 1; seed <= 400; seed++) {
    const steps = 1 + new SeededRandom(seed, 2).below(40);
    const result = run(seed, steps);
    failures += result.failures;
    if (result.lost) {
      losses++;
      assert.equal(
        result.counted,
        true,
        `seed ${seed} (${steps} steps): a line was lost, not counted`,
      );
    }
  }
  // Not vacuous: failures were injected and kills did lose lines.
  assert(failures > 100, `only ${failures} failures`);
  assert(losses > 20, `only ${losses} runs lost a line`);
});
