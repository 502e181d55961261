/**
 * Worker entry of a spawner (the `threads` runtime): it starts and ends LPAR
 * workers for the main thread, so that `new Worker` (which blocks its caller
 * until the new worker's runtime exists) and `terminate()` (which costs more
 * the more workers its caller has alive) run on a few threads in parallel
 * instead of serially on the main thread.
 *
 * Each LPAR worker gets one end of a new MessageChannel and the main thread
 * the other: the control plane (comlink) goes main <-> LPAR directly. The
 * spawner never listens to its LPAR workers (whatever a hostile guest posts
 * to its parent is dropped here); it only forwards their uncaught errors.
 *
 * Messages from the main thread: `{ start, name }`, `{ end }` (by key).
 * To the main thread: `{ started, port }`, `{ failed, message }`, `{ ended }`.
 * @module
 */

/// <reference lib="deno.worker" />

/** Most LPAR workers one spawner keeps (the managed system's limit is lower). */
export const MAX_SPAWNED = 4096;

/** A request from the main thread. */
export type SpawnerRequest = { start: number; name: string } | { end: number };

/** A report to the main thread. */
export type SpawnerReport =
  | { started: number; port: MessagePort }
  | { failed: number; message: string }
  | { ended: number };

if ("WorkerGlobalScope" in globalThis) {
  const url = new URL("./lpar_worker.ts", import.meta.url);
  const workers = new Map<number, Worker>();
  const report = (r: SpawnerReport, transfer: Transferable[] = []) => self.postMessage(r, transfer);
  // Ended one at a time, a macrotask apart: Deno's terminate() of many
  // workers in one go stalls far longer than the sum of the parts.
  const ending: number[] = [];
  let endingRunning = false;
  const endNext = () => {
    const key = ending.shift();
    if (key === undefined) {
      endingRunning = false;
      return;
    }
    workers.get(key)?.terminate();
    workers.delete(key);
    report({ ended: key });
    setTimeout(endNext, 0);
  };

  self.onmessage = (event: MessageEvent<SpawnerRequest>) => {
    const request = event.data;
    if ("start" in request) {
      const key = request.start;
      if (workers.size >= MAX_SPAWNED) {
        report({ failed: key, message: `spawner holds ${MAX_SPAWNED} LPAR workers already` });
        return;
      }
      let worker: Worker;
      try {
        worker = new Worker(url, { type: "module", name: `LPAR ${request.name}` });
      } catch (error) {
        report({ failed: key, message: String(error) });
        return;
      }
      workers.set(key, worker);
      worker.onerror = (e) => {
        // Handled here, so it does not end the spawner (and the process).
        e.preventDefault();
        report({ failed: key, message: e.message });
      };
      const { port1, port2 } = new MessageChannel();
      worker.postMessage(null, [port1]);
      report({ started: key, port: port2 }, [port2]);
    } else {
      ending.push(request.end);
      if (!endingRunning) {
        endingRunning = true;
        setTimeout(endNext, 0);
      }
    }
  };
}
