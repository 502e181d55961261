/**
 * A counting semaphore for the `threads` runtime: at most so many partitions
 * run guest kernel code (or start their workers) at the same time.
 *
 * Why: a guest thread waiting for an hcall's answer spins, then sleeps; a
 * guest held back for fairness wakes to look for its turn. With hundreds of
 * LPAR threads busy on two cores, those spins and wake-ups, not the hcalls,
 * took the machine (512 LPARs booting at once: system CPU time near user
 * time, 36 s to boot and 80 s to kexec what 128 LPARs did in 2 s). Letting a
 * few more partitions run than there are cores keeps every core busy with
 * work, and the cost of N partitions linear in N. A partition waiting here
 * has no thread doing anything.
 *
 * A slot is held for one control call to the partition's worker and given
 * back when it settles, or when the partition is stopped (a call to a
 * stopped worker may never settle, and its slot must not be lost).
 * @module
 */

/** Gives back a slot; a second call does nothing. */
export type Release = () => void;

/** Most waiters in the queue: past this an acquire fails (a bug, not a load). */
export const MAX_SLOT_WAITERS = 1 << 20;

/** So many slots, handed out in the order asked. */
export class Slots {
  readonly #limit: number;
  #used = 0;
  readonly #queue: Array<() => void> = [];
  #head = 0;

  /**
   * @param limit slots (a whole number from 1)
   * @example
   * ```ts
   * const slots = new Slots(4);
   * const release = await slots.acquire();
   * try {
   *   // ... run one partition's call
   * } finally {
   *   release();
   * }
   * ```
   */
  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError(`slot limit ${limit}: expected a whole number from 1`);
    }
    this.#limit = limit;
  }

  /** Slots in use. */
  get used(): number {
    return this.#used;
  }

  /** Callers waiting for a slot. */
  get waiting(): number {
    return this.#queue.length - this.#head;
  }

  /** Resolves with a slot's release once one is free. */
  acquire(): Promise<Release> {
    if (this.#used < this.#limit) {
      this.#used++;
      return Promise.resolve(this.#release());
    }
    if (this.waiting >= MAX_SLOT_WAITERS) {
      return Promise.reject(new RangeError(`more than ${MAX_SLOT_WAITERS} waiting for a slot`));
    }
    return new Promise((resolve) => this.#queue.push(() => resolve(this.#release())));
  }

  #release(): Release {
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      if (this.#head < this.#queue.length) {
        // The slot passes straight to the next waiter.
        const next = this.#queue[this.#head];
        this.#queue[this.#head++] = () => {};
        if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
          this.#queue.splice(0, this.#head);
          this.#head = 0;
        }
        next();
      } else {
        this.#used--;
      }
    };
  }
}

/** The slots one partition holds: all given back when it stops. */
export class HeldSlots {
  readonly #slots: Slots;
  readonly #held = new Set<Release>();
  #stopped = false;

  constructor(slots: Slots) {
    this.#slots = slots;
  }

  /**
   * Runs `call` holding a slot. After `stop()`, rejects with `stopped()`
   * without calling, and a slot taken while stopping is given back at once.
   */
  async run<T>(call: () => Promise<T>, stopped: () => Error): Promise<T> {
    if (this.#stopped) throw stopped();
    const release = await this.#slots.acquire();
    if (this.#stopped) {
      release();
      throw stopped();
    }
    this.#held.add(release);
    try {
      return await call();
    } finally {
      this.#held.delete(release);
      release();
    }
  }

  /** Gives back every slot held, for good. */
  stop(): void {
    this.#stopped = true;
    for (const release of this.#held) release();
    this.#held.clear();
  }
}
