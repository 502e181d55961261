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

/**
 * Runs async `body` with `performance.now` reading a clock that moves 1 us
 * at each reading (so a serve loop's idle window runs out) and that the test
 * moves too (from 1,000 ms). `Atomics.wait`, `waitAsync` and `store`, which
 * the test may stand in for, are put back afterwards, as is the clock.
 */
export async function withTickingClock(
  body: (clock: { now: number }) => Promise<void>,
): Promise<void> {
  const clock = { now: 1_000 };
  const { wait, waitAsync, store } = Atomics;
  Object.defineProperty(performance, "now", {
    value: () => (clock.now += 0.001),
    configurable: true,
  });
  try {
    await body(clock);
  } finally {
    Atomics.wait = wait;
    Atomics.waitAsync = waitAsync;
    Atomics.store = store;
    delete (performance as unknown as Record<string, unknown>).now;
  }
}
