/**
 * A running 64-bit hash of everything a simulation did (FNV-1a in two
 * 32-bit lanes), so two runs of one seed can be compared by one string.
 * @module
 */

/** Folds strings into a 64-bit FNV-1a hash. */
export class TraceHash {
  #lo = 0x811C9DC5;
  #hi = 0xCBF29CE4;
  /** Records folded in. */
  count = 0;

  /** Folds one record in (a record separator is added). */
  add(record: string): void {
    let lo = this.#lo, hi = this.#hi;
    for (let i = 0; i < record.length; i++) {
      const c = record.charCodeAt(i);
      lo = Math.imul(lo ^ c, 0x01000193);
      hi = Math.imul(hi ^ c ^ (lo >>> 7), 0x01000193);
    }
    lo = Math.imul(lo ^ 10, 0x01000193);
    hi = Math.imul(hi ^ 10, 0x01000193);
    this.#lo = lo;
    this.#hi = hi;
    this.count++;
  }

  /** The hash so far, 16 hex digits. */
  hex(): string {
    return (this.#hi >>> 0).toString(16).padStart(8, "0") +
      (this.#lo >>> 0).toString(16).padStart(8, "0");
  }
}
