import assert from "node:assert/strict";
import {
  createPageTable,
  MAX_MAPPINGS,
  PageTableReader,
  writePageTable,
} from "../channel/page_table.ts";
import type { Mapping } from "../core/types.ts";

const MiB = 1n << 20n;
const map = (i: number, blocks = 1n): Mapping => ({
  base: BigInt(i) * 16n * MiB,
  size: blocks * MiB,
  drc: 0x44100000 + i,
  offset: BigInt(i) * MiB,
});

Deno.test("page table: rewrites touch only what changed; the guest sees every change", async (t) => {
  const buffer = createPageTable();
  const reader = new PageTableReader(buffer);
  const generation = () => new BigUint64Array(buffer)[0];

  await t.step("add, grow, drop and replace mappings", () => {
    const steps: Mapping[][] = [
      [map(1)],
      [map(1), map(2)],
      [map(1), map(2, 3n)], // the last one grows
      [map(0), map(1), map(2, 3n)], // one in front: everything shifts
      [map(0), map(2, 3n)], // one in the middle goes
      [map(0)],
      [],
      [map(5), map(6), map(7)],
      [map(5), { ...map(6), drc: 0x44200006 }, map(7)], // same range, another DRC
    ];
    for (const mappings of steps) {
      const before = generation();
      writePageTable(buffer, mappings);
      assert.equal(generation(), before + 2n, "one seqlock write per change, even");
      assert.deepEqual(reader.mappings(), mappings);
    }
  });

  await t.step(
    "a rewrite with nothing changed leaves the generation (the guest's cache holds)",
    () => {
      const mappings = [map(3), map(4)];
      writePageTable(buffer, mappings);
      const seen = reader.mappings();
      const before = generation();
      writePageTable(buffer, mappings.map((m) => ({ ...m })));
      assert.equal(generation(), before);
      assert.equal(reader.mappings(), seen, "the same cached list, not re-read");
    },
  );

  await t.step("more mappings than fit is refused, naming the limit, and the table is kept", () => {
    const kept = reader.mappings();
    const many = Array.from({ length: MAX_MAPPINGS + 1 }, (_, i) => map(i));
    assert.throws(
      () => writePageTable(buffer, many),
      new RangeError(`${MAX_MAPPINGS + 1} mappings; at most ${MAX_MAPPINGS} fit`),
    );
    assert.deepEqual(reader.mappings(), kept);
    const full = many.slice(0, MAX_MAPPINGS);
    writePageTable(buffer, full);
    assert.deepEqual(reader.mappings(), full);
  });
});
