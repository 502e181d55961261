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
 * one's share of it, fixed before anything is written: what one partition
 * writes never changes what another may write. The shares add up to at most
 * the budget, so a device within its share is within the budget too.
 *
 * The budget is divided once, when the machine's first partition starts
 * (`divide`; or at the first allocation, for a store used on its own), among
 * the devices that have joined (every configured nvdimm), max-min fair: each
 * gets its whole size if it fits, and the rest is split evenly among the
 * larger ones, so a small nvdimm beside a 60 GiB one is not starved. A device
 * that joins later (a DLPAR add of a new DRC) gets what was left undivided, up
 * to its size; when nothing was left, its share is 0 and its writes say so.
 */
export class PageBudget {
  /** The most bytes of pages allowed. */
  readonly limit: number;
  readonly #members: PageShare[] = [];
  #divided = false;
  /** Pages given out as shares. */
  #planned = 0;
  constructor(limit: number) {
    this.limit = limit;
  }

  /** A device of `size` bytes joins; what it may take is its share. */
  join(size: number): PageShare {
    const share = new PageShare(this, Math.ceil(size / PAGE_BYTES));
    this.#members.push(share);
    if (this.#divided) this.#give(share, Math.min(share.pages, this.#free()));
    return share;
  }

  /** Divides the budget among the members, once; later calls do nothing. */
  divide(): void {
    if (this.#divided) return;
    this.#divided = true;
    // Max-min fair (water-filling): smallest first, each gets its size or an
    // even part of what is left, whichever is smaller.
    const members = [...this.#members].sort((a, b) => a.pages - b.pages);
    let left = this.#free();
    members.forEach((m, i) => {
      const even = Math.floor(left / (members.length - i));
      const share = Math.min(m.pages, even);
      this.#give(m, share);
      left -= share;
    });
  }

  #free(): number {
    return Math.floor(this.limit / PAGE_BYTES) - this.#planned;
  }

  #give(member: PageShare, pages: number): void {
    member.sharePages = pages;
    this.#planned += pages;
  }
}

/** One device's part of a {@link PageBudget}. */
export class PageShare {
  /** Pages this device holds. */
  held = 0;
  /** Pages the device would take if written all over. */
  readonly pages: number;
  /** Pages it may hold (set when the budget is divided). */
  sharePages = 0;
  readonly #budget: PageBudget;
  constructor(budget: PageBudget, pages: number) {
    this.#budget = budget;
    this.pages = pages;
  }

  /** Takes `pages` more pages within this device's share, or throws a RangeError taking none. */
  take(pages: number): void {
    if (pages === 0) return;
    this.#budget.divide();
    const share = this.sharePages;
    if (this.held + pages > share) {
      throw new RangeError(
        `this nvdimm's share of the simulated SCM is spent: it holds ${this.held * PAGE_BYTES} ` +
          `bytes of pages, its share is ${share * PAGE_BYTES} (of ${this.#budget.limit}, ` +
          `divided among the nvdimms before any partition ran, the smaller ones whole), and ` +
          `this write needs ${pages * PAGE_BYTES} more; write less, or start the system with ` +
          `a larger scmBudgetBytes`,
      );
    }
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
    // Checks the range too.
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
