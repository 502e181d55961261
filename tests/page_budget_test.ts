/**
 * The sim's page budget: divided once among the configured nvdimms, max-min
 * fair, before any partition runs, so what one partition writes never
 * changes what another may write (issue 10; found by review: proportional
 * shares starved small nvdimms, and a DRC added later could find the budget
 * spent by a neighbour).
 */
import assert from "node:assert/strict";
import { PAGE_BYTES, PageBudget, SparseScm } from "../runtime/sim/sparse_scm.ts";

const GiB = 2 ** 30;

Deno.test("page budget: a small nvdimm beside a large one gets its whole size", () => {
  const budget = new PageBudget(GiB);
  const large = new SparseScm(60 * GiB, budget);
  const small = new SparseScm(64 * 2 ** 20, budget);
  budget.divide();
  // 64 MiB is whole; the large one gets the rest of the 1 GiB.
  small.write(small.size - 1, new Uint8Array([1]));
  small.write(0, new Uint8Array(small.size).fill(2));
  assert.equal(small.pages, small.size / PAGE_BYTES);
  large.write(0, new Uint8Array(GiB - small.size).fill(3));
  assert.throws(() => large.write(GiB, new Uint8Array([4])), /its share is 1006632960/);
});

Deno.test("page budget: max-min fair among three, the sum within the budget", () => {
  const budget = new PageBudget(10 * PAGE_BYTES);
  const sizes = [1, 6, 9].map((pages) => pages * PAGE_BYTES);
  const devices = sizes.map((size) => new SparseScm(size, budget));
  budget.divide();
  // 1 page whole, then 9 left for two: 4, and the 5 left to the largest.
  const fill = (d: SparseScm, pages: number) => d.write(0, new Uint8Array(pages * PAGE_BYTES));
  fill(devices[0], 1);
  fill(devices[1], 4);
  fill(devices[2], 5);
  assert.throws(() => fill(devices[1], 5), /its share is 262144/);
  assert.throws(() => fill(devices[2], 6), /its share is 327680/);
});

Deno.test("page budget: a DRC added later gets what was left, whatever the others wrote", () => {
  for (const othersWrite of [false, true]) {
    const budget = new PageBudget(4 * PAGE_BYTES);
    const a = new SparseScm(2 * PAGE_BYTES, budget);
    budget.divide(); // the first partition starts
    if (othersWrite) a.write(0, new Uint8Array(2 * PAGE_BYTES).fill(1));
    const later = new SparseScm(8 * PAGE_BYTES, budget);
    later.write(0, new Uint8Array(2 * PAGE_BYTES).fill(2));
    assert.throws(
      () => later.write(2 * PAGE_BYTES, new Uint8Array([3])),
      /this nvdimm's share of the simulated SCM is spent: it holds 131072 bytes of pages, its share is 131072/,
      `others wrote: ${othersWrite}`,
    );
    // And one added when nothing is left has a share of 0, saying so.
    const last = new SparseScm(PAGE_BYTES, budget);
    assert.throws(() => last.write(0, new Uint8Array([1])), /its share is 0 /);
  }
});
