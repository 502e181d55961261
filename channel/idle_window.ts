/**
 * How long the hypervisor's serve loop keeps looking for requests, with
 * nothing to do, before it sleeps on the doorbell: learned from what a
 * wake-up costs on the machine it runs on.
 *
 * Why: if the loop sleeps sooner than a guest thread takes to wake up, a
 * guest that calls without pause is answered at wake-up speed for good. The
 * guest sleeps while the hypervisor wakes; by the time the guest has woken
 * to its answer and asked again, the hypervisor sleeps again, and so on
 * (issue 13: 8,000 hypervisor sleeps a second, 65-77 us per hcall, on a VM
 * where a wake-up takes 50-70 us and the loop slept after about 38 us). A
 * wake-up's cost is what the dispatcher sees between notifying a sleeping
 * guest and that guest's next request, and between its own going to sleep
 * and the request that woke it. Looking for twice the larger of those
 * before sleeping keeps both sides awake through a stream of calls, and
 * costs at most the window of CPU at the end of each burst (spin-then-block:
 * within twice the best cost whatever the gaps are). A sample longer than
 * the longest window is not taken as a wake-up: either the guest did other
 * work, or no core was free for it, and then spinning longer would only
 * keep the core it waits for.
 *
 * Pure: the caller hands in every time, so the policy is tested without a
 * clock.
 * @module
 */

/** Window before anything is learned (ms): above a wake-up on most machines. */
const INITIAL_MS = 0.2;
/** Window / wake-up estimate. */
const MARGIN = 2;
/** A rising estimate moves this fraction of the way to each new sample. */
const RISE = 1 / 2;
/** A falling estimate moves this fraction of the way to each new sample. */
const DECAY = 1 / 16;
/** A sleep longer than this (ms) is idleness, not a wake-up: it halves the estimate. */
const IDLE_SLEEP_MS = 100;

/** The learned idle window. */
export class IdleWindow {
  readonly #minMs: number;
  readonly #maxMs: number;
  /** Estimated cost (ms) of a wake-up: rises fast, falls slowly. */
  #wakeMs: number;

  /**
   * @param minMs shortest window (ms)
   * @param maxMs longest window (ms)
   * @example
   * ```ts
   * const idle = new IdleWindow(0.05, 2);
   * idle.observeWake(0.1); // a guest took 100 us to ask again after its answer
   * idle.ms; // 0.15: half way from 0.1 to 0.1 (twice the estimate), the loop looks 150 us
   * ```
   */
  constructor(minMs: number, maxMs: number) {
    if (!(minMs > 0 && minMs <= maxMs && Number.isFinite(maxMs))) {
      throw new RangeError(
        `idle window ${minMs}..${maxMs} ms: expected 0 < min <= max, both finite`,
      );
    }
    this.#minMs = minMs;
    this.#maxMs = maxMs;
    this.#wakeMs = INITIAL_MS / MARGIN;
  }

  /** Time (ms) to keep looking before sleeping. */
  get ms(): number {
    return Math.min(this.#maxMs, Math.max(this.#minMs, MARGIN * this.#wakeMs));
  }

  /** The estimated cost of one wake-up (ms). */
  get wakeMs(): number {
    return this.#wakeMs;
  }

  /**
   * A sample of what a wake-up costs: the time (ms) from notifying a
   * sleeping guest to its next request, or from the hypervisor's going to
   * sleep to the request that woke it. Samples past the longest window are
   * think time, not wake-ups, and are ignored.
   */
  observeWake(ms: number): void {
    if (!(ms >= 0) || ms > this.#maxMs) return;
    const wake = this.#wakeMs;
    this.#wakeMs = wake + (ms - wake) * (ms > wake ? RISE : DECAY);
  }

  /**
   * The hypervisor slept `ms` and was woken by a request. A short sleep is a
   * wake-up sample; a long one is idleness, after which the window shrinks
   * (so a system that has gone quiet soon sleeps at once again).
   */
  observeSleep(ms: number): void {
    if (ms >= IDLE_SLEEP_MS) this.#wakeMs = Math.max(this.#minMs / MARGIN, this.#wakeMs / 2);
    else this.observeWake(ms);
  }
}
