/**
 * A progress bar for long runs (matrix, swarm, contention), on stderr, only
 * when stdout is a terminal and the output is not JSON: nothing extra in a
 * pipe. Real time is read here, in the CLI adapter, for the estimate only.
 * @module
 */

/** Where a progress bar writes and how it reads time (handed in, for tests). */
export interface ProgressSink {
  /** Writes raw text (a line rewritten in place with `\r`). */
  write(text: string): void;
  /** Milliseconds, for the estimate. */
  now(): number;
}

const BAR_WIDTH = 24;

/** The real terminal: stderr, and performance.now(). */
export function terminalSink(): ProgressSink {
  const encoder = new TextEncoder();
  return {
    write: (text) => void Deno.stderr.writeSync(encoder.encode(text)),
    now: () => performance.now(),
  };
}

/** Whether a command shows progress: stdout is a terminal and `--json` was not given. */
export function showsProgress(json: boolean): boolean {
  return !json && Deno.stdout.isTerminal();
}

/** Seconds as `12s`, `3m05s`. */
function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}

/** A bar: `matrix [#######.........]  12/40  30%  ~8s left`. */
export class ProgressBar {
  readonly #label: string;
  #total: number;
  readonly #sink?: ProgressSink;
  readonly #started: number;
  #done = 0;

  /** A bar for `total` items; with no sink it draws nothing. */
  constructor(label: string, total: number, sink?: ProgressSink) {
    this.#label = label;
    this.#total = Math.max(1, total);
    this.#sink = sink;
    this.#started = sink?.now() ?? 0;
  }

  /** The line the bar shows after `done` items (exported for tests). */
  line(done: number, elapsedMs: number, note = ""): string {
    const fraction = Math.min(1, done / this.#total);
    const filled = Math.round(fraction * BAR_WIDTH);
    const left = done > 0 && done < this.#total
      ? `  ~${duration((elapsedMs / done) * (this.#total - done) / 1000)} left`
      : "";
    return `${this.#label} [${"#".repeat(filled)}${".".repeat(BAR_WIDTH - filled)}] ` +
      `${done}/${this.#total}  ${Math.floor(fraction * 100)}%${left}${note ? `  ${note}` : ""}`;
  }

  /**
   * One more item done (or `done` items in all; of `total`, when the count
   * is learned only as the run goes); redraws the line.
   */
  tick(note = "", done = this.#done + 1, total?: number): void {
    this.#done = done;
    if (total !== undefined) this.#total = Math.max(1, total);
    const sink = this.#sink;
    if (!sink) return;
    sink.write(`\r\x1b[K${this.line(done, sink.now() - this.#started, note)}`);
  }

  /** Clears the line (before printing results, and at the end). */
  clear(): void {
    this.#sink?.write("\r\x1b[K");
  }
}
