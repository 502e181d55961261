/**
 * Bounded records: past a limit they are counted, not kept. The hcall
 * records kept between `traceStart` and `traceTake` (both runtimes'
 * hypervisors record into one) and the timeline spans of `trace/` use it.
 * @module
 */
import { MAX_TRACE_RECORDS, type TraceRecord, type TraceTaken } from "./types.ts";

/** A list that keeps at most `limit` items and counts the rest. */
export class BoundedLog<T> {
  readonly limit: number;
  #items?: T[];
  #dropped = 0;

  /** A log of at most `limit` items (a whole number from 0). */
  constructor(limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 0) {
      throw new RangeError(`trace limit ${JSON.stringify(limit)}: expected a whole number from 0`);
    }
    this.limit = limit;
  }

  /** Whether recording is on (checked before building an item, on the hcall path). */
  get on(): boolean {
    return this.#items !== undefined;
  }

  /** Starts recording, dropping earlier items. */
  start(): void {
    this.#items = [];
    this.#dropped = 0;
  }

  /** Keeps one item (when recording), or counts it past the limit. */
  push(item: T): void {
    const items = this.#items;
    if (!items) return;
    if (items.length < this.limit) items.push(item);
    else this.#dropped++;
  }

  /** Stops recording and hands over what was kept and how many were dropped. */
  take(): { items: T[]; dropped: number } {
    const taken = { items: this.#items ?? [], dropped: this.#dropped };
    this.#items = undefined;
    this.#dropped = 0;
    return taken;
  }
}

/** A bounded hcall trace. */
export class TraceBuffer {
  readonly #log = new BoundedLog<TraceRecord>(MAX_TRACE_RECORDS);

  /** Whether recording is on (checked before building a record, on the hcall path). */
  get on(): boolean {
    return this.#log.on;
  }

  /** Starts recording, dropping earlier records. */
  start(): void {
    this.#log.start();
  }

  /** Records one answered hcall (when recording). */
  record(lpar: number, opcode: number, rc: number): void {
    this.#log.push({ lpar, opcode, rc });
  }

  /** Stops recording and hands over what was recorded and how many were dropped. */
  take(): TraceTaken {
    const { items, dropped } = this.#log.take();
    return { records: items, dropped };
  }
}
