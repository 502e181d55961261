/**
 * The kernel log ring, with kernel-style timestamps (`[    0.123456] ...`).
 * @module
 */

/** Log levels, as `printk` names them. */
export type LogLevel = "emerg" | "alert" | "crit" | "err" | "warn" | "notice" | "info" | "debug";

/** One log record. */
export interface LogRecord {
  /** Seconds since this kernel booted. */
  time: number;
  level: LogLevel;
  text: string;
}

/** A bounded ring of log records; the oldest are dropped when it is full. */
export class Dmesg {
  readonly #records: LogRecord[] = [];
  readonly #capacity: number;
  readonly #clock: () => number;

  /** `clock` gives seconds since boot. */
  constructor(clock: () => number, capacity = 4096) {
    this.#clock = clock;
    this.#capacity = capacity;
  }

  /** Appends a record. */
  log(level: LogLevel, text: string): void {
    if (this.#records.length === this.#capacity) this.#records.shift();
    this.#records.push({ time: this.#clock(), level, text });
  }

  /** The records, oldest first (debug records only when asked for). */
  records(includeDebug = false): LogRecord[] {
    return this.#records.filter((r) => includeDebug || r.level !== "debug");
  }

  /** The log as `dmesg` prints it. */
  lines(includeDebug = false): string[] {
    return this.records(includeDebug).map(formatRecord);
  }
}

/** One record as `dmesg` prints it: `[%5lu.%06lu] text`. */
export function formatRecord(record: LogRecord): string {
  const micros = Math.floor(record.time * 1e6);
  const secs = Math.floor(micros / 1e6).toString().padStart(5, " ");
  const frac = (micros % 1e6).toString().padStart(6, "0");
  return `[${secs}.${frac}] ${record.text}`;
}
