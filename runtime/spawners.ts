/**
 * LPAR workers started and ended by a few spawner workers
 * (workers/spawner_worker.ts) instead of the main thread. `new Worker` blocks
 * its caller until the new worker's runtime exists, and `terminate()` costs
 * more the more workers its caller has alive; on the main thread both are
 * serial. Spread over one spawner per core they run in parallel, and the main
 * thread only passes messages. The main thread talks to each LPAR worker on a
 * MessagePort the spawner hands back.
 * @module
 */
import { countWorker, spawnWorker, terminateWorker } from "../actors/workers.ts";
import type { SpawnerReport, SpawnerRequest } from "../workers/spawner_worker.ts";

/** An LPAR worker started by a spawner. */
export interface SpawnedLpar {
  /** The port its control plane (comlink) is exposed on. */
  port: MessagePort;
  /** Rejects with its first uncaught error (also given to `onError`). */
  failed: Promise<never>;
  /** Ends the worker (its stop word must already be set); a second call does nothing. */
  end(): void;
}

interface Entry {
  name: string;
  onError: (message: string) => void;
  started?: (port: MessagePort) => void;
  fail: (error: Error) => void;
  uncount: () => void;
  spawner: Spawner;
  ending: boolean;
}

interface Spawner {
  worker: Worker;
  children: number;
}

/** Most LPAR workers started and not yet ended, by default: a bug past this. */
const MAX_WORKERS = 1 << 16;

/** Options of `Spawners`. */
export interface SpawnersOptions {
  /** The spawner module (default workers/spawner_worker.ts; tests hand in others). */
  url?: URL;
  /** Most LPAR workers started and not yet ended (default 65,536). */
  maxWorkers?: number;
}

/** Up to `count` spawner workers, each started when first needed. */
export class Spawners {
  readonly #count: number;
  readonly #url: URL;
  readonly #maxWorkers: number;
  readonly #spawners: Spawner[] = [];
  readonly #entries = new Map<number, Entry>();
  #next = 0;
  #ending = 0;
  #drained: Array<() => void> = [];

  /**
   * @param count spawner workers at most (a whole number from 1)
   * @param options the spawner module and the most LPAR workers at once
   * @example
   * ```ts
   * const spawners = new Spawners(2);
   * const lpar = await spawners.start("lpar1", (message) => console.error(message));
   * // ... Comlink.wrap(lpar.port), and later:
   * lpar.end();
   * await spawners.drained();
   * spawners.terminate();
   * ```
   */
  constructor(count: number, options: SpawnersOptions = {}) {
    if (!Number.isInteger(count) || count < 1) {
      throw new RangeError(`spawner count ${count}: expected a whole number from 1`);
    }
    const max = options.maxWorkers ?? MAX_WORKERS;
    if (!Number.isInteger(max) || max < 1) {
      throw new RangeError(`maxWorkers ${max}: expected a whole number from 1`);
    }
    this.#count = count;
    this.#url = options.url ?? new URL("../workers/spawner_worker.ts", import.meta.url);
    this.#maxWorkers = max;
  }

  /** Starts the LPAR worker of partition `name`; rejects if it cannot start. */
  start(name: string, onError: (message: string) => void): Promise<SpawnedLpar> {
    if (this.#entries.size >= this.#maxWorkers) {
      return Promise.reject(
        new RangeError(`LPAR ${name}: ${this.#maxWorkers} LPAR workers run already (the limit)`),
      );
    }
    const spawner = this.#pick();
    const key = this.#next++;
    let fail!: (error: Error) => void;
    const failed = new Promise<never>((_, reject) => (fail = reject));
    failed.catch(() => {});
    return new Promise<SpawnedLpar>((resolve, reject) => {
      const entry: Entry = {
        name,
        onError,
        spawner,
        ending: false,
        uncount: countWorker(),
        fail: (error) => {
          entry.started = undefined;
          reject(error);
          fail(error);
        },
        started: (port) => {
          entry.started = undefined;
          resolve({ port, failed, end: () => this.#end(key, entry, port) });
        },
      };
      this.#entries.set(key, entry);
      spawner.children++;
      this.#post(spawner, { start: key, name });
    });
  }

  /** Resolves once every LPAR worker asked to end so far has been ended. */
  drained(): Promise<void> {
    if (this.#ending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#drained.push(resolve));
  }

  /** Ends the spawners (after `drained()`: their LPAR workers are gone). */
  terminate(): void {
    for (const spawner of this.#spawners) terminateWorker(spawner.worker);
    this.#spawners.length = 0;
    for (const [key, entry] of this.#entries) this.#forget(key, entry);
  }

  /** The spawner with the fewest LPAR workers, a new one while fewer than `count` run. */
  #pick(): Spawner {
    let best = this.#spawners[0];
    for (const s of this.#spawners) if (s.children < best.children) best = s;
    if (best && (best.children === 0 || this.#spawners.length >= this.#count)) return best;
    const { worker, failed } = spawnWorker(this.#url, "spawner", () => {});
    const spawner: Spawner = { worker, children: 0 };
    worker.onmessage = (event: MessageEvent<SpawnerReport>) => this.#report(event.data);
    // A spawner that fails takes its LPAR workers' control with it: each fails.
    failed.catch((error: Error) => {
      for (const [key, entry] of this.#entries) {
        if (entry.spawner !== spawner) continue;
        if (!entry.ending) entry.onError(error.message);
        entry.fail(new Error(`LPAR ${entry.name} worker failed: ${error.message}`));
        this.#forget(key, entry);
      }
    });
    this.#spawners.push(spawner);
    return spawner;
  }

  #report(report: SpawnerReport): void {
    if ("started" in report) {
      this.#entries.get(report.started)?.started?.(report.port);
    } else if ("failed" in report) {
      const key = report.failed, entry = this.#entries.get(key);
      if (!entry || entry.ending) return;
      const unstarted = entry.started !== undefined;
      entry.onError(report.message);
      entry.fail(new Error(`LPAR ${entry.name} worker failed: ${report.message}`));
      // Nobody holds a handle to end a worker that never started: end it here.
      if (unstarted) this.#end(key, entry);
    } else {
      const entry = this.#entries.get(report.ended);
      if (entry) this.#forget(report.ended, entry);
    }
  }

  #end(key: number, entry: Entry, port?: MessagePort): void {
    // An open port with a listener would keep the process alive.
    port?.close();
    if (entry.ending || !this.#entries.has(key)) return;
    entry.ending = true;
    this.#ending++;
    this.#post(entry.spawner, { end: key });
  }

  #forget(key: number, entry: Entry): void {
    if (!this.#entries.delete(key)) return;
    entry.spawner.children--;
    entry.uncount();
    if (entry.ending && --this.#ending === 0) {
      for (const resolve of this.#drained.splice(0)) resolve();
    }
  }

  #post(spawner: Spawner, request: SpawnerRequest): void {
    spawner.worker.postMessage(request);
  }
}
