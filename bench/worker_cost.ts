/**
 * What one LPAR worker costs to start and to keep, against the smallest Deno
 * worker (bench/bare_worker.ts), measured side by side in one run; and the
 * same LPAR worker started from its modules rather than its bundle (what
 * tools/build_worker.ts saves).
 *
 * Ready time: from `new Worker` until the worker has answered its first
 * message (the bare worker an echo; the LPAR worker its comlink `init`, after
 * which it can take hcalls). Workers are started one at a time, alternating
 * bare and LPAR, so both see the same machine. Memory: the growth of the
 * process's resident set while the workers of one kind start, all others
 * still running (so no freed memory is reused), divided by their number.
 * @module
 */
import process from "node:process";
import * as Comlink from "comlink";
import { createChannel, createDaxBuffer, createDoorbell } from "../channel/layout.ts";
import type { LparWorker } from "../workers/lpar_worker.ts";

/** Ready times (ms) and memory of one kind of worker. */
export interface WorkerFigures {
  workers: number;
  readyMedianMs: number;
  readyMeanMs: number;
  readyP99Ms: number;
  /** Resident memory per running worker (MiB). */
  mibPerWorker: number;
  /** Process CPU time (user + system) per worker started (ms). */
  cpuMsPerWorker: number;
}

/** Bare Deno worker against LPAR worker, one run. */
export interface WorkerCost {
  bare: WorkerFigures;
  /** The LPAR worker as the threads runtime starts it: its bundle. */
  lpar: WorkerFigures;
  /** The LPAR worker started from workers/lpar_worker.ts and its imports. */
  modules: WorkerFigures;
  /** LPAR worker's median ready time / the bare worker's. */
  readyRatio: number;
}

function figures(ms: number[], mib: number, cpuMs: number): WorkerFigures {
  const sorted = [...ms].sort((a, b) => a - b);
  return {
    workers: ms.length,
    readyMedianMs: sorted[sorted.length >> 1],
    readyMeanMs: ms.reduce((a, b) => a + b, 0) / ms.length,
    readyP99Ms: sorted[Math.min(sorted.length - 1, Math.floor(0.99 * sorted.length))],
    mibPerWorker: mib,
    cpuMsPerWorker: cpuMs,
  };
}

async function startBare(): Promise<Worker> {
  const worker = new Worker(new URL("./bare_worker.ts", import.meta.url), { type: "module" });
  await new Promise((resolve) => {
    worker.onmessage = resolve;
    worker.postMessage(0);
  });
  return worker;
}

const BUNDLE = new URL("../workers/lpar_worker.bundle.js", import.meta.url);
const MODULES = new URL("../workers/lpar_worker.ts", import.meta.url);

async function startLpar(id: number, url = BUNDLE): Promise<Worker> {
  const worker = new Worker(url, { type: "module" });
  const remote = Comlink.wrap<LparWorker>(worker);
  await remote.init({
    lpar: id,
    name: `lpar${id}`,
    channel: createChannel(),
    doorbell: createDoorbell(),
    daxBuffer: createDaxBuffer(),
  });
  remote[Comlink.releaseProxy]();
  return worker;
}

async function timed(start: () => Promise<Worker>, into: number[]): Promise<Worker> {
  const t0 = performance.now();
  const worker = await start();
  into.push(performance.now() - t0);
  return worker;
}

/**
 * Starts `count` bare and `count` LPAR workers and measures both.
 * @example
 * ```ts
 * const cost = await measureWorkerCost(16);
 * console.log(cost.readyRatio, cost.lpar.mibPerWorker);
 * ```
 */
export async function measureWorkerCost(count: number): Promise<WorkerCost> {
  const workers: Worker[] = [];
  const kinds = {
    bare: { start: (_: number) => startBare(), ms: [] as number[], mib: 0, cpu: 0 },
    lpar: { start: (id: number) => startLpar(id), ms: [] as number[], mib: 0, cpu: 0 },
    modules: { start: (id: number) => startLpar(id, MODULES), ms: [] as number[], mib: 0, cpu: 0 },
  };
  const all = Object.values(kinds);
  let id = 0;
  try {
    // A warm-up of each (module loading and compiling caches), not counted.
    for (const kind of all) workers.push(await kind.start(id++));
    // Ready times: the kinds in turn, so all see the same machine.
    for (let i = 0; i < count; i++) {
      for (const kind of all) {
        const n = id++;
        workers.push(await timed(() => kind.start(n), kind.ms));
      }
    }
    // Memory: one kind at a time, everything started so far kept running.
    const settle = () => new Promise((resolve) => setTimeout(resolve, 100));
    const cpu = () => {
      const { user, system } = process.cpuUsage();
      return (user + system) / 1000;
    };
    for (const kind of all) {
      await settle();
      const rss = process.memoryUsage.rss(), cpu0 = cpu();
      for (let i = 0; i < count; i++) workers.push(await kind.start(id++));
      await settle();
      kind.mib = (process.memoryUsage.rss() - rss) / count / 2 ** 20;
      kind.cpu = (cpu() - cpu0) / count;
    }
    const [bare, lpar, modules] = all.map((k) => figures(k.ms, k.mib, k.cpu));
    return { bare, lpar, modules, readyRatio: lpar.readyMedianMs / bare.readyMedianMs };
  } finally {
    for (const worker of workers) {
      worker.terminate();
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  }
}

if (import.meta.main) {
  const count = Number(Deno.args[0] ?? 16);
  console.log(JSON.stringify(await measureWorkerCost(count)));
}
