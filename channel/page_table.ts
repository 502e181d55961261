/**
 * An LPAR's partition page table for SCM: which logical ranges are backed by
 * which DRC's memory. The hypervisor writes it when bindings change; the
 * guest reads it to reach its bound regions directly (DAX, no hcall), so an
 * access to memory that is not bound faults as it would on hardware.
 *
 * Layout (64-bit words): [generation, count, then count × (base, size, drc, offset)].
 * The generation is odd while the hypervisor writes (a seqlock).
 * @module
 */
import type { Mapping } from "../core/types.ts";
import { MAX_LPAR_MAPPINGS } from "../core/limits.ts";

/**
 * Most mappings one LPAR can have: the core's limit, which it enforces (an
 * hcall past it answers an error), so the check in writePageTable is only a
 * last-resort assertion.
 */
export const MAX_MAPPINGS: number = MAX_LPAR_MAPPINGS;
const HEADER = 2;
const ENTRY = 4;

/** Makes a page-table buffer. */
export function createPageTable(): SharedArrayBuffer {
  return new SharedArrayBuffer((HEADER + MAX_MAPPINGS * ENTRY) * 8);
}

/**
 * Hypervisor side: makes the table hold `mappings`. Writes only the entries
 * that differ from what the table holds (a binding change usually adds,
 * grows or drops one mapping of a few), and leaves the generation alone when
 * nothing differs, so a guest's cached view stays valid.
 */
export function writePageTable(buffer: SharedArrayBuffer, mappings: readonly Mapping[]): void {
  if (mappings.length > MAX_MAPPINGS) {
    throw new RangeError(`${mappings.length} mappings; at most ${MAX_MAPPINGS} fit`);
  }
  const words = new BigUint64Array(buffer);
  const count = BigInt(mappings.length), held = Number(words[1]);
  // Only this thread writes the table, so reading it first needs no lock.
  // `first`: the first entry that differs (entries are sorted by base).
  let first = Math.min(held, mappings.length);
  for (let i = 0; i < first; i++) {
    const m = mappings[i], at = HEADER + i * ENTRY;
    if (
      words[at] !== m.base || words[at + 1] !== m.size || words[at + 2] !== BigInt(m.drc) ||
      words[at + 3] !== m.offset
    ) first = i;
  }
  if (first === mappings.length && held === mappings.length) return; // nothing changed
  Atomics.add(words, 0, 1n);
  words[1] = count;
  for (let i = first; i < mappings.length; i++) {
    const m = mappings[i], at = HEADER + i * ENTRY;
    words[at] = m.base;
    words[at + 1] = m.size;
    words[at + 2] = BigInt(m.drc);
    words[at + 3] = m.offset;
  }
  Atomics.add(words, 0, 1n);
}

/** Guest side: a cached, consistent view of the table. */
export class PageTableReader {
  readonly #words: BigUint64Array;
  #generation = -1n;
  #mappings: Mapping[] = [];

  constructor(buffer: SharedArrayBuffer) {
    this.#words = new BigUint64Array(buffer);
  }

  /** The current mappings (re-read only when the hypervisor changed them). */
  mappings(): readonly Mapping[] {
    const words = this.#words;
    for (;;) {
      const before = Atomics.load(words, 0);
      if (before === this.#generation) return this.#mappings;
      if (before & 1n) continue;
      const count = Number(words[1]);
      const list: Mapping[] = [];
      for (let i = 0; i < count; i++) {
        const at = HEADER + i * ENTRY;
        list.push({
          base: words[at],
          size: words[at + 1],
          drc: Number(words[at + 2]),
          offset: words[at + 3],
        });
      }
      if (Atomics.load(words, 0) !== before) continue;
      this.#generation = before;
      this.#mappings = list;
      return list;
    }
  }

  /** The mapping containing `[address, address + length)`, or undefined. */
  translate(address: bigint, length: number): Mapping | undefined {
    return this.mappings().find((m) =>
      m.base <= address && address + BigInt(length) <= m.base + m.size
    );
  }
}
