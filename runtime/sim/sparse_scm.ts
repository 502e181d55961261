/**
 * SCM for the simulation: memory is taken only for the pages written, so a
 * 60 GiB nvdimm with a few MiB written costs a few MiB. All the devices of
 * one machine draw from one budget, each within its share; a write past it
 * is an error to the writer, never a failure of the machine or a
 * neighbour's.
 * @module
 */
import type { ScmMemory } from "../../core/dax.ts";

/** Bytes per page of sparse memory. */
export const PAGE_BYTES = 64 * 1024;

/**
 * How many bytes of pages a machine's devices may hold together, and each
 * one's share of it. When the devices' sizes add up to more than the budget,
 * each may hold only its share, in proportion to its size, so one partition
 * writing all over its nvdimm cannot leave a neighbour's nvdimm unwritable.
 * The shares are of the devices known so far: one added later makes the
 * others' shares smaller, never taking from what they hold.
 */
export class PageBudget {
  /** Bytes of pages held now. */
  used = 0;
  /** The most bytes of pages allowed. */
  readonly limit: number;
  /** Pages every member would take if written all over. */
  #memberPages = 0;
  constructor(limit: number) {
    this.limit = limit;
  }

  /** A device of `size` bytes joins; what it may take is its share. */
  join(size: number): PageShare {
    const pages = Math.ceil(size / PAGE_BYTES);
    this.#memberPages += pages;
    return new PageShare(this, pages);
  }

  /** The most pages a member of `pages` pages may hold. */
  shareOf(pages: number): number {
    const limitPages = Math.floor(this.limit / PAGE_BYTES);
    if (this.#memberPages <= limitPages) return pages;
    return Math.floor(limitPages * pages / this.#memberPages);
  }

  /** Takes `pages` pages, or throws a RangeError saying the budget is spent (taking none). */
  take(pages: number): void {
    if (this.used + pages * PAGE_BYTES > this.limit) {
      throw new RangeError(
        `the simulated SCM is full: ${this.used} bytes of pages written, at most ${this.limit}, ` +
          `and this write needs ${pages * PAGE_BYTES} more; write less, or start the system ` +
          `with a larger scmBudgetBytes`,
      );
    }
    this.used += pages * PAGE_BYTES;
  }
}

/** One device's part of a {@link PageBudget}. */
export class PageShare {
  /** Pages this device holds. */
  held = 0;
  readonly #budget: PageBudget;
  readonly #pages: number;
  constructor(budget: PageBudget, pages: number) {
    this.#budget = budget;
    this.#pages = pages;
  }

  /** Takes `pages` more pages within this device's share, or throws a RangeError taking none. */
  take(pages: number): void {
    if (pages === 0) return;
    const share = this.#budget.shareOf(this.#pages);
    if (this.held + pages > share) {
      throw new RangeError(
        `this nvdimm's share of the simulated SCM is spent: it holds ${this.held * PAGE_BYTES} ` +
          `bytes of pages, its share is ${share * PAGE_BYTES} (of ${this.#budget.limit}, in ` +
          `proportion to its size among the nvdimms), and this write needs ` +
          `${pages * PAGE_BYTES} more; write less, or start the system with a larger ` +
          `scmBudgetBytes`,
      );
    }
    this.#budget.take(pages);
    this.held += pages;
  }
}

/** One DRC's memory as pages allocated on first write; unwritten bytes read as zero. */
export class SparseScm implements ScmMemory {
  readonly size: number;
  readonly #pages = new Map<number, Uint8Array>();
  readonly #share: PageShare;

  constructor(size: number, budget: PageBudget) {
    this.size = size;
    this.#share = budget.join(size);
  }

  /** Pages allocated (for tests and reports). */
  get pages(): number {
    return this.#pages.size;
  }

  /** Each page written, by number (for copies of the whole device). */
  entries(): IterableIterator<[number, Uint8Array]> {
    return this.#pages.entries();
  }

  #check(offset: number, length: number): void {
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw new RangeError(`${offset}+${length} is outside the device (${this.size} bytes)`);
    }
  }

  read(offset: number, length: number): Uint8Array {
    this.#check(offset, length);
    const out = new Uint8Array(length);
    for (let done = 0; done < length;) {
      const at = offset + done;
      const page = Math.floor(at / PAGE_BYTES), within = at % PAGE_BYTES;
      const n = Math.min(PAGE_BYTES - within, length - done);
      const bytes = this.#pages.get(page);
      if (bytes) out.set(bytes.subarray(within, within + n), done);
      done += n;
    }
    return out;
  }

  /**
   * Takes the pages under `length` bytes at `offset` (zero-filled), so a
   * later write there cannot fail on the budget; or throws a RangeError
   * taking none. A cache in front of this memory reserves what it will
   * write back when it takes a store, so the store's writer hears of a
   * spent share, not whoever's store evicts the line later.
   */
  reserve(offset: number, length: number): void {
    this.#check(offset, length);
    if (length === 0) return;
    // Take every new page at once, so a write past the budget changes nothing.
    const first = Math.floor(offset / PAGE_BYTES);
    const last = Math.floor((offset + length - 1) / PAGE_BYTES);
    let missing = 0;
    for (let page = first; page <= last; page++) if (!this.#pages.has(page)) missing++;
    if (missing === 0) return;
    this.#share.take(missing);
    for (let page = first; page <= last; page++) {
      if (!this.#pages.has(page)) this.#pages.set(page, new Uint8Array(PAGE_BYTES));
    }
  }

  write(offset: number, bytes: Uint8Array): void {
    this.#check(offset, bytes.length);
    if (bytes.length === 0) return;
    this.reserve(offset, bytes.length);
    for (let done = 0; done < bytes.length;) {
      const at = offset + done;
      const page = Math.floor(at / PAGE_BYTES), within = at % PAGE_BYTES;
      const n = Math.min(PAGE_BYTES - within, bytes.length - done);
      this.#pages.get(page)!.set(bytes.subarray(done, done + n), within);
      done += n;
    }
  }
}
