/**
 * Calls to something that can die (a worker, the hypervisor): each call
 * settles with its own answer, or with the error that ended its target,
 * whichever comes first. Unlike racing every call against one "dead"
 * promise, a settled call leaves nothing behind.
 * @module
 */
import { noteProgress } from "./workers.ts";

/** The calls in flight to one target. */
export class CallGate {
  readonly #pending = new Set<(error: Error) => void>();
  #failed?: Error;

  /** Runs `call`; rejects at once if the target has failed, or when it does. */
  run<T>(call: () => Promise<T>): Promise<T> {
    if (this.#failed) return Promise.reject(this.#failed);
    return new Promise<T>((resolve, reject) => {
      this.#pending.add(reject);
      let answer: Promise<T>;
      try {
        answer = call();
      } catch (error) {
        answer = Promise.reject(error);
      }
      answer.then(resolve, reject).finally(() => {
        this.#pending.delete(reject);
        noteProgress();
      });
    });
  }

  /** The target failed: every call in flight and every later one rejects with `error`. */
  fail(error: Error): void {
    if (this.#failed) return;
    this.#failed = error;
    for (const reject of this.#pending) reject(error);
    this.#pending.clear();
  }

  /** Calls in flight (for tests). */
  get pending(): number {
    return this.#pending.size;
  }
}
