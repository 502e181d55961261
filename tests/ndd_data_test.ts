/**
 * DimmLabels holds only the part of the label area it has read, yet `data`
 * is always the whole area as the kernel's copy would be: what was read,
 * zeros elsewhere, and writes and fresh indexes land in it.
 */
import assert from "node:assert/strict";
import { DimmLabels } from "../guest/labels/ndd.ts";
import { encodeIndex, indexLayout } from "../guest/labels/format.ts";
import { runSync } from "../guest/task.ts";

const SIZE = 128 * 1024;

function over(area: Uint8Array, reads: Array<[number, number]>) {
  return new DimmLabels({
    size: area.length,
    maxXfer: 8,
    // deno-lint-ignore require-yield
    *get(offset, length) {
      reads.push([offset, length]);
      return { rc: 0, data: area.slice(offset, offset + length) };
    },
    // deno-lint-ignore require-yield
    *set(offset, data) {
      area.set(data, offset);
      return { rc: 0 };
    },
  });
}

const noHcalls = () => ({ rc: 0, rets: [] });

Deno.test("a fresh area: only the index blocks are read; data is the whole area, zero", () => {
  const area = new Uint8Array(SIZE), reads: Array<[number, number]> = [];
  const ndd = over(area, reads);
  assert.equal(runSync(ndd.init(), noHcalls), 0);
  assert.equal(ndd.current, -1);
  assert.deepEqual(reads, [[0, 2 * indexLayout(SIZE, 128).indexSize]]);
  assert.equal(ndd.data.length, SIZE);
  assert.ok(ndd.data.every((b) => b === 0));
  // init_labels writes both indexes through the config commands and into the copy.
  assert.equal(runSync(ndd.initLabels(), noHcalls), 0);
  assert.deepEqual(ndd.data, area);
});

Deno.test("valid indexes: the newer is current, and data holds what the area has", () => {
  const area = new Uint8Array(SIZE);
  const layout = indexLayout(SIZE, 128);
  area.set(encodeIndex(layout, 0, 3), 0);
  area.set(encodeIndex(layout, 1, 2), layout.indexSize);
  const ndd = over(area, []);
  assert.equal(runSync(ndd.init(), noHcalls), 0);
  assert.equal(ndd.current, 0);
  assert.equal(ndd.next, 1);
  assert.equal(ndd.data.length, SIZE);
  // The next index was made a copy of the current one, as nd_label_data_init does.
  assert.deepEqual(
    ndd.data.subarray(layout.indexSize, 2 * layout.indexSize),
    area.subarray(0, layout.indexSize),
  );
  assert.ok(ndd.data.subarray(2 * layout.indexSize).every((b) => b === 0));
  assert.deepEqual(ndd.activeLabels(), []);
});
