/**
 * Starting and ending the simulator's workers, and knowing which still run.
 * Deno's test sanitizers do not notice a worker left running, so the managed
 * system counts its own: a test can check that none is left.
 * @module
 */

/** A worker, and a promise that rejects with its first uncaught error. */
export interface Spawned {
  worker: Worker;
  failed: Promise<never>;
}

const live = new Set<Worker>();

/**
 * Starts a module worker. An uncaught error in it is recorded with `onError`
 * and rejects `failed`, instead of ending the process.
 */
export function spawnWorker(url: URL, who: string, onError: (message: string) => void): Spawned {
  // Named, so an uncaught error reads `(in worker "LPAR lpar1")`.
  const worker = new Worker(url, { type: "module", name: who });
  live.add(worker);
  const failed = new Promise<never>((_, reject) => {
    worker.onerror = (event) => {
      // Fail whatever waits on the worker rather than leave it hanging.
      event.preventDefault();
      onError(event.message);
      reject(new Error(`${who} worker failed: ${event.message}`));
    };
  });
  failed.catch(() => {});
  return { worker, failed };
}

/** Terminates a worker started by spawnWorker. */
export function terminateWorker(worker: Worker): void {
  worker.terminate();
  live.delete(worker);
}

/** How many workers started by spawnWorker are still running. */
export function liveWorkerCount(): number {
  return live.size;
}

/** Something that can be stopped: a running managed system. */
export interface Stoppable {
  stop(): Promise<void>;
}

const systems = new Set<Stoppable>();
let progress = 0;

/** Records a running managed system (until `untrackSystem`), so a test can stop what it left. */
export function trackSystem(system: Stoppable): void {
  systems.add(system);
}

/** Forgets a stopped managed system. */
export function untrackSystem(system: Stoppable): void {
  systems.delete(system);
}

/** How many managed systems are running. */
export function liveSystemCount(): number {
  return systems.size;
}

/** Stops every running managed system (a test that failed or hung cleans up with it). */
export async function stopAllSystems(): Promise<void> {
  await Promise.allSettled([...systems].map((s) => s.stop()));
}

/** Counts a finished control-plane call: a watchdog tells a slow run from a hung one by it. */
export function noteProgress(): void {
  progress++;
}

/** Control-plane calls finished so far, by every system in this process. */
export function progressCount(): number {
  return progress;
}
