/**
 * The hcall records kept between `traceStart` and `traceTake`, bounded: past
 * MAX_TRACE_RECORDS they are counted, not kept. Both runtimes' hypervisors
 * record into one.
 * @module
 */
import { MAX_TRACE_RECORDS, type TraceRecord, type TraceTaken } from "./types.ts";

/** A bounded hcall trace. */
export class TraceBuffer {
  #records?: TraceRecord[];
  #dropped = 0;

  /** Whether recording is on (checked before building a record, on the hcall path). */
  get on(): boolean {
    return this.#records !== undefined;
  }

  /** Starts recording, dropping earlier records. */
  start(): void {
    this.#records = [];
    this.#dropped = 0;
  }

  /** Records one answered hcall (when recording). */
  record(lpar: number, opcode: number, rc: number): void {
    const records = this.#records;
    if (!records) return;
    if (records.length < MAX_TRACE_RECORDS) records.push({ lpar, opcode, rc });
    else this.#dropped++;
  }

  /** Stops recording and hands over what was recorded and how many were dropped. */
  take(): TraceTaken {
    const taken = { records: this.#records ?? [], dropped: this.#dropped };
    this.#records = undefined;
    this.#dropped = 0;
    return taken;
  }
}
