/**
 * A clock a dispatcher test moves by hand: the dispatcher reads
 * `performance.now()` (it runs only in the threads runtime's adapter), so its
 * time-based rules are tested by standing in for that one function.
 * @module
 */

/** Runs `body` with `performance.now` reading a clock the test moves (from 1,000 ms). */
export function withClock(body: (clock: { now: number }) => void): void {
  const clock = { now: 1_000 };
  Object.defineProperty(performance, "now", { value: () => clock.now, configurable: true });
  try {
    body(clock);
  } finally {
    // The own property hides the prototype's now(): removing it restores that.
    delete (performance as unknown as Record<string, unknown>).now;
  }
}
